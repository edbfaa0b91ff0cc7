"""The classification steps of the export pipeline (export/pipeline.py): a classifier's one graph.

Its gates: parity of the ONNX graph against PyTorch on the parity clips (export/validate.py), then
TensorRT readiness and the CPU FP16 numerics of export/readiness.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class ClassificationState:
    labels: list[str]
    text_feeds: list[dict] | None = None  # a classifier has no text graph


def check_options(opts, family) -> None:
    from export.inputs import ExportInputError

    if opts.prompts is not None:
        raise ExportInputError(f"label prompts are for video-text models; {opts.model} is a {family.name} classifier: "
                               "give its class names as labels")


def prepare(bundle, opts, staging: Path) -> ClassificationState:
    return ClassificationState(labels=list(bundle.labels))


def gates(bundle, staging: Path, results: dict, opts, state, step, log) -> dict:
    from export.readiness import export_validation
    from export.validate import check_parity
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    graph = bundle.graph("video")
    result = results[graph.role]
    step(f"parity check: PyTorch vs ONNX Runtime ({result.exporter} exporter)")
    with OnnxRuntimeBackend(result.path, device="cpu") as backend:
        parity = check_parity(graph.module, backend, bundle.input, bundle.preprocessing, atol=opts.atol, strict=opts.strict)
    step("TensorRT readiness and CPU FP16 numerics")
    trt_checks = export_validation(result.path, bundle.input, bundle.preprocessing)
    log(f"  TensorRT readiness: {_readiness_line(trt_checks)}; FP16 on CPU (norms FP32): "
        f"{'PASS' if trt_checks['fp16_cpu']['passed'] else 'FAIL'}")
    return {"onnx_fp32": parity.as_dict(), **trt_checks}


def describe_inputs(manifest, staging: Path) -> None:
    """A classifier's artifact holds only its graphs."""


def finish(bundle, staging: Path, manifest, state, step) -> None:
    """Nothing beyond the graphs."""


def _readiness_line(checks: dict) -> str:
    versions = checks["tensorrt_readiness"]["versions"]
    return ", ".join(f"{v} {'ready' if r['passed'] else 'NOT ready'}" for v, r in versions.items())
