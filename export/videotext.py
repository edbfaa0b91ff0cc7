"""Video-text export: several graphs + parity gates + prompt embeddings + tokenizer → one artifact.

Families (export/models/): X-CLIP (video, text, prompt-conditioned head), CLIP mean-pool (frame,
video, text) and the bundled videotext-motion model (video tower, frozen MiniLM text encoder).
Every graph passes its own parity gate against PyTorch (typed, fatal errors), the label prompts are
tokenized with the runtime's own tokenizer code and encoded by the exported text graph into
`text_embeddings.npy`, and the folder is staged and moved into place atomically.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from runtime.artifact import InputSpec, Preprocessing, Sampling
from runtime.cli.errors import TubeletError

FAMILIES = ("xclip", "clip-meanpool", "videotext-motion")
# Prompts of several lengths, used by the text parity gate besides the label prompts.
PARITY_PROMPTS = ("a person waving", "someone picking up a cup from the table and putting it down again", "go",
                  "a red square moving to the left across the frame")


class VideoTextExportError(TubeletError, ValueError):
    """The model or options given to the video-text export are not usable."""


@dataclass
class Graph:
    """One ONNX graph of a video-text model, with what it takes to export and check it."""

    role: str  # video | text | head | frame
    file: str
    module: object
    example: tuple
    inputs: list[str]
    outputs: list[str]
    dynamic_axes: dict
    reference: Callable | None = None  # the library's own function (tensors → [tensors]); default: module


@dataclass
class VideoTextBundle:
    family: str
    input: InputSpec
    preprocessing: Preprocessing
    graphs: list[Graph]
    tokenizer_json: Path
    max_length: int
    pad_id: int
    embed_dim: int
    logit_scale: float
    text_normalized: bool
    video_pooling: str
    end_to_end: Callable | None = None  # (pixel_values, ids, mask) → head similarity, from HF's forward
    source: dict = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)  # default label prompts shipped with the model

    def graph(self, role: str) -> Graph | None:
        return next((g for g in self.graphs if g.role == role), None)


@dataclass
class VideoTextOptions:
    model: str
    output: Path
    family: str | None = None
    prompts: list[str] | None = None
    frames: int | None = None  # clip-meanpool only: frames per window (CLIP has no clip length)
    opset: int = 17
    batch: tuple = (1, 1, 8)
    atol: float = 1e-4
    strict: bool = True
    overwrite: bool = False
    sampling: Sampling = field(default_factory=Sampling)


def checked_config(model: str, model_types: tuple[str, ...], model_class=None):
    """The transformers config, once the folder's files read cleanly and (given `model_class`) its sizes
    match the weights' shapes: all before any weight is loaded."""
    from transformers import AutoConfig

    from export.inputs import ExportInputError, check_model_folder, check_weight_shapes

    folder = Path(model)
    try:
        check_model_folder(model)
    except ExportInputError as exc:
        raise VideoTextExportError(str(exc)) from None
    if folder.exists() and not list(folder.glob("*.safetensors")):
        raise VideoTextExportError(f"{folder} has no .safetensors weights (pickled weights are refused)")
    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise VideoTextExportError(f"{model}: cannot read a transformers config ({' '.join(str(exc).split())})") from None
    if config.model_type not in model_types:
        raise VideoTextExportError(f"{model} is a {config.model_type!r} checkpoint, expected model_type {model_types}")
    if model_class is not None and folder.exists():
        try:
            check_weight_shapes(model_class, config, folder)
        except ExportInputError as exc:
            raise VideoTextExportError(str(exc)) from None
    return config


def detect_family(model: str) -> str:
    """videomae | xclip | clip-meanpool | videotext-motion, from config.json's model_type."""
    path = Path(model) / "config.json"
    if not path.is_file():
        raise VideoTextExportError(f"{model} has no config.json; pass --family to say what it is")
    model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    from export.models.videotext_motion import MODEL_TYPE

    family = {"videomae": "videomae", "xclip": "xclip", "clip": "clip-meanpool", MODEL_TYPE: "videotext-motion"}.get(model_type)
    if family is None:
        raise VideoTextExportError(f"{model}: model_type {model_type!r} is not a family this exporter knows "
                                   f"(videomae, {', '.join(FAMILIES)})")
    return family


