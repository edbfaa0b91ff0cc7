"""checkpoint → ONNX → parity gate → artifact folder, written atomically.

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
    opset: int = 17  # the newest opset TensorRT 8.6 (JetPack 6.0) parses
    batch: tuple[int, int, int] = (1, 1, 8)
    precision: str = "fp32"
    atol: float = 1e-4
    strict: bool = True
    overwrite: bool = False
    labels: list[str] | None = None
    sampling: dict = field(default_factory=dict)  # overrides of the checkpoint's own sampling
    external_data_threshold: int | None = None
    engine: object | None = None  # export.trt_engines.BuildOptions: build an engine (fp16/int8 precision)
    calibrator: object | None = None  # legacy TensorRT INT8 calibrator (TensorRT 8.6 targets only)


def build_artifact(opts: ExportOptions, log: Callable[[str], None] = print) -> Path:
    from export.models import videomae
    from export.onnx_export import EXTERNAL_DATA_THRESHOLD, export_onnx
    from export.validate import check_atol, check_parity
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    check_atol(opts.atol)  # before any work
    staging = new_staging(opts.output, opts.overwrite, opts.model, log)
    output = Path(opts.output).resolve()  # what new_staging checked: symlinks and '..' resolved
    try:
        step = _stepper(log)
        step(f"loading {opts.model}")
        loaded = videomae.load(opts.model, labels=opts.labels)
        sampling = Sampling(**{**loaded.sampling, **opts.sampling})
        step(f"exporting ONNX (opset {opts.opset}, batch axis dynamic up to {opts.batch[2]})")
        import torch

        example = torch.zeros(loaded.input.shape(max(2, opts.batch[0])))
        threshold = opts.external_data_threshold if opts.external_data_threshold is not None else EXTERNAL_DATA_THRESHOLD
        result = export_onnx(loaded.module, example, staging / "model.onnx", loaded.input.name, loaded.outputs,
                             opset=opts.opset, max_batch=max(opts.batch[2], 2), external_data_threshold=threshold)
        for note in result.notes:
            log(f"  note: {note}")
        step(f"parity check: PyTorch vs ONNX Runtime ({result.exporter} exporter)")
        with OnnxRuntimeBackend(result.path, device="cpu") as backend:
            parity = check_parity(loaded.module, backend, loaded.input, loaded.preprocessing, atol=opts.atol, strict=opts.strict)
        step("TensorRT readiness and CPU FP16 numerics")
        from export.readiness import export_validation

        trt_checks = export_validation(result.path, loaded.input, loaded.preprocessing)
        log(f"  TensorRT readiness: {_readiness_line(trt_checks)}; FP16 on CPU (norms FP32): "
            f"{'PASS' if trt_checks['fp16_cpu']['passed'] else 'FAIL'}")
        manifest = Manifest(
            task="classification", family=videomae.FAMILY, input=loaded.input, preprocessing=loaded.preprocessing,
            sampling=sampling, labels=loaded.labels, outputs=loaded.outputs, source=loaded.source,
            tool_versions=tool_versions(), validation={"onnx_fp32": parity.as_dict(), **trt_checks},
        )
        manifest.files["model.onnx"] = describe_file(
            result.path, "onnx", precision="fp32", opset=result.opset,
            details={"exporter": result.exporter, "ops": result.ops, "batch_profile": list(opts.batch),
                     "external_data": result.data_path.name if result.data_path else None})
        if result.data_path is not None:
            manifest.files[result.data_path.name] = describe_file(result.data_path, "onnx_data")
        step("FP16 mixed-precision graph (what strongly typed TensorRT builds from), gated against FP32 on the CPU")
        from export.fp16_graph import add_fp16_graph
        from export.validate import parity_inputs

        clips = parity_inputs(loaded.input, loaded.preprocessing)
        add_fp16_graph(staging, manifest, "model.onnx", [{loaded.input.name: c} for c in clips], scores=True,
                       keep_fp32=getattr(opts.engine, "keep_fp32", ()), strict=opts.strict, log=log)
        if opts.engine is not None:
            from export.trt_engines import add_engine

            step(f"TensorRT {opts.engine.precision} engine")
            add_engine(staging, manifest, opts.engine, log, opts.calibrator)
        publish(staging, output, manifest, step)
        return output
    finally:
        discard_staging(staging)


def new_staging(output: Path, overwrite: bool, model: str | None = None, log: Callable[[str], None] | None = None) -> Path:
    """An empty staging folder beside `output`, once export/output.py finds the output safe to write."""
    return _new_staging(output, overwrite, model, log)


def publish(staging: Path, output: Path, manifest: Manifest, step: Callable[[str], None]) -> None:
    """Manifest last, read back exactly as the runtime will (hashes included), then moved into place."""
    write_manifest(staging, manifest)
    load_artifact(staging)
    move_into_place(staging, output)
    step(f"artifact written to {output}")


def _readiness_line(checks: dict) -> str:
    versions = checks["tensorrt_readiness"]["versions"]
    return ", ".join(f"{v} {'ready' if r['passed'] else 'NOT ready'}" for v, r in versions.items())


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
