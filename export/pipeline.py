"""checkpoint → family adapter → graphs → ONNX → parity gates → FP16 (→ engine) → artifact, written atomically.

Every family (export/models/registry.py) goes through these same steps; what differs between the two
tasks (a classifier's one graph and its labels; a video-text model's graphs, tokenizer and prompt
embeddings) is in export/classification.py and export/videotext.py.

Everything is built in a staging folder beside the output and moved into place only when it is
complete and validated, so a failed or interrupted export never leaves half an artifact and never
touches an existing one unless asked to overwrite it.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from export.output import OutputError, OutputExistsError, UnsafeOutputError, discard_staging, move_into_place
from export.output import new_staging as _new_staging
from runtime.artifact import Manifest, Sampling, describe_file, load_artifact, write_manifest

__all__ = ["ExportOptions", "OutputError", "OutputExistsError", "UnsafeOutputError", "build_artifact", "new_staging",
           "publish", "tool_versions"]


@dataclass
class ExportOptions:
    model: str
    output: Path
    family: str | None = None  # default: from config.json's model_type (VideoMAE where it names none)
    opset: int = 17  # the newest opset TensorRT 8.6 (JetPack 6.0) parses
    batch: tuple[int, int, int] = (1, 1, 8)
    precision: str = "fp32"
    atol: float = 1e-4
    strict: bool = True
    overwrite: bool = False
    labels: list[str] | None = None  # classification: class names, for configs without id2label
    prompts: list[str] | None = None  # video-text: label prompts (default: the model's own)
    frames: int | None = None  # clip-meanpool only: frames per window (CLIP has no clip length)
    sampling: dict = field(default_factory=dict)  # overrides of the checkpoint's own sampling
    external_data_threshold: int | None = None
    engine: object | None = None  # export.trt_engines.BuildOptions: build an engine (fp16/int8 precision)
    calibrator: object | None = None  # legacy TensorRT INT8 calibrator (TensorRT 8.6 targets only)


def build_artifact(opts: ExportOptions, log: Callable[[str], None] = print) -> Path:
    from export.models.contract import LoadRequest
    from export.models.registry import resolve_family
    from export.output import check_output
    from export.validate import check_atol

    check_atol(opts.atol)  # before any work
    check_output(opts.output, opts.model, opts.overwrite)  # before loading the model; new_staging checks again
    family = resolve_family(opts.model, opts.family)
    task = _task(family.task)
    task.check_options(opts, family)
    staging = new_staging(opts.output, opts.overwrite, opts.model, log)
    output = Path(opts.output).resolve()  # what new_staging checked: symlinks and '..' resolved
    try:
        step = _stepper(log)
        step(f"loading {opts.model}" + ("" if family.task == "classification" else f" as {family.name}"))
        bundle = family.load(LoadRequest(opts.model, labels=opts.labels, frames=opts.frames,
                                         example_batch=max(2, opts.batch[0])))
        state = task.prepare(bundle, opts, staging)  # bad labels or prompts fail before the long work
        results = _export_graphs(bundle, staging, opts, step, log)
        validation = task.gates(bundle, staging, results, opts, state, step, log)
        manifest = Manifest(
            task=bundle.task, family=bundle.family, input=bundle.input, preprocessing=bundle.preprocessing,
            sampling=Sampling(**{**bundle.sampling, **opts.sampling}), labels=state.labels,
            outputs=bundle.graph("video").outputs, source=bundle.source, tool_versions=tool_versions(),
            validation=validation,
            # Prompts given at export replace the defaults: only background prompts still among them.
            background=[label for label in bundle.background if label in state.labels])
        _describe_graphs(manifest, bundle, results, opts)
        task.describe_inputs(manifest, staging)
        step(f"FP16 mixed-precision graph{'s' if len(bundle.graphs) > 1 else ''} (what strongly typed TensorRT "
             "builds from), gated against FP32 on the CPU")
        from export.fp16_graphs import add_fp16_graphs

        add_fp16_graphs(bundle, staging, manifest, state.text_feeds, keep_fp32=getattr(opts.engine, "keep_fp32", ()),
                        strict=opts.strict, log=log)
        task.finish(bundle, staging, manifest, state, step)
        if opts.engine is not None:
            from export.trt_engines import add_engine

            step(f"TensorRT {opts.engine.precision} engine")
            add_engine(staging, manifest, opts.engine, log, opts.calibrator)
        publish(staging, output, manifest, step)
        return output
    finally:
        discard_staging(staging)


def _task(name: str):
    """The steps of a task that differ: export/classification.py or export/videotext.py."""
    if name == "classification":
        from export import classification

        return classification
    from export import videotext

    return videotext


def _export_graphs(bundle, staging: Path, opts: ExportOptions, step, log) -> dict:
    from export.onnx_export import EXTERNAL_DATA_THRESHOLD, export_onnx

    threshold = opts.external_data_threshold if opts.external_data_threshold is not None else EXTERNAL_DATA_THRESHOLD
    results = {}
    for graph in bundle.graphs:
        if len(bundle.graphs) == 1:
            step(f"exporting ONNX (opset {opts.opset}, batch axis dynamic up to {opts.batch[2]})")
        else:
            step(f"exporting {graph.role} graph → {graph.file} (opset {opts.opset})")
        results[graph.role] = export_onnx(graph.module, graph.example, staging / graph.file, graph.inputs, graph.outputs,
                                          opset=opts.opset, max_batch=max(opts.batch[2], 2),
                                          external_data_threshold=threshold, dynamic_axes=graph.dynamic_axes)
        for note in results[graph.role].notes:
            log(f"  note: {note}")
    return results


def _describe_graphs(manifest: Manifest, bundle, results: dict, opts: ExportOptions) -> None:
    """Every graph in the manifest: the video graph is kind `onnx` (what "the model" means to tools that
    open one graph), the others `onnx_<role>`; a classifier's entry also names its external data."""
    for graph in bundle.graphs:
        result = results[graph.role]
        details = {"exporter": result.exporter, "ops": result.ops, "batch_profile": list(opts.batch)}
        if bundle.task == "classification":
            details["external_data"] = result.data_path.name if result.data_path else None
        else:
            details = {"role": graph.role, "inputs": graph.inputs, "outputs": graph.outputs, **details}
        kind = "onnx" if graph.role == "video" else f"onnx_{graph.role}"
        manifest.files[graph.file] = describe_file(result.path, kind, precision="fp32", opset=result.opset,
                                                   details=details)
        if result.data_path is not None:
            manifest.files[result.data_path.name] = describe_file(result.data_path, "onnx_data")


def new_staging(output: Path, overwrite: bool, model: str | None = None, log: Callable[[str], None] | None = None) -> Path:
    """An empty staging folder beside `output`, once export/output.py finds the output safe to write."""
    return _new_staging(output, overwrite, model, log)


def publish(staging: Path, output: Path, manifest: Manifest, step: Callable[[str], None]) -> None:
    """Manifest last, read back exactly as the runtime will (hashes included), then moved into place."""
    write_manifest(staging, manifest)
    load_artifact(staging)
    move_into_place(staging, output)
    step(f"artifact written to {output}")


def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "onnx", "onnxruntime", "onnxscript", "numpy"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                continue
        versions[name] = str(getattr(module, "__version__", "unknown"))
    from runtime import __version__

    versions["tubelet"] = __version__
    return versions


def _stepper(log):
    start = time.perf_counter()
    count = [0]

    def step(message: str) -> None:
        count[0] += 1
        log(f"[{count[0]}] {time.perf_counter() - start:6.1f}s  {message}")

    return step
