"""INT8 by explicit quantization: ONNX Runtime static quantization to a Q/DQ graph, gated.

The graph is the form TensorRT builds INT8 engines from (symmetric int8, zero point 0,
per-channel weights) and runs as-is in ONNX Runtime on the CPU. An accuracy gate compares it with
FP32 on held-out clips; when it fails, a sensitivity search quantizes one layer at a time, ranks
the damage, and keeps the worst layers in float, greedily, until the gate passes or the budget of
float layers is spent (then `GateError` with the report: a worse model is never shipped silently).
"""

from __future__ import annotations

import inspect
import math
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from calibration.errors import CalibrationError, GateError, NothingQuantizedError
from calibration.gate import GateResult, census_line, compare, damage, gate_backend, int8_census, run_logits
from calibration.reader import ClipReader
from runtime.backends.base import require

METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
FORMATS = {"qdq": "QDQ", "qoperator": "QOperator"}
DEFAULT_OP_TYPES = ("MatMul", "Gemm", "Conv")


@dataclass
class QuantizeOptions:
    method: str = "minmax"  # minmax | entropy | percentile
    op_types: tuple[str, ...] = DEFAULT_OP_TYPES
    min_agreement: float = 0.99
    min_cosine: float = 0.99
    max_excluded: int = 8  # float layers the sensitivity search may keep; 0 disables the search
    quant_format: str = "qdq"  # qdq: the TensorRT form; qoperator: ONNX Runtime CPU only
    per_channel: bool = True
    threads: int | None = None
    # uint8 (asymmetric activations) only with qoperator: ONNX Runtime's x86 U8S8 kernels; never the
    # artifact's model.int8.onnx, whose form TensorRT needs (int8, zero point 0).
    activations: str = "int8"
    # Attention probabilities (a Softmax output) times V stays in float: a [0, 1] tensor in symmetric
    # int8 gets steps of 1/127, coarser than most probabilities over 128+ tokens, so they round to 0.
    # On the bundled model these three MatMuls were the three most damaging layers; keeping them in
    # float raised agreement with FP32 from 98.5-98.8% to 99.7% on 660 unseen clips (docs/CALIBRATION.md).
    float_attention_probs: bool = True

    def check(self) -> None:
        problems = []
        if self.method not in METHODS:
            problems.append(f"method {self.method!r} unknown; choose {', '.join(METHODS)}")
        if self.quant_format not in FORMATS:
            problems.append(f"format {self.quant_format!r} unknown; choose {', '.join(FORMATS)}")
        if not 0.0 <= self.min_agreement <= 1.0:
            problems.append(f"min_agreement must be in [0, 1], got {self.min_agreement}")
        if not -1.0 <= self.min_cosine <= 1.0:
            problems.append(f"min_cosine must be in [-1, 1], got {self.min_cosine}")
        if self.max_excluded < 0:
            problems.append(f"max_excluded must be >= 0, got {self.max_excluded}")
        if self.activations not in ("int8", "uint8") or (self.activations == "uint8" and self.quant_format != "qoperator"):
            problems.append(f"activations {self.activations!r}: int8, or uint8 with format qoperator")
        if not self.op_types:
            problems.append("op_types is empty; quantize at least MatMul")
        if problems:
            raise CalibrationError("invalid quantization options: " + "; ".join(problems))


@dataclass
class QuantizationReport:
    method: str
    quant_format: str
    op_types: list[str]
    gate: GateResult
    excluded: list[str] = field(default_factory=list)  # kept in float by the sensitivity search
    float_by_rule: list[str] = field(default_factory=list)  # kept in float before any search (float_attention_probs)
    census: dict[str, dict[str, int]] = field(default_factory=dict)
    sensitivity: list[tuple[str, float]] = field(default_factory=list)  # worst first
    attempts: list[dict] = field(default_factory=list)  # excluded count -> gate figures
    calibration_clips: int = 0
    heldout_clips: int = 0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["gate"] = self.gate.as_dict()  # JSON-safe figures, not the nested comparison
        # A layer whose INT8 output is NaN/Inf has infinite damage: None, which strict JSON can hold.
        data["sensitivity"] = [[name, round(value, 6) if math.isfinite(value) else None]
                               for name, value in self.sensitivity[:20]]
        return data

    def summary(self) -> str:
        rule = f"; attention probabilities x V in float: {len(self.float_by_rule)}" if self.float_by_rule else ""
        kept = rule + (f"; kept in float: {', '.join(self.excluded)}" if self.excluded else "")
        return f"{self.method} {self.quant_format}: {census_line(self.census)}{kept}; gate: {self.gate.line()}"


