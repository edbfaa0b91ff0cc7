"""CPU FP16 numerics: norms kept in FP32 hold; a plain FP16 norm over large activations breaks."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the FP16 check rewrites ONNX graphs")
pytest.importorskip("onnxruntime", reason="the FP16 check runs ONNX Runtime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from export.fp16_check import check_fp16, decompose_layer_norms, fp16_variant  # noqa: E402


def _layernorm_head(tmp_path, hidden=16, classes=3):
    """LayerNorm → MatMul → mean over tokens: a ViT's last norm and classifier."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.ones(hidden, np.float32), "g"),
             numpy_helper.from_array(np.zeros(hidden, np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal((hidden, classes)).astype(np.float32), "w"),
             helper.make_tensor("ax", TensorProto.INT64, [1], [1])]
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["n"], axis=-1, epsilon=1e-5),
             helper.make_node("MatMul", ["n", "w"], ["m"]),
             helper.make_node("ReduceMean", ["m", "ax"], ["logits"], keepdims=0)]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, hidden])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path = tmp_path / "head.onnx"
    onnx.save(model, str(path))
    return path


def _clips(scale):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((3, 4, 16)) * scale).astype(np.float32)]


def test_norm_kept_fp32_holds_on_activations_that_overflow_fp16_squares(tmp_path):
    # |x - mean| up to ~1000: x² reaches ~1e6, far above FP16's 65504.
    report = check_fp16(_layernorm_head(tmp_path), "x", _clips(400.0))
    assert report.passed and report.min_cosine >= 0.999 and report.top1_agreement == 1.0
    assert report.nonfinite_outputs == 0


def test_plain_fp16_norm_breaks_on_the_same_clips(tmp_path):
    report = check_fp16(_layernorm_head(tmp_path), "x", _clips(400.0), keep_fp32_ops=(), decompose_layernorm=True)
    assert not report.passed
    assert report.min_cosine < 0.5  # the variance is inf, the norm outputs zeros: the logits collapse


def test_plain_fp16_norm_is_fine_on_small_activations(tmp_path):
    # The same unprotected graph passes when x² stays below 65504: the failure above is the overflow.
    report = check_fp16(_layernorm_head(tmp_path), "x", _clips(1.0), keep_fp32_ops=(), decompose_layernorm=True)
    assert report.passed


def test_decomposition_is_exact_in_fp32(tmp_path):
    import onnxruntime as ort

    model = onnx.load(str(_layernorm_head(tmp_path)))
    split = decompose_layer_norms(model)
    assert "LayerNormalization" not in {n.op_type for n in split.graph.node}
    x = _clips(3.0)[0]
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]  # noqa: E731
    np.testing.assert_allclose(run(split), run(model), rtol=1e-4, atol=1e-5)


def test_variant_rounds_every_fp16_tensor_and_keeps_io_fp32(tmp_path):
    import onnxruntime as ort

    model = onnx.load(str(_layernorm_head(tmp_path)))
    variant = fp16_variant(model, keep_fp32_ops=("LayerNormalization",))
    casts = [n for n in variant.graph.node if n.op_type == "Cast"]
    assert casts and {i.type.tensor_type.elem_type for i in variant.graph.input} == {TensorProto.FLOAT}
    weight = next(t for t in variant.graph.initializer if t.name == "w")
    w = numpy_helper.to_array(weight)
    np.testing.assert_array_equal(w, w.astype(np.float16).astype(np.float32))  # weights rounded in place
    out = ort.InferenceSession(variant.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": _clips(1.0)[0]})[0]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, out.astype(np.float16).astype(np.float32))  # output went through FP16


@pytest.mark.export
def test_every_export_records_fp16_numerics(tiny_artifact_session):
    from runtime.artifact import load_artifact

    fp16 = load_artifact(tiny_artifact_session).manifest.validation["fp16_cpu"]
    assert fp16["passed"] is True and fp16["norms_fp32"]["min_cosine"] >= 0.999
    assert fp16["norms_fp32"]["clips"] == 6 and fp16["nothing_fp32"]["layernorm_decomposed"] is True
