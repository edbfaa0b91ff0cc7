"""A torch-free video-text artifact: toy ONNX graphs (onnx.helper) + a WordLevel tokenizer.json.

Frame graph: per-frame channel means → linear → L2 normalise. Video graph: the same per frame,
then a mean over time, so the frame cache must reproduce it. Text graph: embedding lookup, masked
mean over tokens, L2 normalise. Words name colours, so "red"-ish prompts score red frames higher.
"""

from __future__ import annotations

import numpy as np
import pytest

WORDS = ["red", "green", "blue", "a", "the", "shape", "moving", "left", "right", "square", "bright"]
DIM = 8


def _tokenizer(path):
    pytest.importorskip("tokenizers", reason="needs the [videotext] extra (tokenizers)")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tok.save(str(path))
    return len(vocab)


def make_toy_videotext(folder, frames=4, size=16, labels=("a red shape", "a green shape", "a blue shape"), max_length=8):
    onnx = pytest.importorskip("onnx", reason="needs the onnx package to build test graphs")
    from onnx import TensorProto, helper, numpy_helper

    from runtime.artifact import InputSpec, Manifest, Preprocessing, Sampling, describe_file, write_manifest
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _tokenizer(folder / "tokenizer.json")
    rng = np.random.default_rng(0)
    proj = rng.standard_normal((3, DIM)).astype(np.float32)
    bias = rng.standard_normal(DIM).astype(np.float32) * 0.1
    table = rng.standard_normal((vocab, DIM)).astype(np.float32)
    table[4:7, :] = proj[[0, 1, 2]] * 3  # colour words point where that colour's frames point (RGB order)

    def save(nodes, inputs, outputs, inits, name):
        graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(folder / name))

    f = TensorProto.FLOAT
    weights = [numpy_helper.from_array(proj, "w"), numpy_helper.from_array(bias, "b")]
    save([helper.make_node("ReduceMean", ["pixel_values"], ["m"], axes=[2, 3], keepdims=0),
          helper.make_node("MatMul", ["m", "w"], ["p"]), helper.make_node("Add", ["p", "b"], ["q"]),
          helper.make_node("LpNormalization", ["q"], ["frame_embeds"], axis=-1, p=2)],
         [helper.make_tensor_value_info("pixel_values", f, ["n", 3, size, size])],
         [helper.make_tensor_value_info("frame_embeds", f, ["n", DIM])], weights, "frame.onnx")
    save([helper.make_node("ReduceMean", ["pixel_values"], ["m"], axes=[3, 4], keepdims=0),
          helper.make_node("MatMul", ["m", "w"], ["p"]), helper.make_node("Add", ["p", "b"], ["q"]),
          helper.make_node("LpNormalization", ["q"], ["n"], axis=-1, p=2),
          helper.make_node("ReduceMean", ["n"], ["video_embeds"], axes=[1], keepdims=0)],
         [helper.make_tensor_value_info("pixel_values", f, ["batch", frames, 3, size, size])],
         [helper.make_tensor_value_info("video_embeds", f, ["batch", DIM])], weights, "model.onnx")
    save([helper.make_node("Gather", ["table", "input_ids"], ["e"]),
          helper.make_node("Cast", ["attention_mask"], ["mf"], to=f),
          helper.make_node("Unsqueeze", ["mf", "ax"], ["m3"]), helper.make_node("Mul", ["e", "m3"], ["em"]),
          helper.make_node("ReduceSum", ["em", "one"], ["s"], keepdims=0),
          helper.make_node("LpNormalization", ["s"], ["text_embeds"], axis=-1, p=2)],
         [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["k", "l"]),
          helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["k", "l"])],
         [helper.make_tensor_value_info("text_embeds", f, ["k", DIM])],
         [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([-1], np.int64), "ax"),
          numpy_helper.from_array(np.array([1], np.int64), "one")], "text.onnx")
    from runtime.videotext.tokenizer import TextTokenizer

    ids, mask = TextTokenizer(folder / "tokenizer.json", max_length, 0).encode(list(labels))
    with OnnxRuntimeBackend(folder / "text.onnx", device="cpu") as text:
        np.save(folder / "text_embeddings.npy", text.infer({"input_ids": ids, "attention_mask": mask})["text_embeds"],
                allow_pickle=False)
    spec = InputSpec("pixel_values", "NTCHW", frames, size, size)
    manifest = Manifest(
        task="video_text", family="toy", input=spec,
        preprocessing=Preprocessing(resize_shortest_edge=size, resize_height=None, resize_width=None,
                                    crop_height=size, crop_width=size, mean=[0.5] * 3, std=[0.5] * 3),
        sampling=Sampling(frame_stride=1, window_stride=1), labels=list(labels), outputs=["video_embeds"])
    for name, kind in (("model.onnx", "onnx"), ("frame.onnx", "onnx_frame"), ("text.onnx", "onnx_text"),
                       ("tokenizer.json", "tokenizer"), ("text_embeddings.npy", "embeddings")):
        manifest.files[name] = describe_file(folder / name, kind, precision="fp32" if "onnx" in kind else None)
    manifest.video_text = {"video_graph": "model.onnx", "text_graph": "text.onnx", "head_graph": None,
                           "frame_graph": "frame.onnx", "tokenizer": "tokenizer.json", "max_length": max_length,
                           "pad_id": 0, "embed_dim": DIM, "logit_scale": 20.0, "text_normalized": True,
                           "video_pooling": "mean", "embeddings": "text_embeddings.npy"}
    write_manifest(folder, manifest)
    return folder


def colour_frames(bgr, count, size=16, seed=0):
    """uint8 BGR frames of one colour plus noise."""
    rng = np.random.default_rng(seed)
    base = np.array(bgr, np.float32)
    return [np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8) for _ in range(count)]