def _quant():
    return require("onnxruntime.quantization", "calibration", "INT8 quantization")


def prepare(fp32_path: str | Path, out_path: str | Path) -> Path:
    """quant_pre_process (shape inference + basic optimizations), and names for every node.

    The sensitivity search excludes layers by node name, so unnamed nodes get stable names here.
    """
    require("onnxruntime.quantization", "calibration", "INT8 quantization")
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out_path = Path(out_path)
    try:
        quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=False)
    except Exception:  # symbolic shape inference fails on some exporter output; ONNX's own still works
        quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=True)
    model = onnx.load(str(out_path))
    taken = {node.name for node in model.graph.node if node.name}
    changed = False
    for index, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in taken:
                name += "_"
            node.name, changed = name, True
            taken.add(name)
    if changed:
        onnx.save(model, str(out_path))
    return out_path


def check_op_types(model_path: str | Path, op_types) -> None:
    """Every op type asked for is an ONNX operator, and at least one of them is in the graph."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    present = Counter(node.op_type for node in model.graph.node)
    unknown = [op for op in op_types if not onnx.defs.has(op)]
    if unknown:
        raise CalibrationError(f"--quantize-ops {','.join(op_types)}: {', '.join(unknown)} is not an ONNX operator "
                               f"(names are case-sensitive: MatMul, Gemm, Conv)")
    if not any(op in present for op in op_types):
        weighted = ", ".join(f"{op} ({present[op]})" for op in sorted(present) if op in ("MatMul", "Gemm", "Conv"))
        raise CalibrationError(f"--quantize-ops {','.join(op_types)}: the graph has none of these ops, so nothing would "
                               f"be quantized; it has {weighted or 'no MatMul, Gemm or Conv'}")


def quantizable_nodes(model_path: str | Path, op_types) -> list[str]:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return [node.name for node in model.graph.node if node.op_type in op_types]


_SHAPE_ONLY = ("Reshape", "Transpose", "Cast", "Identity", "Squeeze", "Unsqueeze")


def attention_prob_matmuls(model_path: str | Path) -> list[str]:
    """MatMuls with an input computed by Softmax (through shape-only ops): attention probabilities x V."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}

    def from_softmax(name: str) -> bool:
        node = producer.get(name)
        while node is not None and node.op_type in _SHAPE_ONLY:
            node = producer.get(node.input[0])
        return node is not None and node.op_type == "Softmax"

    return [node.name for node in graph.node
            if node.op_type == "MatMul" and any(from_softmax(name) for name in node.input[:2])]


