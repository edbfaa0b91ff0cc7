"""The export parity gates and the INT8 gate judge NaN/Inf first, through the one comparator.

A graph returning all-NaN used to pass the export gate with `max_abs_error 0.0, top-1 agreement
1.0` (`max(0.0, nan)` is 0; the argmax of a NaN row is 0). Each test also runs the same graph
without the fault, so the gate is shown to pass what it should.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.export

from export.validate import ParityError, check_atol, check_parity  # noqa: E402
from runtime.artifact import InputSpec, Preprocessing  # noqa: E402
from runtime.backends.onnxruntime import OnnxRuntimeBackend  # noqa: E402

SPEC = InputSpec(name="pixel_values", layout="NTCHW", frames=2, height=8, width=8)
PRE = Preprocessing(resize_shortest_edge=8, resize_height=None, resize_width=None, crop_height=8, crop_width=8,
                    mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
CLASSES = 3


def weights() -> np.ndarray:
    size = SPEC.frames * 3 * SPEC.height * SPEC.width
    return np.random.default_rng(0).standard_normal((size, CLASSES)).astype(np.float32) * 0.05


class Linear(torch.nn.Module):
    """The PyTorch side: logits = flatten(clip) @ W."""

    def __init__(self):
        super().__init__()
        self.weight = torch.from_numpy(weights())

    def forward(self, pixel_values):
        return pixel_values.flatten(1) @ self.weight


def linear_onnx(path, add: float = 0.0):
    """The same linear map as an ONNX graph, plus a constant (NaN/Inf to break it)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Flatten", ["pixel_values"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "W"], ["mm"]),
             helper.make_node("Add", ["mm", "bias"], ["logits"])]
    graph = helper.make_graph(
        nodes, "linear", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 2, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=[numpy_helper.from_array(weights(), "W"),
                     numpy_helper.from_array(np.full(CLASSES, add, np.float32), "bias")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def parity(path, **kwargs):
    with OnnxRuntimeBackend(path, device="cpu") as backend:
        return check_parity(Linear(), backend, SPEC, PRE, **kwargs)


def test_a_faithful_graph_passes(tmp_path):
    report = parity(linear_onnx(tmp_path / "ok.onnx"))
    assert report.passed and report.max_abs_error <= 1e-4 and report.top1_agreement == 1.0 and report.clips == 6


@pytest.mark.parametrize("fault, counted", [(float("nan"), "NaN"), (float("inf"), "Inf")])
def test_an_all_nonfinite_graph_fails_the_export_gate(tmp_path, fault, counted):
    path = linear_onnx(tmp_path / "bad.onnx", add=fault)
    values = 6 * CLASSES
    with pytest.raises(ParityError, match=rf"non-finite outputs: ONNX Runtime has .* of {values} values") as caught:
        parity(path, atol=1.0)
    assert counted in str(caught.value) and "NaN/Inf" in str(caught.value)
    report = parity(path, strict=False)  # --allow-parity-failure: recorded as failed, in strict JSON
    assert not report.passed
    figures = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    assert figures["max_abs_error"] is None and figures["passed"] is False
    assert figures["nonfinite"]["onnx"]["nan" if counted == "NaN" else "inf"] == values


def test_the_tolerance_must_be_a_finite_non_negative_number():
    for bad in (float("nan"), float("inf"), -1e-4):
        with pytest.raises(ValueError, match="atol must be a finite number >= 0"):
            check_atol(bad)
    assert check_atol(0) == 0.0


def test_videotext_gate_fails_on_nan_too(tmp_path):
    from export.validate import gate

    expected = [np.ones((2, 4), np.float32)]
    with pytest.raises(ParityError, match="text graph: .*non-finite outputs: ONNX Runtime has 1 NaN"):
        got = [np.ones((2, 4), np.float32)]
        got[0][1, 2] = np.nan
        gate("text graph", expected, got, [2], 1e-4, strict=True)
    assert gate("text graph", expected, [e.copy() for e in expected], [2], 1e-4, strict=True).passed


def test_int8_gate_fails_on_nonfinite_logits_on_either_side():
    from calibration.gate import compare, damage

    reference = np.random.default_rng(1).standard_normal((8, 5))
    assert compare(reference, reference + 1e-6).passed
    broken = reference.copy()
    broken[3] = np.nan
    for ref, cand, side in ((reference, broken, "INT8"), (broken, reference, "FP32")):
        result = compare(ref, cand, min_agreement=0.0, min_cosine=-1.0)
        assert not result.passed and f"{side} has 5 NaN" in result.line()
        assert json.loads(json.dumps(result.as_dict(), allow_nan=False))["min_cosine"] is None
    assert damage(reference, broken) == float("inf")
