"""The INT8 gate judges on the engine that will run the INT8 model on this machine."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")

from calibration.gate import compare, gate_backend, run_logits  # noqa: E402
from tests.fixtures.mlp_artifact import add_int8_model, clips, make_mlp_artifact  # noqa: E402


class Reader:
    """The two things run_logits reads from a ClipReader."""

    input_name = "pixel_values"

    def __init__(self, x):
        self.samples = list(x)
        self._x = x

    def batches(self):
        for i in range(0, len(self._x), 4):
            yield self._x[i:i + 4]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    folder = make_mlp_artifact(tmp_path_factory.mktemp("gate") / "mlp")
    return add_int8_model(folder, clips(32, seed=7))


def _cpu_only():
    import onnxruntime

    return not {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(onnxruntime.get_available_providers())


def test_gate_runs_int8_on_openvino_where_auto_would(mlp, monkeypatch):
    pytest.importorskip("openvino", reason="needs the [openvino] extra")
    from runtime.backends import openvino

    if not _cpu_only():
        pytest.skip("this onnxruntime has an NVIDIA provider: auto stays on ONNX Runtime")
    assert gate_backend(mlp / "model.int8.onnx") == "onnxruntime"  # a few kB: auto keeps small models on ORT
    monkeypatch.setattr(openvino, "SMALL_MODEL_BYTES", 0)  # as if it were a real model
    reader = Reader(clips(12, seed=4))
    assert gate_backend(mlp / "model.int8.onnx") == "openvino"
    reference, candidate = run_logits(mlp / "model.onnx", reader), run_logits(mlp / "model.int8.onnx", reader)
    assert candidate.backend == "openvino"
    on_ort = run_logits(mlp / "model.int8.onnx", reader, backend="onnxruntime")
    assert on_ort.backend == "onnxruntime"
    np.testing.assert_allclose(candidate, on_ort, atol=1e-3 * np.abs(on_ort).max())
    result = compare(reference, candidate, min_agreement=0.5, min_cosine=0.9)
    assert result.backend == "openvino" and result.as_dict()["backend"] == "openvino"
    assert "held-out clips on openvino: PASS" in result.line()


def test_gate_stays_on_onnxruntime_without_openvino_and_for_qoperator_graphs(mlp, tmp_path, monkeypatch):
    import onnxruntime.quantization as q

    data = clips(8, seed=2)

    class Calib(q.CalibrationDataReader):
        def __init__(self):
            self.rows = iter([{"pixel_values": data[i:i + 1]} for i in range(len(data))])

        def get_next(self):
            return next(self.rows, None)

    qop = tmp_path / "qop.onnx"
    q.quantize_static(str(mlp / "model.onnx"), str(qop), Calib(), quant_format=q.QuantFormat.QOperator,
                      op_types_to_quantize=["MatMul", "Gemm"], activation_type=q.QuantType.QUInt8)
    assert gate_backend(qop) == "onnxruntime"  # ONNX Runtime's own form; OpenVINO has no QGemm
    assert run_logits(qop, Reader(clips(4))).backend == "onnxruntime"
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert gate_backend(mlp / "model.int8.onnx") == "onnxruntime"
    logits = run_logits(mlp / "model.int8.onnx", Reader(clips(4)))
    assert compare(logits, logits).backend == "onnxruntime"


def test_the_whole_gate_runs_on_the_int8_models_engine(tmp_path, monkeypatch):
    """Reference, attempts and the search's trials all on the engine the INT8 file will run on, even where
    the FP32 file alone would pick another (auto decides by the file's size)."""
    pytest.importorskip("openvino", reason="needs the [openvino] extra")
    from calibration import quantize
    from calibration.quantize import QuantizeOptions, quantize_with_gate
    from calibration.reader import ClipReader
    from tests.fixtures.calib_helpers import outlier_clips, outlier_graph

    real, seen = quantize.run_logits, []

    def spy(path, reader, threads=None, backend=None):
        seen.append((Path(path).name, backend))
        return real(path, reader, threads, backend)

    monkeypatch.setattr(quantize, "run_logits", spy)
    monkeypatch.setattr(quantize, "gate_backend", lambda path: "openvino")  # as if the INT8 file were large
    model = outlier_graph(tmp_path / "m.onnx")
    calib, held = ClipReader(outlier_clips(16, 1), "x"), ClipReader(outlier_clips(16, 2), "x")
    report = quantize_with_gate(model, tmp_path / "q.onnx", calib, held, QuantizeOptions(max_excluded=2))
    assert seen[0] == ("prepared.onnx", "openvino")  # the FP32 reference
    assert {name for name, _ in seen} == {"prepared.onnx", "q.onnx", "single.onnx"}
    assert {backend for _, backend in seen} == {"openvino"}
    assert report.gate.backend == "openvino" and report.excluded == ["mm_outlier"]