def load_bundle(family: str, model: str, frames: int | None = None) -> VideoTextBundle:
    if family == "xclip":
        from export.models import xclip

        return xclip.load(model)
    if family == "clip-meanpool":
        from export.models import clip_meanpool

        return clip_meanpool.load(model, frames)
    if family == "videotext-motion":
        from export.models import videotext_motion

        return videotext_motion.load(model)
    raise VideoTextExportError(f"family {family!r} unknown; choose one of {FAMILIES}")


def build_videotext_artifact(opts: VideoTextOptions, log: Callable[[str], None] = print) -> Path:
    from export.onnx_export import export_onnx
    from export.inputs import check_unique
    from export.output import check_output, discard_staging
    from export.pipeline import _stepper, new_staging, publish
    from runtime.artifact import describe_file
    from runtime.videotext.tokenizer import TextTokenizer

    output = check_output(opts.output, opts.model, opts.overwrite)  # before loading the model; new_staging checks again
    if opts.prompts is not None:
        check_unique(list(opts.prompts), "the label prompts", "prompts")
    family = opts.family or detect_family(opts.model)
    step = _stepper(log)
    step(f"loading {opts.model} as {family}")
    bundle = load_bundle(family, opts.model, opts.frames)
    prompts = list(opts.prompts if opts.prompts is not None else bundle.prompts)
    if opts.prompts is None:
        check_unique(prompts, f"{opts.model}: the default prompts", "prompts")
    staging = new_staging(output, opts.overwrite, opts.model, log)
    try:
        shutil.copyfile(bundle.tokenizer_json, staging / "tokenizer.json")
        tokenizer = TextTokenizer(staging / "tokenizer.json", bundle.max_length, bundle.pad_id)
        prompt_tokens = tokenizer.encode(prompts) if prompts else None  # bad prompts fail before the long work
        results = {}
        for graph in bundle.graphs:
            step(f"exporting {graph.role} graph → {graph.file} (opset {opts.opset})")
            results[graph.role] = export_onnx(graph.module, graph.example, staging / graph.file, graph.inputs,
                                              graph.outputs, opset=opts.opset, max_batch=max(opts.batch[2], 2),
                                              dynamic_axes=graph.dynamic_axes)
            for note in results[graph.role].notes:
                log(f"  note: {note}")
        step("parity gates: PyTorch vs ONNX Runtime, per graph")
        from export.videotext_parity import run_gates

        validation = run_gates(bundle, staging, tokenizer, prompts, opts.atol, opts.strict, log)
        validation.update(_tensorrt_ops(bundle, staging, log))
        manifest = _manifest(opts, bundle, prompts, results, validation)
        manifest.files["tokenizer.json"] = describe_file(staging / "tokenizer.json", "tokenizer")
        step("FP16 mixed-precision graphs (what strongly typed TensorRT builds from), gated against FP32 on the CPU")
        from export.fp16_videotext import add_videotext_fp16_graphs

        add_videotext_fp16_graphs(bundle, staging, manifest, tokenizer, prompts, opts.strict, log)
        embeddings = None
        if prompt_tokens is not None:
            step(f"encoding {len(prompts)} label prompts with the exported text graph")
            embeddings = _encode_prompts(staging / bundle.graph("text").file, prompt_tokens)
            np.save(staging / "text_embeddings.npy", embeddings, allow_pickle=False)
            manifest.files["text_embeddings.npy"] = describe_file(staging / "text_embeddings.npy", "embeddings",
                                                                  details={"count": len(prompts)})
        manifest.video_text = _runtime_section(bundle, embeddings is not None)
        publish(staging, output, manifest, step)
        return output
    finally:
        discard_staging(staging)


def _manifest(opts: VideoTextOptions, bundle: VideoTextBundle, prompts: list[str], results: dict, validation: dict):
    """The manifest with every graph described; the video graph is kind `onnx` (what "the model" means
    to tools that open one graph), the others `onnx_<role>`."""
    from export.pipeline import tool_versions
    from runtime.artifact import Manifest, describe_file

    manifest = Manifest(task="video_text", family=bundle.family, input=bundle.input,
                        preprocessing=bundle.preprocessing, sampling=_sampling(opts, bundle), labels=prompts,
                        outputs=bundle.graph("video").outputs, source=bundle.source,
                        tool_versions=tool_versions(), validation=validation)
    for graph in bundle.graphs:
        result = results[graph.role]
        kind = "onnx" if graph.role == "video" else f"onnx_{graph.role}"
        manifest.files[graph.file] = describe_file(
            result.path, kind, precision="fp32", opset=result.opset,
            details={"role": graph.role, "inputs": graph.inputs, "outputs": graph.outputs, "exporter": result.exporter,
                     "ops": result.ops, "batch_profile": list(opts.batch)})
    return manifest


