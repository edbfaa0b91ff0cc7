"""The INT8 graph strongly typed TensorRT builds from: Q/DQ, with FP16 wherever it is not quantized.

A strongly typed TensorRT network (TensorRT >= 10; the only kind on 11) computes every layer in the
type its ONNX gives it. `model.int8.onnx`, the Q/DQ graph the CPU backends run, is the FP32 graph
with Q/DQ inserted, so an engine built from it runs INT8 where quantized and FP32 everywhere else.
This module writes beside it `model.int8.fp16.onnx`: the same calibrated Q/DQ graph (same scales,
same quantized nodes) converted the way export/fp16_graph.py converts the FP32 graph:
FP16 weights and activations, LayerNormalization, Softmax, the reductions and Pow/Sqrt computing in
FP32 behind explicit Casts, FP32 inputs and outputs.

How Q/DQ is typed there, and why. ONNX before opset 19 defines QuantizeLinear on FP32 inputs only
and DequantizeLinear as producing FP32; keeping Q/DQ in FP32 would put a Cast between every
DequantizeLinear and the MatMul it feeds, the pattern TensorRT fuses into an INT8 kernel
(DQ → MatMul). So the graph moves to opset 19, where QuantizeLinear takes an FP16 input with an FP16
scale and DequantizeLinear yields the type of its scale, and the scales become FP16: the input and
scale of each QuantizeLinear, and the scale and output of each DequantizeLinear, share the FP16 type
of the compute around them, zero points stay INT8 and 0. This is the form NVIDIA's ModelOpt ONNX
quantizer writes for TensorRT with `high_precision_dtype="fp16"` (its default; it raises the opset
to 19 for it: modelopt.onnx.quantization.quantize, nvidia.github.io/TensorRT-Model-Optimizer,
"ONNX Quantization - Linux"), and TensorRT's Quantize/Dequantize layers take FP16 and FP32 scales
alike (TensorRT operator reference, Quantize / Dequantize: T2 float32, float16, bfloat16 from 10.x;
8.6 documents float32 only, which is why the 8.6 weakly typed build keeps model.int8.onnx).
TensorRT 10.3's parser (JetPack 6.1/6.2) takes opset <= 20.

The graph is gated on the CPU against the FP32 model with runtime.common.comparator on the INT8 gate's
held-out clips (top-1 agreement and cosine, the INT8 gate's thresholds). ONNX Runtime's CPU provider
runs it with most FP16 ops in FP32 (export/fp16_graph.py says what that can and cannot show): the
gate proves the conversion kept the graph's meaning and its FP16 weights and scales are sound, not
FP16 arithmetic, which only a build on the target measures.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from calibration.errors import CalibrationError

TRT_INT8_NAME = "model.int8.fp16.onnx"
QDQ_OPSET = 19  # the first opset with FP16 QuantizeLinear inputs and DequantizeLinear outputs
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
FP16_MIN_NORMAL = 2.0 ** -14  # below it an FP16 scale loses precision (subnormal)


def keep_fp32_ops() -> tuple[str, ...]:
    """The op types the FP16 graphs keep in FP32 (export/fp16_graph.py's list, imported lazily: the export
    package imports torch-free modules only on this path)."""
    from export.fp16_check import KEEP_FP32_OPS

    return tuple(KEEP_FP32_OPS)


def to_opset(model, opset: int = QDQ_OPSET):
    """The model at `opset` (onnx's version converter; ReduceMean's axes move to an input at 18, ...)."""
    import onnx
    from onnx import version_converter

    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if current is None or current >= opset:
        return model
    try:
        converted = version_converter.convert_version(model, opset)
    except Exception as exc:  # onnx raises plain RuntimeErrors / ValidationErrors from C++
        raise CalibrationError(f"cannot move the Q/DQ graph from opset {current} to {opset} (needed for FP16 "
                               f"Q/DQ): {exc}") from exc
    return converted


def convert_qdq_to_fp16(int8_path: str | Path, out_path: str | Path, keep_fp32=()) -> dict:
    """Write the FP16 form of a calibrated Q/DQ graph; return the details the manifest records for it."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    int8_path, out_path = Path(int8_path), Path(out_path)
    model = to_opset(onnx.load(str(int8_path), load_external_data=True))
    ops = keep_fp32_ops()
    kept_by_name = [n.name for n in model.graph.node if n.name and any(fnmatch.fnmatchcase(n.name, p) for p in keep_fp32)]
    try:
        # Q/DQ are not blocked: their float inputs (data, scales) and outputs become FP16 (module docstring).
        converted = convert_float_to_float16(model, keep_io_types=True, op_block_list=list(ops),
                                             node_block_list=kept_by_name)
        topological_sort(converted.graph)  # the converter appends its casts last; parsers read nodes in order
        onnx.checker.check_model(converted, full_check=True)
    except CalibrationError:
        raise
    except Exception as exc:  # the converter and the checker raise plain Exceptions and onnx's own errors
        raise CalibrationError(f"cannot convert {int8_path.name} to a valid FP16 Q/DQ graph: {exc}") from exc
    onnx.save(converted, str(out_path))
    opset = next(o.version for o in converted.opset_import if o.domain in ("", "ai.onnx"))
    scales = qdq_scale_types(converted)
    return {"compute": "fp16", "builds": "tensorrt_strongly_typed", "source": int8_path.name,
            "converter": "onnxruntime.transformers.float16", "opset": opset, "keep_fp32_ops": list(ops),
            "keep_fp32": list(keep_fp32),
            "fp32_nodes": [n.name for n in model.graph.node if n.name and (n.op_type in ops or n.name in kept_by_name)],
            "qdq_nodes": scales["nodes"], "scale_type": scales["type"], "min_scale": scales["min"],
            "subnormal_scales": scales["subnormal"]}


