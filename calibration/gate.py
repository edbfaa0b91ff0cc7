"""The INT8 accuracy gate (agreement and cosine vs FP32) and the census of what runs in INT8."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibration.reader import ClipReader
from runtime.common.comparator import Comparison, ShapeMismatchError
from runtime.common.comparator import compare as compare_outputs

# QOperator-format ops and the float op each one replaces.
_QOPERATOR = {"QLinearMatMul": "MatMul", "MatMulInteger": "MatMul", "QLinearConv": "Conv",
              "ConvInteger": "Conv", "QGemm": "Gemm"}
_DEQUANT = ("DequantizeLinear",)


@dataclass
class GateResult:
    """The INT8 gate's verdict: runtime.common.comparator's comparison of INT8 logits with FP32, and the thresholds."""

    comparison: Comparison
    min_agreement: float
    min_cosine_required: float
    backend: str = "onnxruntime"  # the engine the INT8 logits came from: the one that will run the model here

    @property
    def passed(self) -> bool:
        return self.comparison.passes(min_cosine=self.min_cosine_required, min_agreement=self.min_agreement)

    @property
    def clips(self) -> int:
        return self.comparison.rows

    @property
    def top1_agreement(self) -> float:
        return self.comparison.top1_agreement

    @property
    def min_cosine(self) -> float:
        return self.comparison.min_cosine

    @property
    def mean_cosine(self) -> float:
        return self.comparison.mean_cosine

    @property
    def max_abs_error(self) -> float:
        return self.comparison.max_abs_error

    def as_dict(self) -> dict:
        numbers = self.comparison.as_dict()  # JSON-safe: None where NaN/Inf left a number uncomputed
        return {"clips": self.clips, "top1_agreement": numbers["top1_agreement"], "min_cosine": numbers["min_cosine"],
                "mean_cosine": numbers["mean_cosine"], "max_abs_error": numbers["max_abs_error"],
                "nonfinite": {"fp32": numbers["reference"], "int8": numbers["candidate"]},
                "min_agreement": self.min_agreement, "min_cosine_required": self.min_cosine_required,
                "passed": self.passed, "backend": self.backend}

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        if not self.comparison.finite:
            return f"{self.comparison.nonfinite_line()} over {self.clips} held-out clips: {verdict}"
        return (f"top-1 agreement {self.top1_agreement:.1%} (>= {self.min_agreement:.1%}), min cosine "
                f"{self.min_cosine:.5f} (>= {self.min_cosine_required:.5f}) over {self.clips} held-out clips "
                f"on {self.backend}: {verdict}")


class Logits(np.ndarray):
    """Logits that know which engine computed them (`backend`), so the gate reports where it judged."""

    backend = "onnxruntime"


def gate_backend(model_path: str | Path) -> str:
    """The engine that will run this model on this machine's CPU: OpenVINO where `--backend auto` picks
    it (no NVIDIA provider, openvino installed, a model that is not small), else ONNX Runtime. QOperator graphs (QLinearMatMul,
    QGemm, ...: a form only ONNX Runtime runs) stay on ONNX Runtime."""
    import os

    from runtime.backends.openvino import prefer_for_auto

    if not prefer_for_auto(os.path.getsize(model_path)):
        return "onnxruntime"
    return "onnxruntime" if _op_types(model_path) & set(_QOPERATOR) else "openvino"


def _op_types(model_path: str | Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(model_path), load_external_data=False).graph.node}


def run_logits(model_path: str | Path, reader: ClipReader, threads: int | None = None,
               backend: str | None = None) -> Logits:
    """First output of a model for every clip of a reader, on the CPU engine that will run it
    (gate_backend: OpenVINO or ONNX Runtime's CPU provider), or the one named."""
    backend = backend or gate_backend(model_path)
    if backend == "openvino":
        from runtime.backends.openvino import OpenVINOBackend

        # No compiled-model cache: the search's candidates are temporary files.
        precision = "int8" if "DequantizeLinear" in _op_types(model_path) else "fp32"
        engine = OpenVINOBackend(model_path, precision=precision, threads=threads)
    else:
        from runtime.backends.onnxruntime import OnnxRuntimeBackend

        engine = OnnxRuntimeBackend(model_path, device="cpu", threads=threads)
    with engine:
        name = engine.outputs[0].name
        outs = [engine.infer({reader.input_name: batch})[name] for batch in reader.batches()]
    logits = np.concatenate(outs).reshape(len(reader.samples), -1).astype(np.float64).view(Logits)
    logits.backend = backend
    return logits


def compare(reference: np.ndarray, candidate: np.ndarray, min_agreement: float = 0.99,
            min_cosine: float = 0.99) -> GateResult:
    """INT8 (candidate) logits against the FP32 reference: finiteness, top-1 agreement, per-clip cosine."""
    try:
        comparison = compare_outputs(reference, candidate, names=("FP32", "INT8"))
    except ShapeMismatchError as exc:
        raise ValueError(f"logit shapes differ: {exc}") from None
    return GateResult(comparison, min_agreement, min_cosine, getattr(candidate, "backend", "onnxruntime"))


def damage(reference: np.ndarray, candidate: np.ndarray) -> float:
    """How much a quantization hurts: mean cosine distance plus the disagreement rate (inf for NaN/Inf).

    Disagreement dominates (a flipped decision is what the gate counts); the cosine term ranks
    layers that flip nothing on this set but still bend the logits.
    """
    result = compare(reference, candidate, 0.0, -1.0)
    if not result.comparison.finite:
        return float("inf")
    return (1.0 - result.top1_agreement) + (1.0 - result.mean_cosine)


def int8_census(model, op_types) -> dict[str, dict[str, int]]:
    """Per op type: how many nodes run in INT8 and how many exist (QDQ or QOperator graphs).

    In a QDQ graph a node runs in INT8 when its data and weight inputs both come from
    DequantizeLinear: that is the pattern ONNX Runtime and TensorRT fuse into integer kernels.
    """
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    producer = {out: node.op_type for node in model.graph.node for out in node.output}
    census: dict[str, dict[str, int]] = {op: {"int8": 0, "total": 0} for op in op_types}
    for node in model.graph.node:
        base = _QOPERATOR.get(node.op_type)
        if base is not None:
            census.setdefault(base, {"int8": 0, "total": 0})
            census[base]["int8"] += 1
            census[base]["total"] += 1
        elif node.op_type in census:
            census[node.op_type]["total"] += 1
            inputs = [name for name in node.input[:2] if name]
            if len(inputs) == 2 and all(producer.get(name) in _DEQUANT for name in inputs):
                census[node.op_type]["int8"] += 1
    return {op: counts for op, counts in census.items() if counts["total"]}


def census_line(census: dict[str, dict[str, int]]) -> str:
    if not census:
        return "no MatMul/Gemm/Conv in the graph"
    return ", ".join(f"{c['int8']}/{c['total']} {op}" for op, c in sorted(census.items())) + " in INT8"
