"""FP16 numerics on the CPU: an FP16 variant of the graph, run in ONNX Runtime, against FP32.

The variant keeps the same ops in FP32 that model.fp16.onnx and the TensorRT builder keep there (normalization,
softmax, and the reductions/pow/sqrt they are built from), with FP32 inputs/outputs and Casts at
the boundaries. Passing means: cosine >= 0.999 and the same top-1 on every parity clip. The same
check is also run with nothing kept in FP32 and LayerNormalization spelled out as the primitive ops
a plain FP16 kernel would run, which shows what breaks without the constraints (x² of activations
above 256 overflows FP16's 65504 and the norm collapses).

FP16 is emulated with Casts rather than by running the float16 graph: ONNX Runtime's CPU provider
lacks FP16 kernels for many ops, runs those in FP32, and then removes the FP32→FP16→FP32 cast pairs
between them, so the float16 graph on a CPU keeps activations in FP32 (see `fp16_variant`).
Comparisons go through runtime.common.comparator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from runtime.cli.errors import TubeletError

# Computed in FP32 in the FP16 graph (export/fp16_graph.py) and its emulation here; the weakly typed
# builder pins the same layer kinds (runtime/backends/tensorrt/build.py).
KEEP_FP32_OPS = ("LayerNormalization", "GroupNormalization", "InstanceNormalization", "Softmax", "LogSoftmax",
                 "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp", "Pow", "Sqrt")
MIN_COSINE = 0.999


class Fp16CheckError(TubeletError, RuntimeError):
    """The FP16 variant could not be built or run, or (strict) it differs from FP32 too much."""


@dataclass
class Fp16Report:
    keep_fp32_ops: list[str]
    layernorm_decomposed: bool
    clips: int
    min_cosine: float
    max_abs_error: float
    top1_agreement: float
    nonfinite_outputs: int
    passed: bool
    min_cosine_required: float = MIN_COSINE
    method: str = "fp16 storage emulation (Cast pairs) in ONNX Runtime CPU"

    def as_dict(self) -> dict:
        import math

        # Uncomputed numbers (non-finite outputs) become None, which strict JSON can hold.
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def fp16_variant(model, keep_fp32_ops=KEEP_FP32_OPS, decompose_layernorm: bool = False):
    """An FP16-storage copy of an ONNX model (a ModelProto with its weights loaded); FP32 at its inputs/outputs.

    Every float tensor that an op outside `keep_fp32_ops` reads or writes is rounded to FP16 through a
    Cast(FLOAT16)→Cast(FLOAT) pair (weights are rounded in place), so values above 65504 become inf
    exactly as they would in an FP16 engine; the ops themselves compute in FP32 between roundings,
    like TensorRT's FP16 kernels that accumulate in FP32. ONNX Runtime's CPU provider cannot be
    trusted to run a float16 graph in FP16: its InsertCastTransformer silently moves float16 nodes
    that lack CPU kernels back to FP32, which would hide overflows.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = decompose_layer_norms(model) if decompose_layernorm else onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    floats = _float_tensors(model)
    keep = set(keep_fp32_ops)
    low = [n for n in graph.node if n.op_type not in keep]
    produced = {o for n in low for o in n.output if o in floats}
    consumed = {i for n in low for i in n.input if i in floats}
    initializers = {t.name: t for t in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    head, rewired = [], {}
    for name in sorted(consumed - produced):
        if name in initializers and all(c.op_type not in keep for c in consumers[name]):
            array = numpy_helper.to_array(initializers[name])
            # Clipped to FP16's range first, as the FP16 converter does with weights (mask constants
            # such as float32's minimum would otherwise become -inf).
            rounded = np.clip(array, -65504.0, 65504.0).astype(np.float16).astype(np.float32)
            initializers[name].CopyFrom(numpy_helper.from_array(rounded, name))
        else:  # a graph input, or a weight an FP32 op shares: round a copy for the FP16 ops only
            head += _round_pair(helper, TensorProto, name, name + "__fp16")
            rewired[name] = name + "__fp16"
    for node in low:
        for i, name in enumerate(node.input):
            if name in rewired:
                node.input[i] = rewired[name]
    nodes = list(head)
    for node in graph.node:
        nodes.append(node)
        for i, name in enumerate(node.output):
            if name in produced and node.op_type not in keep:
                node.output[i] = name + "__fp32"
                nodes += _round_pair(helper, TensorProto, name + "__fp32", name)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def _round_pair(helper, TensorProto, source: str, target: str):
    return [helper.make_node("Cast", [source], [target + "__h"], to=TensorProto.FLOAT16),
            helper.make_node("Cast", [target + "__h"], [target], to=TensorProto.FLOAT)]


def _float_tensors(model) -> set[str]:
    import onnx
    from onnx import TensorProto

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # inference is best effort; untyped tensors are simply not rounded
        inferred = model
    graph = inferred.graph
    names = {t.name for t in graph.initializer if t.data_type == TensorProto.FLOAT}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            names.add(value.name)
    return names


def emulated_outputs(model, feeds: list[dict], keep_fp32_ops=KEEP_FP32_OPS, decompose_layernorm: bool = False):
    """(FP32 outputs, FP16-storage-emulated outputs) of a loaded model's first output on each feed."""
    fp32 = _session(model)
    fp16 = _session(fp16_variant(model, keep_fp32_ops, decompose_layernorm), optimize=False)
    expected = [fp32.run(None, feed)[0] for feed in feeds]
    got = [fp16.run(None, feed)[0] for feed in feeds]
    return expected, got


def check_fp16(model_path: str | Path, input_name: str, clips: list[np.ndarray], keep_fp32_ops=KEEP_FP32_OPS,
               decompose_layernorm: bool = False, min_cosine: float = MIN_COSINE) -> Fp16Report:
    """Run FP32 and the FP16 variant on the same clips and compare the first output (runtime.common.comparator)."""
    import onnx

    from runtime.common.comparator import compare

    model = onnx.load(str(model_path), load_external_data=True)
    expected, got = emulated_outputs(model, [{input_name: clip} for clip in clips], keep_fp32_ops, decompose_layernorm)
    result = compare(expected, got)
    return Fp16Report(list(keep_fp32_ops), decompose_layernorm, result.rows, result.min_cosine,
                      result.max_abs_error, result.top1_agreement, result.candidate.count,
                      result.passes(min_cosine=min_cosine, min_agreement=1.0), min_cosine)


def check_artifact_fp16(model_path: str | Path, spec, pre, seed: int = 0) -> dict:
    """The manifest's `fp16_cpu` entry: the engine's FP32-kept set, and the same with nothing kept."""
    from export.validate import parity_inputs

    clips = parity_inputs(spec, pre, seed)
    kept = check_fp16(model_path, spec.name, clips)
    bare = check_fp16(model_path, spec.name, clips, keep_fp32_ops=(), decompose_layernorm=True)
    return {"passed": kept.passed, "norms_fp32": kept.as_dict(), "nothing_fp32": bare.as_dict(),
            "note": "ONNX Runtime CPU, FP16 variant vs FP32 on the parity clips; nothing_fp32 spells "
                    "LayerNormalization out as primitive ops, as a plain FP16 kernel would compute it"}


def decompose_layer_norms(model):
    """Replace each LayerNormalization (negative axis) by ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    graph = model.graph
    nodes = []
    for index, node in enumerate(graph.node):
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), -1)
        if node.op_type != "LayerNormalization" or axis >= 0 or sum(1 for o in node.output if o) > 1:
            nodes.append(node)
            continue
        eps = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon"), 1e-5)
        p = f"_ln{index}_"
        axes = list(range(axis, 0))
        graph.initializer.extend([numpy_helper.from_array(np.array(eps, np.float32), p + "eps"),
                                  numpy_helper.from_array(np.array(2.0, np.float32), p + "two")])
        if opset >= 18:
            graph.initializer.append(numpy_helper.from_array(np.array(axes, np.int64), p + "axes"))
            mean = lambda i, o: helper.make_node("ReduceMean", [i, p + "axes"], [o], keepdims=1)  # noqa: E731
        else:
            mean = lambda i, o: helper.make_node("ReduceMean", [i], [o], axes=axes, keepdims=1)  # noqa: E731
        x, out = node.input[0], node.output[0]
        nodes += [mean(x, p + "mean"), helper.make_node("Sub", [x, p + "mean"], [p + "d"]),
                  helper.make_node("Pow", [p + "d", p + "two"], [p + "sq"]), mean(p + "sq", p + "var"),
                  helper.make_node("Add", [p + "var", p + "eps"], [p + "ve"]),
                  helper.make_node("Sqrt", [p + "ve"], [p + "sd"]),
                  helper.make_node("Div", [p + "d", p + "sd"], [p + "n"])]
        if len(node.input) > 2 and node.input[2]:
            nodes += [helper.make_node("Mul", [p + "n", node.input[1]], [p + "s"]),
                      helper.make_node("Add", [p + "s", node.input[2]], [out])]
        else:
            nodes.append(helper.make_node("Mul", [p + "n", node.input[1]], [out]))
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def _session(model, optimize: bool = True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not optimize:
        # ORT's fusions (LayerNormFusion, ...) would re-fuse spelled-out ops into kernels that compute
        # in FP32 internally, hiding exactly the FP16 behaviour this check looks at.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        if model.ByteSize() < 2**31 - 2**26:
            return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return _session_from_file(ort, model, options)
    except Exception as exc:  # ORT raises its own types (NotImplemented, Fail, ...)
        raise Fp16CheckError(f"ONNX Runtime cannot load the graph: {exc}") from exc


def _session_from_file(ort, model, options):
    """Models past protobuf's 2 GB cap go through a temporary file with external weights."""
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save_model(model, str(path), save_as_external_data=True, location="model.onnx.data")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