def topological_sort(graph) -> None:
    """Reorder the graph's nodes so that each comes after the producers of its inputs."""
    from runtime.common.onnx_order import GraphOrderError, topological_sort as order

    try:
        order(graph)
    except GraphOrderError as exc:
        raise CalibrationError(f"the FP16 Q/DQ graph cannot be ordered: {exc}") from exc


def qdq_scale_types(model) -> dict:
    """The element type of every Q/DQ scale (one name, or 'mixed'), how many Q/DQ nodes, the smallest scale."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    types, values = set(), []
    nodes = [n for n in model.graph.node if n.op_type in QDQ_OPS]
    for node in nodes:
        scale = inits.get(node.input[1])
        if scale is None:
            types.add("computed")
            continue
        types.add(TensorProto.DataType.Name(scale.data_type).lower())
        values.append(np.abs(numpy_helper.to_array(scale).astype(np.float64)).ravel())
    flat = np.concatenate(values) if values else np.zeros(0)
    return {"nodes": len(nodes), "type": types.pop() if len(types) == 1 else ("mixed" if types else None),
            "min": float(flat.min()) if flat.size else None,
            "subnormal": int(((flat > 0) & (flat < FP16_MIN_NORMAL)).sum())}


def gate_fp16_qdq(fp32_path, candidate_path, heldout, min_agreement: float, min_cosine: float,
                  threads: int | None = None, reference=None):
    """The INT8 gate's comparison (calibration.gate.compare) of this graph against the FP32 model, on ONNX
    Runtime's CPU provider (the graph is TensorRT's; OpenVINO is not what will run it)."""
    from calibration.gate import compare, run_logits

    if reference is None:
        reference = run_logits(fp32_path, heldout, threads, backend="onnxruntime")
    candidate = run_logits(candidate_path, heldout, threads, backend="onnxruntime")
    return compare(reference, candidate, min_agreement, min_cosine)


def stage_fp16_qdq(fp32_path, int8_path, staging, heldout, min_agreement: float, min_cosine: float,
                   threads: int | None = None, log=lambda _: None, source_name: str = "model.int8.onnx",
                   keep_fp32=()):
    """Convert and gate; returns (file details, gate report). The file is left at `staging` only when it
    passed; a failed gate is reported, not raised: the CPU's Q/DQ graph stays usable."""
    staging = Path(staging)
    try:
        details = {**convert_qdq_to_fp16(int8_path, staging, keep_fp32), "source": source_name}  # int8_path: staged
    except CalibrationError as exc:
        staging.unlink(missing_ok=True)
        log(f"  TensorRT INT8 graph {TRT_INT8_NAME}: not written: {exc}")
        return {}, {"graph": TRT_INT8_NAME, "passed": False, "problems": [str(exc)]}
    result = gate_fp16_qdq(fp32_path, staging, heldout, min_agreement, min_cosine, threads)
    report = {**result.as_dict(), "graph": TRT_INT8_NAME, "compare": "FP32 model vs Q/DQ FP16 graph, ONNX Runtime CPU",
              "problems": result.comparison.problems(min_cosine=min_cosine, min_agreement=min_agreement)}
    log(f"  TensorRT INT8 graph {TRT_INT8_NAME} (Q/DQ, FP16 elsewhere): {result.line()}")
    if not result.passed:
        staging.unlink(missing_ok=True)
    return details, report
