"""CLIP mean-pool (transformers.CLIPModel): a per-frame image encoder, a temporal mean, a text encoder.

Graphs:
- frame: pixel_values (N, C, H, W) → frame_embeds (N, D), each L2-normalised. The streaming
  runtime encodes every frame once, as it arrives, and keeps these in a ring;
- video: pixel_values (B, T, C, H, W) → video_embeds (B, D) = mean over T of the frame
  embeddings (not renormalised; similarity is a cosine, so the runtime normalises). Same numbers
  as averaging the frame graph's outputs, which is what makes the frame cache exact;
- text: input_ids, attention_mask → text_embeds (K, D), L2-normalised.
The text pooling reads the last attended token (right padding puts the end token there), so the
graph has no ArgMax over int64 ids.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from export.models.contract import (Bundle, Graph, LoadRequest, VideoTextExportError, VideoTextSpec, checked_config,
                                    default_sampling)
from export.models.registry import register

FAMILY = "clip-meanpool"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
DEFAULT_FRAMES = 8
# A tokenizer saved by save_pretrained leaves at least one of these (fast, BPE, WordPiece, SentencePiece).
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")


def input_spec_and_preprocessing(model: str, frames: int, size: int, layout: str):
    """The clip input and the image processor's steps (preprocessor_config.json, else CLIP's defaults)."""
    from export.models.videomae import preprocessing_from_processor_config, warn_default_preprocessing
    from runtime.artifact import InputSpec, Preprocessing

    spec = InputSpec(name="pixel_values", layout=layout, frames=frames, height=size, width=size)
    path = Path(model) / "preprocessor_config.json"
    if path.is_file():
        return spec, preprocessing_from_processor_config(_processor_config(path), spec.height, spec.width)
    pre = Preprocessing(resize_shortest_edge=size, resize_height=None, resize_width=None, crop_height=size,
                        crop_width=size, mean=list(CLIP_MEAN), std=list(CLIP_STD), interpolation="bicubic")
    warn_default_preprocessing(model, "CLIP image processor", pre)
    return spec, pre


def _processor_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VideoTextExportError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise VideoTextExportError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def load_tokenizer(model: str, max_positions: int, vocab_size: int | None = None) -> tuple[Path, int, int]:
    """(tokenizer.json path, max tokens per prompt, pad id) for the checkpoint's tokenizer.

    Checked against the text model before any weight is loaded: without tokenizer files transformers
    builds a stand-in of a couple of tokens, whose prompts then fail the text parity gate with a
    message that seems to blame ONNX Runtime.
    """
    save_hint = "the runtime encodes prompts with it, so save it beside the model (tokenizer.save_pretrained(folder))"
    folder = Path(model)
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise VideoTextExportError(f"{model} has no tokenizer files (none of {', '.join(TOKENIZER_FILES)}); {save_hint}")
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError, TypeError) as exc:
        raise VideoTextExportError(f"{model}: no usable tokenizer ({' '.join(str(exc).split())}); {save_hint}") from None
    if vocab_size and not vocab_size // 2 <= len(tok) <= vocab_size:
        raise VideoTextExportError(
            f"{model}: the tokenizer has {len(tok)} tokens but the text model's vocab_size is {vocab_size}: it is not "
            f"the tokenizer these weights were trained with (a degenerate or foreign one); {save_hint}")
    out = Path(tempfile.mkdtemp(prefix="tubelet-tok-"))
    tok.save_pretrained(str(out))
    if not (out / "tokenizer.json").is_file():
        raise VideoTextExportError(f"{model}: the tokenizer has no fast (tokenizers) form to write tokenizer.json")
    limit = int(tok.model_max_length) if 0 < int(min(tok.model_max_length, 1 << 30)) < (1 << 30) else max_positions
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return out / "tokenizer.json", min(limit, max_positions), int(pad if pad is not None else 0)


def load(request: LoadRequest) -> Bundle:
    import torch
    from transformers import CLIPModel

    from export.models.wrappers import ClipFrame, ClipVideo, Text, clip_image_features, l2_normalized

    model = request.model
    config = checked_config(model, ("clip",), CLIPModel)
    tokenizer_json, max_length, pad_id = load_tokenizer(model, int(config.text_config.max_position_embeddings),
                                                        int(config.text_config.vocab_size))
    frames = int(request.frames or DEFAULT_FRAMES)
    spec, pre = input_spec_and_preprocessing(model, frames, int(config.vision_config.image_size), "NTCHW")
    net = CLIPModel.from_pretrained(model, use_safetensors=True, attn_implementation="eager").eval()

    def text_reference(ids, mask):
        out = net.get_text_features(input_ids=ids, attention_mask=mask)
        return [l2_normalized(out if isinstance(out, torch.Tensor) else out.pooler_output)]

    def video_reference(px):
        return [clip_image_features(net, px.flatten(0, 1)).reshape(px.shape[0], px.shape[1], -1).mean(1)]

    size = spec.height
    graphs = [
        Graph("video", "model.onnx", ClipVideo(net).eval(), (torch.zeros(spec.shape(2)),), ["pixel_values"],
              ["video_embeds"], {"pixel_values": {0: "batch"}}, reference=video_reference),
        Graph("frame", "frame.onnx", ClipFrame(net).eval(), (torch.zeros(2, 3, size, size),), ["pixel_values"],
              ["frame_embeds"], {"pixel_values": {0: "batch"}}, reference=lambda px: [clip_image_features(net, px)]),
        Graph("text", "text.onnx", Text(net, normalize=True).eval(),
              (torch.ones(2, 8, dtype=torch.int64), torch.ones(2, 8, dtype=torch.int64)),
              ["input_ids", "attention_mask"], ["text_embeds"],
              {"input_ids": {0: "texts", 1: "tokens"}, "attention_mask": {0: "texts", 1: "tokens"}}, reference=text_reference),
    ]
    video_text = VideoTextSpec(tokenizer_json=tokenizer_json, max_length=max_length, pad_id=pad_id,
                               embed_dim=int(config.projection_dim), logit_scale=float(net.logit_scale.exp().item()),
                               text_normalized=True, video_pooling="mean over frames of L2-normalised CLIP image embeddings")
    return Bundle(family=FAMILY, task="video_text", input=spec, preprocessing=pre, graphs=graphs,
                  sampling=default_sampling(frames), source={"model": str(model), "local": Path(model).exists(), "frames": frames},
                  video_text=video_text)


register(FAMILY, "clip", "video_text", load)
