"""model.int8.fp16.onnx: the Q/DQ graph strongly typed TensorRT builds INT8 from, with FP16 compute elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")
onnx = pytest.importorskip("onnx", reason="needs onnx to read the graphs")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from calibration import int8 as int8_module  # noqa: E402
from calibration.int8 import INT8_NAME, quantize_artifact  # noqa: E402
from calibration.qdq_fp16 import QDQ_OPSET, TRT_INT8_NAME, convert_qdq_to_fp16, stage_fp16_qdq  # noqa: E402
from runtime.artifact import load_artifact  # noqa: E402
from runtime.backends.tensorrt.build import STRONGLY_TYPED, WEAKLY_TYPED, EngineBuildError  # noqa: E402
from runtime.backends.tensorrt.artifact_engines import graph_builds, trtexec_lines  # noqa: E402
from runtime.backends.tensorrt.build import BuildOptions  # noqa: E402

FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16


def _typed(model) -> dict[str, int]:
    """Every tensor's element type, after shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    types = {t.name: t.data_type for t in inferred.graph.initializer}
    for value in [*inferred.graph.input, *inferred.graph.output, *inferred.graph.value_info]:
        types[value.name] = value.type.tensor_type.elem_type
    return types


def _qdq(name, scale, axis=None):
    """Q→DQ of tensor `name` with a symmetric int8 scale (initializers and nodes)."""
    inits = [numpy_helper.from_array(np.array(scale, np.float32), f"{name}_s"),
             numpy_helper.from_array(np.zeros(np.shape(scale), np.int8), f"{name}_z")]
    extra = {} if axis is None else {"axis": axis}
    nodes = [helper.make_node("QuantizeLinear", [name, f"{name}_s", f"{name}_z"], [f"{name}_q"], name=f"{name}_Q", **extra),
             helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"],
                              name=f"{name}_DQ", **extra)]
    return nodes, inits