def quantize_model(prepared: Path, out_path: Path, calib: ClipReader, options: QuantizeOptions,
                   exclude: list[str] | None = None, only: list[str] | None = None,
                   cache: Path | None = None) -> Path:
    """One ONNX Runtime static quantization: symmetric int8 activations and per-channel weights."""
    q = _quant()
    q.CalibrationDataReader.register(ClipReader)  # the ABC ONNX Runtime expects; ours has its shape
    calib.rewind()
    kwargs = dict(
        quant_format=getattr(q.QuantFormat, FORMATS[options.quant_format]),
        op_types_to_quantize=list(options.op_types), per_channel=options.per_channel,
        activation_type=q.QuantType.QUInt8 if options.activations == "uint8" else q.QuantType.QInt8,
        weight_type=q.QuantType.QInt8,
        nodes_to_quantize=list(only) if only else None, nodes_to_exclude=list(exclude or []),
        calibrate_method=getattr(q.CalibrationMethod, METHODS[options.method]),
        extra_options={"ActivationSymmetric": options.activations == "int8", "WeightSymmetric": True,
                       "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}},
    )
    # Calibration (running every clip through an augmented graph) dominates the cost; ranges do
    # not depend on which nodes are excluded, so the search computes them once (where available).
    if cache is not None and "calibration_cache_path" in inspect.signature(q.quantize_static).parameters:
        kwargs["calibration_cache_path"] = str(cache)
    try:
        q.quantize_static(str(prepared), str(out_path), calib, **kwargs)
    except Exception as exc:  # ORT raises bare Exceptions/ValueErrors from deep inside
        raise CalibrationError(f"ONNX Runtime could not quantize {prepared.name}: {exc}") from exc
    finally:
        calib.rewind()
    return out_path


def quantize_with_gate(fp32_path: str | Path, out_path: str | Path, calib: ClipReader, heldout: ClipReader,
                       options: QuantizeOptions | None = None, log: Callable[[str], None] = lambda _: None,
                       progress: bool = False) -> QuantizationReport:
    """Quantize, gate against FP32 on held-out clips, search for float layers if needed."""
    options = options or QuantizeOptions()
    options.check()
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="tubelet-int8-") as work:
        work = Path(work)
        prepared = prepare(fp32_path, work / "prepared.onnx")
        check_op_types(prepared, options.op_types)  # before the calibration pass, which is the long work
        cache = work / "ranges.json"
        report = QuantizationReport(options.method, options.quant_format, list(options.op_types),
                                    gate=None, calibration_clips=len(calib.samples), heldout_clips=len(heldout.samples))
        if options.float_attention_probs and "MatMul" in options.op_types:
            report.float_by_rule = attention_prob_matmuls(prepared)
        log(f"calibrating ({options.method}) on {len(calib.samples)} clips, gate on {len(heldout.samples)} held-out clips")
        quantize_model(prepared, out_path, calib, options, exclude=report.float_by_rule, cache=cache)
        # One engine for the whole gate: the one `--backend auto` will run this INT8 model on (gate_backend:
        # OpenVINO or ONNX Runtime, by the INT8 file), for the FP32 reference, every attempt and every trial
        # of the search, so the figures measure the quantization, not a difference between engines.
        reference = run_logits(prepared, heldout, options.threads, gate_backend(out_path))
        report.gate = _attempt(prepared, out_path, calib, heldout, reference, options, report.float_by_rule, cache,
                               report, quantized=True)
        rule = f" (attention probabilities x V in float: {len(report.float_by_rule)})" if report.float_by_rule else ""
        log(f"all layers{rule}: {report.gate.line()}")
        if not report.gate.passed and options.max_excluded > 0:
            report.sensitivity = _sensitivity(prepared, work, calib, heldout, reference, options, cache, progress,
                                              skip=report.float_by_rule)
            for name, _ in report.sensitivity[:options.max_excluded]:
                report.excluded.append(name)
                report.gate = _attempt(prepared, out_path, calib, heldout, reference, options,
                                       report.float_by_rule + report.excluded, cache, report)
                log(f"keeping {len(report.excluded)} in float (+{name}): {report.gate.line()}")
                if report.gate.passed:
                    break
        report.census = int8_census(out_path, options.op_types)
    if not any(counts["int8"] for counts in report.census.values()):
        out_path.unlink(missing_ok=True)
        raise NothingQuantizedError(
            f"the quantized model has no op in INT8 ({census_line(report.census)}; quantized op types "
            f"{', '.join(options.op_types)}, {len(report.excluded)} layers kept in float): it would run as FP32 under "
            "an INT8 name, so nothing was written; quantize op types the graph has (--quantize-ops, default "
            "MatMul,Gemm,Conv)", report)
    if not report.gate.passed:
        out_path.unlink(missing_ok=True)
        tried = (f" after keeping the {len(report.excluded)} most damaging layers in float"
                 if report.excluded else " (the sensitivity search is off: max_excluded=0)")
        raise GateError(
            f"INT8 fails the accuracy gate{tried}: {report.gate.line()}; {census_line(report.census)}. "
            "Fixes: more or more representative calibration clips, another --method (entropy, percentile), "
            "a larger --max-excluded, or lower thresholds if this loss is acceptable", report)
    return report


def _attempt(prepared, out_path, calib, heldout, reference, options, excluded, cache, report,
             quantized: bool = False) -> GateResult:
    if not quantized:
        quantize_model(prepared, out_path, calib, options, exclude=excluded, cache=cache)
    candidate = run_logits(out_path, heldout, options.threads, reference.backend)
    result = compare(reference, candidate, options.min_agreement, options.min_cosine)
    figures = result.as_dict()
    report.attempts.append({"excluded": len(excluded) - len(report.float_by_rule), "top1_agreement": figures["top1_agreement"],
                            "min_cosine": figures["min_cosine"], "passed": result.passed})
    return result


def _sensitivity(prepared, work, calib, heldout, reference, options, cache, progress,
                 skip=()) -> list[tuple[str, float]]:
    """Quantize each layer alone and measure its damage on the held-out clips; worst first."""
    from calibration.reader import _progress

    nodes = [name for name in quantizable_nodes(prepared, options.op_types) if name not in skip]
    bar = _progress(len(nodes), "sensitivity search", progress)
    scores = []
    try:
        for name in nodes:
            single = work / "single.onnx"
            quantize_model(prepared, single, calib, options, only=[name], cache=cache)
            scores.append((name, damage(reference, run_logits(single, heldout, options.threads, reference.backend))))
            bar.update(1)
    finally:
        bar.close()
    scores.sort(key=lambda item: -item[1])
    return scores

