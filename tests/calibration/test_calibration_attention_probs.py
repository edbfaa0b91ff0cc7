"""Attention probabilities x V stays in float: a Softmax output in symmetric int8 rounds most of its
probabilities to zero (steps of 1/127), which cost the bundled model its INT8 agreement with FP32."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")
onnx = pytest.importorskip("onnx", reason="needs onnx to build and read graphs")

from calibration.gate import int8_census  # noqa: E402
from calibration.quantize import QuantizeOptions, attention_prob_matmuls, quantize_with_gate  # noqa: E402
from calibration.reader import ClipReader, ClipSample  # noqa: E402

TOKENS, DIM = 16, 8


def attention_graph(path, reshape_probs: bool = False):
    """One self-attention head and a linear head: q = x Wq, p = softmax(q x^T), h = p x, logits = mean(h) Wo."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((DIM, DIM)).astype(np.float32), "wq"),
             numpy_helper.from_array(rng.standard_normal((DIM, 3)).astype(np.float32), "wo"),
             numpy_helper.from_array(np.array([-1, TOKENS, TOKENS], np.int64), "shape")]
    probs = "p"
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"], name="mm_query"),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "xt"], ["scores"], name="mm_scores"),
             helper.make_node("Softmax", ["scores"], ["p"], axis=-1)]
    if reshape_probs:  # exporters put shape-only ops between the Softmax and its MatMul
        nodes.append(helper.make_node("Reshape", ["p", "shape"], ["p2"]))
        probs = "p2"
    nodes += [helper.make_node("MatMul", [probs, "x"], ["h"], name="mm_probs_v"),
              helper.make_node("ReduceMean", ["h"], ["pooled"], axes=[1], keepdims=0),
              helper.make_node("MatMul", ["pooled", "wo"], ["logits"], name="mm_head")]
    graph = helper.make_graph(nodes, "attention", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", TOKENS, DIM])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def clips(count, seed):
    rng = np.random.default_rng(seed)
    return ClipReader([ClipSample(rng.standard_normal((TOKENS, DIM)).astype(np.float32), None, f"s{i}", 0, 0, 0)
                       for i in range(count)], "x")


@pytest.mark.parametrize("reshape_probs", [False, True])
def test_the_softmax_fed_matmul_is_found(tmp_path, reshape_probs):
    assert attention_prob_matmuls(attention_graph(tmp_path / "a.onnx", reshape_probs)) == ["mm_probs_v"]


def test_attention_probabilities_stay_in_float_by_default(tmp_path):
    model = attention_graph(tmp_path / "a.onnx")
    loose = dict(min_agreement=0.0, min_cosine=-1.0, max_excluded=0)
    report = quantize_with_gate(model, tmp_path / "q.onnx", clips(12, 1), clips(6, 2), QuantizeOptions(**loose))
    assert report.float_by_rule == ["mm_probs_v"] and report.excluded == []
    assert report.census == {"MatMul": {"int8": 3, "total": 4}}
    assert "attention probabilities x V in float: 1" in report.summary()
    assert report.attempts[0]["excluded"] == 0  # the search's budget counts only what it kept in float
    quantized = onnx.load(str(tmp_path / "q.onnx"))
    producer = {out: node.op_type for node in quantized.graph.node for out in node.output}
    probs_v = next(node for node in quantized.graph.node if node.name == "mm_probs_v")
    assert producer[probs_v.input[0]] == "Softmax"  # no Q/DQ pair on the probabilities

    every = quantize_with_gate(model, tmp_path / "all.onnx", clips(12, 1), clips(6, 2),
                               QuantizeOptions(**loose, float_attention_probs=False))
    assert every.float_by_rule == [] and int8_census(tmp_path / "all.onnx", ("MatMul",)) == {
        "MatMul": {"int8": 4, "total": 4}}