def block_graph(path):
    """A transformer block's shape in Q/DQ at opset 17, as the calibration step writes it: LayerNorm, a
    quantized MatMul (activation per-tensor, weights per-channel), Softmax, Pow/ReduceMean/Sqrt, FP32 I/O."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 8)).astype(np.float32) * 0.3
    w_scale = np.abs(w).max(axis=0) / 127.0
    wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
    act_nodes, act_inits = _qdq("ln", 4.0 / 127.0)
    nodes = [helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["ln"], name="norm", axis=-1),
             *act_nodes,
             helper.make_node("DequantizeLinear", ["wq", "w_s", "w_z"], ["w_dq"], name="w_DQ", axis=1),
             helper.make_node("MatMul", ["ln_dq", "w_dq"], ["mm"], name="fc"),
             helper.make_node("Softmax", ["mm"], ["sm"], name="attn_softmax", axis=-1),
             helper.make_node("Pow", ["sm", "two"], ["sq"], name="sq"),
             helper.make_node("ReduceMean", ["sq"], ["ms"], name="mean", axes=[-1], keepdims=1),
             helper.make_node("Sqrt", ["ms"], ["rms"], name="rms"),
             helper.make_node("Add", ["mm", "rms"], ["y"], name="residual")]
    inits = [numpy_helper.from_array(np.ones(8, np.float32), "gamma"), numpy_helper.from_array(np.zeros(8, np.float32), "beta"),
             numpy_helper.from_array(wq, "wq"), numpy_helper.from_array(w_scale.astype(np.float32), "w_s"),
             numpy_helper.from_array(np.zeros(8, np.int8), "w_z"), numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             *act_inits]
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", FLOAT, ["n", 8])],
                              [helper.make_tensor_value_info("y", FLOAT, ["n", 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def test_block_converts_to_fp16_compute_with_fp16_qdq_and_fp32_norms(tmp_path):
    import onnxruntime as ort

    src = block_graph(tmp_path / "block.int8.onnx")
    details = convert_qdq_to_fp16(src, tmp_path / "block.int8.fp16.onnx")
    model = onnx.load(str(tmp_path / "block.int8.fp16.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [QDQ_OPSET]
    types = _typed(model)
    nodes = {n.name: n for n in model.graph.node}
    # FP32 at the edges; the norm ops compute in FP32 (inputs and outputs), the MatMul and Add in FP16.
    assert types["x"] == FLOAT and types["y"] == FLOAT
    for name in ("norm", "attn_softmax", "sq", "mean", "rms"):
        node = nodes[name]
        assert types[node.input[0]] == FLOAT and types[node.output[0]] == FLOAT, name
    assert {types[i] for i in nodes["fc"].input} == {HALF} and types[nodes["fc"].output[0]] == HALF
    assert types[nodes["residual"].output[0]] == HALF
    # Q/DQ typed as ModelOpt's FP16 form: FP16 data and scales, int8 zero points of 0, DQ straight into MatMul.
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert len(qdq) == 3 and details["qdq_nodes"] == 3 and details["scale_type"] == "float16"
    inits = {t.name: t for t in model.graph.initializer}
    for node in qdq:
        assert inits[node.input[1]].data_type == HALF and inits[node.input[2]].data_type == TensorProto.INT8
        assert not numpy_helper.to_array(inits[node.input[2]]).any()
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    assert [producers[i] for i in nodes["fc"].input] == ["DequantizeLinear", "DequantizeLinear"]
    assert details["fp32_nodes"] == ["norm", "attn_softmax", "sq", "mean", "rms"] and details["subnormal_scales"] == 0
    # It runs, and computes what the FP32 Q/DQ graph computes, to FP16 precision.
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    cpu = ["CPUExecutionProvider"]
    want = ort.InferenceSession(str(src), providers=cpu).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(tmp_path / "block.int8.fp16.onnx"), providers=cpu).run(None, {"x": x})[0]
    assert got.dtype == np.float32 and np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2)


def test_calibration_writes_gates_and_records_the_tensorrt_graph(synth_artifact):
    quantize_artifact(synth_artifact, "synthetic://?clips&seed=5", clips=12)
    manifest = load_artifact(synth_artifact).manifest  # every hash, the new file's included
    entry = manifest.files[TRT_INT8_NAME]
    assert (entry.kind, entry.precision, entry.opset) == ("onnx", "int8", QDQ_OPSET)
    assert entry.details["compute"] == "fp16" and entry.details["builds"] == "tensorrt_strongly_typed"
    assert entry.details["source"] == INT8_NAME and entry.details["fp32_nodes"]  # the tiny graph's ReduceMean
    gate = manifest.validation["int8_fp16"]
    assert gate["passed"] and gate["top1_agreement"] >= 0.99 and gate["min_cosine"] >= 0.99 and gate["clips"] == 4
    assert gate["backend"] == "onnxruntime"
    # The CPU backends keep their Q/DQ graph; strongly typed TensorRT takes the FP16 one, 8.6 the CPU's.
    assert manifest.file_of_kind("onnx", "int8") == INT8_NAME
    assert [b.onnx for b in graph_builds(manifest, STRONGLY_TYPED, "int8")] == [TRT_INT8_NAME]
    assert [b.onnx for b in graph_builds(manifest, WEAKLY_TYPED, "int8")] == [INT8_NAME]
    lines = trtexec_lines(synth_artifact, BuildOptions(precision="int8"))
    strong = next(line for line in lines if "--stronglyTyped" in line)
    weak = next(line for line in lines if line.startswith("trtexec") and "--int8" in line)
    assert f"--onnx={synth_artifact / TRT_INT8_NAME}" in strong and "--int8" not in strong
    assert f"--onnx={synth_artifact / INT8_NAME}" in weak


def test_a_failed_fp16_gate_writes_nothing_and_the_strongly_typed_build_says_why(synth_artifact, monkeypatch):
    quantize_artifact(synth_artifact, "synthetic://?clips&seed=5", clips=12)
    assert (synth_artifact / TRT_INT8_NAME).is_file()

    def unattainable(fp32, int8, staging, heldout, min_agreement, min_cosine, threads, log, **kwargs):
        return stage_fp16_qdq(fp32, int8, staging, heldout, min_agreement, 1.0 + 1e-9, threads, log, **kwargs)

    monkeypatch.setattr(int8_module, "stage_fp16_qdq", unattainable)  # a real gate nothing can pass
    quantize_artifact(synth_artifact, "synthetic://?clips&seed=6", clips=12)
    manifest = load_artifact(synth_artifact).manifest
    assert TRT_INT8_NAME not in manifest.files and not (synth_artifact / TRT_INT8_NAME).exists()
    assert not [p for p in synth_artifact.iterdir() if ".tmp-" in p.name]
    gate = manifest.validation["int8_fp16"]
    assert gate["passed"] is False and any("cosine" in p for p in gate["problems"])
    assert manifest.file_of_kind("onnx", "int8") == INT8_NAME  # the CPU's INT8 stays usable
    with pytest.raises(EngineBuildError, match="failed its gate against FP32"):
        graph_builds(manifest, STRONGLY_TYPED, "int8")
    assert [b.onnx for b in graph_builds(manifest, WEAKLY_TYPED, "int8")] == [INT8_NAME]


def test_keep_fp32_patterns_of_the_export_stay_fp32_in_the_int8_graph(tmp_path, synth_artifact):
    src = block_graph(tmp_path / "block.int8.onnx")
    details = convert_qdq_to_fp16(src, tmp_path / "kept.onnx", keep_fp32=["resid*"])
    types = _typed(onnx.load(str(tmp_path / "kept.onnx")))
    assert types["y"] == FLOAT and "residual" in details["fp32_nodes"] and details["keep_fp32"] == ["resid*"]
    residual = next(n for n in onnx.load(str(tmp_path / "kept.onnx")).graph.node if n.name == "residual")
    assert {types[i] for i in residual.input} == {FLOAT}
    # Calibration takes the patterns the export recorded for model.fp16.onnx.
    from runtime.artifact import describe_file, read_manifest, write_manifest

    manifest = read_manifest(synth_artifact)
    fp32_bytes = (synth_artifact / "model.onnx").read_bytes()  # content is irrelevant: only its recorded patterns
    (synth_artifact / "model.fp16.onnx").write_bytes(fp32_bytes)
    manifest.files["model.fp16.onnx"] = describe_file(synth_artifact / "model.fp16.onnx", "onnx", precision="fp16",
                                                      details={"keep_fp32": ["MatMul*"]})
    write_manifest(synth_artifact, manifest)
    quantize_artifact(synth_artifact, "synthetic://?clips&seed=5", clips=12)
    entry = load_artifact(synth_artifact).manifest.files[TRT_INT8_NAME]
    assert entry.details["keep_fp32"] == ["MatMul*"] and any(n.startswith("MatMul") for n in entry.details["fp32_nodes"])


def test_a_graph_the_converter_cannot_take_keeps_the_cpu_int8_and_records_why(synth_artifact, monkeypatch):
    from onnxruntime.transformers import float16

    def refuses(model, **_):
        raise ValueError("op NotInFp16 has no float16 kernel")

    monkeypatch.setattr(float16, "convert_float_to_float16", refuses)
    quantize_artifact(synth_artifact, "synthetic://?clips&seed=5", clips=12)
    manifest = load_artifact(synth_artifact).manifest
    assert INT8_NAME in manifest.files and TRT_INT8_NAME not in manifest.files
    assert not [p for p in synth_artifact.iterdir() if ".tmp-" in p.name or p.name == TRT_INT8_NAME]
    gate = manifest.validation["int8_fp16"]
    assert gate["passed"] is False and "cannot convert" in gate["problems"][0] and "NotInFp16" in gate["problems"][0]


def test_nodes_are_written_in_topological_order(tmp_path):
    from calibration.qdq_fp16 import topological_sort

    model = onnx.load(str(block_graph(tmp_path / "b.onnx")))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    topological_sort(model.graph)
    onnx.checker.check_model(model, full_check=True)  # the checker refuses unsorted graphs
    assert sorted(n.name for n in model.graph.node) == sorted(n.name for n in nodes)
    nodes[0], nodes[1] = nodes[1], nodes[0]  # a Q before the LayerNorm that produces its input: stays unsorted
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model)
