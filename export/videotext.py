"""The video-text steps of the export pipeline (export/pipeline.py): several graphs, prompts, a tokenizer.

Families (export/models/): X-CLIP (video, text, prompt-conditioned head), CLIP mean-pool (frame,
video, text) and the bundled videotext-motion model (video tower, frozen MiniLM text encoder).
Every graph passes its own parity gate against PyTorch (typed, fatal errors), the label prompts are
tokenized with the runtime's own tokenizer code and encoded by the exported text graph into
`text_embeddings.npy`, and the tokenizer travels in the artifact.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class VideoTextState:
    labels: list[str]  # the label prompts
    tokenizer: object  # runtime.videotext.tokenizer.TextTokenizer over the staged tokenizer.json
    prompt_tokens: tuple | None  # (ids, mask) of the label prompts; None without prompts
    text_feeds: list[dict]  # what the text graph's FP16 gate runs on


def check_options(opts, family) -> None:
    from export.inputs import ExportInputError, check_unique

    if opts.labels is not None:
        raise ExportInputError(f"labels are for classifiers; {opts.model} is a {family.name} video-text model: "
                               "give its label prompts as prompts")
    if opts.prompts is not None:
        check_unique(list(opts.prompts), "the label prompts", "prompts")


def prepare(bundle, opts, staging: Path) -> VideoTextState:
    """The tokenizer into the artifact and the prompts through it: bad prompts fail before the long work."""
    from export.inputs import check_unique
    from export.videotext_parity import parity_prompts
    from runtime.videotext.tokenizer import TextTokenizer

    prompts = list(opts.prompts if opts.prompts is not None else bundle.labels)
    if opts.prompts is None:
        check_unique(prompts, f"{opts.model}: the default prompts", "prompts")
    spec = bundle.video_text
    shutil.copyfile(spec.tokenizer_json, staging / "tokenizer.json")
    tokenizer = TextTokenizer(staging / "tokenizer.json", spec.max_length, spec.pad_id)
    prompt_tokens = tokenizer.encode(prompts) if prompts else None
    ids, mask = tokenizer.encode(list(prompts[:8]) + list(parity_prompts(tokenizer)))
    first = int(mask[0].sum())
    text_feeds = [{"input_ids": ids, "attention_mask": mask},
                  {"input_ids": ids[:1, :first], "attention_mask": mask[:1, :first]}]
    return VideoTextState(prompts, tokenizer, prompt_tokens, text_feeds)


def gates(bundle, staging: Path, results: dict, opts, state: VideoTextState, step, log) -> dict:
    from export.videotext_parity import run_gates

    step("parity gates: PyTorch vs ONNX Runtime, per graph")
    validation = run_gates(bundle, staging, state.tokenizer, state.labels, opts.atol, opts.strict, log)
    validation.update(_tensorrt_ops(bundle, staging, log))
    return validation


def describe_inputs(manifest, staging: Path) -> None:
    from runtime.artifact import describe_file

    manifest.files["tokenizer.json"] = describe_file(staging / "tokenizer.json", "tokenizer")


def finish(bundle, staging: Path, manifest, state: VideoTextState, step) -> None:
    """The label prompts encoded by the exported text graph, and what the runtime needs to run the graphs."""
    from runtime.artifact import describe_file

    has_embeddings = state.prompt_tokens is not None
    if has_embeddings:
        step(f"encoding {len(state.labels)} label prompts with the exported text graph")
        embeddings = _encode_prompts(staging / bundle.graph("text").file, state.prompt_tokens)
        np.save(staging / "text_embeddings.npy", embeddings, allow_pickle=False)
        manifest.files["text_embeddings.npy"] = describe_file(staging / "text_embeddings.npy", "embeddings",
                                                              details={"count": len(state.labels)})
    manifest.video_text = _runtime_section(bundle, has_embeddings)


def _tensorrt_ops(bundle, staging: Path, log) -> dict:
    """Per graph: ops TensorRT's ONNX parser would not import, per TensorRT version (empty = all import).

    Only the op check of export/readiness.py applies: text graphs have a dynamic token axis by
    design (a TensorRT profile can cover it), which that module's VideoMAE rule would flag.
    """
    from export.readiness import check_readiness

    out = {}
    for graph in bundle.graphs:
        report = check_readiness(staging / graph.file)
        out[f"tensorrt_ops_{graph.role}"] = {v: {"unsupported_ops": r.unsupported_ops, "opset": r.opset,
                                                  "opset_range": r.opset_range} for v, r in report.versions.items()}
        bad = {v: sorted(r.unsupported_ops) for v, r in report.versions.items() if r.unsupported_ops}
        log(f"  {graph.role:<12} TensorRT ONNX parser ops: {'all supported' if not bad else bad}")
    return out


def _encode_prompts(text_graph: Path, tokens) -> np.ndarray:
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    ids, mask = tokens
    with OnnxRuntimeBackend(text_graph, device="cpu") as backend:
        return backend.infer({"input_ids": ids, "attention_mask": mask})[backend.outputs[0].name].astype(np.float32)


def _runtime_section(bundle, has_embeddings: bool) -> dict:
    """What the runtime needs to run the graphs together (manifest.video_text)."""
    spec = bundle.video_text
    return {
        "video_graph": bundle.graph("video").file,
        "text_graph": bundle.graph("text").file,
        "head_graph": bundle.graph("head").file if bundle.graph("head") else None,
        "frame_graph": bundle.graph("frame").file if bundle.graph("frame") else None,
        "tokenizer": "tokenizer.json",
        "max_length": int(spec.max_length),
        "pad_id": int(spec.pad_id),
        "embed_dim": int(spec.embed_dim),
        "logit_scale": float(spec.logit_scale),
        "text_normalized": bool(spec.text_normalized),
        "video_pooling": spec.video_pooling,
        "embeddings": "text_embeddings.npy" if has_embeddings else None,
    }