def _tensorrt_ops(bundle: VideoTextBundle, staging: Path, log) -> dict:
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


def _sampling(opts: VideoTextOptions, bundle: VideoTextBundle) -> Sampling:
    sampling = opts.sampling
    if sampling.window_stride < 1:  # default: four windows per clip span
        sampling.window_stride = max(1, bundle.input.frames // 4)
    return sampling


def _encode_prompts(text_graph: Path, tokens) -> np.ndarray:
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    ids, mask = tokens
    with OnnxRuntimeBackend(text_graph, device="cpu") as backend:
        return backend.infer({"input_ids": ids, "attention_mask": mask})[backend.outputs[0].name].astype(np.float32)


def _runtime_section(bundle: VideoTextBundle, has_embeddings: bool) -> dict:
    """What the runtime needs to run the graphs together (manifest.video_text)."""
    return {
        "video_graph": bundle.graph("video").file,
        "text_graph": bundle.graph("text").file,
        "head_graph": bundle.graph("head").file if bundle.graph("head") else None,
        "frame_graph": bundle.graph("frame").file if bundle.graph("frame") else None,
        "tokenizer": "tokenizer.json",
        "max_length": int(bundle.max_length),
        "pad_id": int(bundle.pad_id),
        "embed_dim": int(bundle.embed_dim),
        "logit_scale": float(bundle.logit_scale),
        "text_normalized": bool(bundle.text_normalized),
        "video_pooling": bundle.video_pooling,
        "embeddings": "text_embeddings.npy" if has_embeddings else None,
    }


def cli_family(args) -> str:
    """The family build_engine.py routes on: --family, else config.json's model_type (VideoMAE if unknown)."""
    if args.family != "auto":
        return args.family
    try:
        return detect_family(args.model)
    except VideoTextExportError:
        return "videomae"  # hub ids and folders without config.json keep the VideoMAE path and its errors


def cli_main(args, prompts: list[str] | None = None) -> int:
    """build_engine.py for video-text models: ONNX graphs + tokenizer + prompt embeddings."""
    import sys

    from export.inputs import one_line
    from export.onnx_export import OnnxExportError
    from export.pipeline import OutputError
    from export.validate import ParityError
    from runtime.artifact import ArtifactError, Sampling, load_artifact

    if args.precision == "int8":
        print("error: --precision int8 is not available for video-text models (no calibration for them yet): "
              "export with --precision fp16 for an FP16 engine per graph", file=sys.stderr)
        return 2
    try:
        opts = VideoTextOptions(model=args.model, output=Path(args.output), family=cli_family(args), prompts=prompts,
                                frames=args.frames, opset=args.opset, batch=args.batch, atol=args.atol,
                                strict=not args.allow_parity_failure, overwrite=args.overwrite,
                                sampling=Sampling(frame_stride=args.frame_stride or 1, target_fps=args.target_fps,
                                                  window_stride=args.window_stride or 0))
        out = build_videotext_artifact(opts)
    except (OSError, ValueError, ImportError, OnnxExportError, ParityError, ArtifactError, OutputError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    if args.precision == "fp16":
        from export.trt_engines import EngineBuildError, engines_for_artifact

        try:
            engines_for_artifact(out, args)
        except (EngineBuildError, ArtifactError, ValueError) as exc:
            print(f"error: {one_line(exc)} (the ONNX artifact in {out} is complete; no engine was added)", file=sys.stderr)
            return 1
    m = load_artifact(out).manifest
    print(f"\n{m.family} video_text: {m.input.frames}x{m.input.height}x{m.input.width} {m.input.layout}, "
          f"{len(m.labels)} label prompts, logit scale {m.video_text.logit_scale:.2f}")
    for name, entry in sorted(m.files.items()):
        print(f"  {name:<22} {entry.size / 1e6:9.2f} MB  {entry.kind:<11} sha256 {entry.sha256[:12]}")
    for gate, report in sorted(m.validation.items()):
        if not gate.startswith("onnx_fp32_"):
            continue
        worst = "n/a" if report["max_abs_error"] is None else f"{report['max_abs_error']:.2e}"
        print(f"  parity {gate[len('onnx_fp32_'):]:<11} max abs {worst} (atol {report['atol']:g}): "
              f"{'PASS' if report['passed'] else 'FAIL'}")
    return 0
