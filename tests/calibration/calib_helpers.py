"""Calibration test helpers: tiny artifacts and graphs built here, never downloaded."""

from __future__ import annotations

import numpy as np
import pytest

from testbed.artifacts import make_onnx_artifact

SYNTH_LABELS = ("moving left", "moving right", "rotating clockwise")


def synth_artifact(folder, **kwargs):
    """The torch-free 3-node artifact, with labels the synthetic world can render."""
    return make_onnx_artifact(folder, labels=SYNTH_LABELS, **kwargs)


def outlier_graph(path):
    """Two MatMuls; the first sees one huge input channel, so per-tensor int8 flattens the rest.

    Channel 0 is ~1000 and carries no class information (its weights are zero); the class lives
    in channels 1..7 at ~0.05, below half a quantization step of 1000/127. Quantizing the first
    MatMul's input destroys the decision; the second MatMul quantizes harmlessly.
    """
    onnx = pytest.importorskip("onnx", reason="needs onnx to build test graphs")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 8)).astype(np.float32)
    w1[0, :] = 0.0
    w2 = rng.standard_normal((8, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm_outlier"),
         helper.make_node("MatMul", ["h", "w2"], ["logits"], name="mm_head")], "outlier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def outlier_clips(count, seed):
    from calibration.reader import ClipSample

    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        x = (rng.standard_normal(8) * 0.05).astype(np.float32)
        x[0] = 1000.0
        samples.append(ClipSample(x, None, f"s{i}", 0, 0, 0))
    return samples
