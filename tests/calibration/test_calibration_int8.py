"""INT8 Q/DQ quantization: the gate, the sensitivity search, the artifact, the graph's form."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")
onnx = pytest.importorskip("onnx", reason="needs onnx to read the quantized graph")

from calibration.errors import CalibrationError, GateError  # noqa: E402
from calibration.int8 import INT8_NAME, quantize_artifact  # noqa: E402
from calibration.quantize import QuantizeOptions, quantize_with_gate  # noqa: E402
from calibration.reader import ClipReader  # noqa: E402
from runtime.artifact import load_artifact, sha256_file  # noqa: E402
from runtime.backends import open_backend  # noqa: E402
from tests.fixtures.calib_helpers import outlier_clips, outlier_graph  # noqa: E402


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_tiny_artifact_quantizes_passes_the_gate_and_runs_in_ort(synth_artifact, method):
    result = quantize_artifact(synth_artifact, "synthetic://?clips&seed=5", QuantizeOptions(method=method), clips=12)
    artifact = load_artifact(synth_artifact)  # every hash, the new file's included
    entry = artifact.manifest.files[INT8_NAME]
    assert (entry.kind, entry.precision) == ("onnx", "int8")
    assert entry.details["int8_ops"] == {"MatMul": {"int8": 1, "total": 1}}
    gate = artifact.manifest.validation["int8"]["gate"]
    assert gate["passed"] and gate["top1_agreement"] >= 0.99 and gate["min_cosine"] >= 0.99
    assert artifact.manifest.validation["int8"]["method"] == method
    assert result.report.calibration_clips == 12 and result.report.heldout_clips == 4
    reader = ClipReader.from_spec(artifact.manifest, "synthetic://?clips&seed=9", max_clips=8)
    batch = np.stack([s.array for s in reader.samples])
    with open_backend(artifact, "cpu", precision="int8") as int8, open_backend(artifact, "cpu") as fp32:
        a = int8.infer({"pixel_values": batch})["logits"]
        b = fp32.infer({"pixel_values": batch})["logits"]
    assert not np.array_equal(a, b)  # it really is another model...
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.85  # ...that decides like FP32 on fresh clips


def test_qdq_graph_is_the_form_tensorrt_takes(synth_artifact):
    quantize_artifact(synth_artifact, "synthetic://?clips", clips=8)
    model = onnx.load(str(synth_artifact / INT8_NAME))
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    quant = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    dequant = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert quant and dequant
    for node in quant + dequant:  # symmetric: zero point 0, int8
        zero = inits[node.input[2]]
        assert zero.dtype == np.int8 and not zero.any()
    weight_dq = [n for n in dequant if n.input[0] in inits and inits[n.input[0]].ndim == 2]
    assert len(weight_dq) == 1
    scale = inits[weight_dq[0].input[1]]
    assert scale.shape == (3,)  # per-channel: one scale per output column of the MatMul weight
    assert {a.name: a.i for a in weight_dq[0].attribute}.get("axis") == 1


def test_unquantizable_layer_fails_the_gate_with_a_report(tmp_path):
    model = outlier_graph(tmp_path / "m.onnx")
    calib, held = ClipReader(outlier_clips(16, 1), "x"), ClipReader(outlier_clips(16, 2), "x")
    with pytest.raises(GateError) as caught:
        quantize_with_gate(model, tmp_path / "q.onnx", calib, held, QuantizeOptions(max_excluded=0))
    report = caught.value.report
    assert report.gate.top1_agreement < 0.5 and not report.gate.passed
    assert report.census == {"MatMul": {"int8": 2, "total": 2}}
    assert "top-1 agreement" in str(caught.value) and "--max-excluded" in str(caught.value)
    assert not (tmp_path / "q.onnx").exists()  # a failed model is never left behind


def test_sensitivity_search_keeps_the_damaging_layer_in_float(tmp_path):
    model = outlier_graph(tmp_path / "m.onnx")
    calib, held = ClipReader(outlier_clips(16, 1), "x"), ClipReader(outlier_clips(16, 2), "x")
    report = quantize_with_gate(model, tmp_path / "q.onnx", calib, held, QuantizeOptions(max_excluded=2))
    assert report.excluded == ["mm_outlier"]
    assert report.sensitivity[0][0] == "mm_outlier" and report.sensitivity[0][1] > 10 * report.sensitivity[1][1]
    assert report.gate.passed and report.gate.top1_agreement == 1.0
    assert report.census == {"MatMul": {"int8": 1, "total": 2}}
    assert [a["passed"] for a in report.attempts] == [False, True]


def test_failed_gate_leaves_the_artifact_untouched(tmp_path, synth_artifact):
    before = (synth_artifact / "manifest.json").read_bytes()
    strict = QuantizeOptions(min_cosine=1.0, max_excluded=0)  # no int8 model is bit-exact
    with pytest.raises(GateError):
        quantize_artifact(synth_artifact, "synthetic://?clips", strict, clips=8)
    assert (synth_artifact / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in synth_artifact.iterdir()) == ["manifest.json", "model.onnx"]


def test_bad_options_and_data_are_refused(synth_artifact):
    with pytest.raises(CalibrationError, match="method 'kl' unknown"):
        quantize_artifact(synth_artifact, "synthetic://?clips", QuantizeOptions(method="kl"), clips=8)
    with pytest.raises(CalibrationError, match="uint8 with format qoperator"):
        quantize_artifact(synth_artifact, "synthetic://?clips", QuantizeOptions(activations="uint8"), clips=8)
    with pytest.raises(CalibrationError, match="must be Q/DQ"):
        quantize_artifact(synth_artifact, "synthetic://?clips", QuantizeOptions(quant_format="qoperator"), clips=8)
    with pytest.raises(CalibrationError, match="does not exist"):
        quantize_artifact(synth_artifact, str(synth_artifact / "missing"), clips=8)
    with pytest.raises(CalibrationError, match="holdout"):
        quantize_artifact(synth_artifact, "synthetic://?clips", clips=8, holdout=1.5)


def test_quantize_refuses_a_tampered_fp32_model(synth_artifact):
    from runtime.artifact import HashMismatchError

    (synth_artifact / "model.onnx").write_bytes((synth_artifact / "model.onnx").read_bytes() + b"\0")
    with pytest.raises(HashMismatchError):
        quantize_artifact(synth_artifact, "synthetic://?clips", clips=8)


@pytest.mark.export
def test_tiny_videomae_quantizes_its_matmuls(tiny_artifact):
    pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
    fp32_sha = sha256_file(tiny_artifact / "model.onnx")
    options = QuantizeOptions(min_agreement=0.75, min_cosine=0.98, max_excluded=4)
    result = quantize_artifact(tiny_artifact, "synthetic://?clips&size=40x40", options, clips=16)
    census = result.report.census
    assert census["MatMul"]["int8"] >= 8 and census["MatMul"]["total"] >= census["MatMul"]["int8"]
    manifest = json.loads((tiny_artifact / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"]["sha256"] == fp32_sha  # FP32 is never modified
    assert manifest["validation"]["int8"]["gate"]["passed"]
    with open_backend(load_artifact(tiny_artifact), "cpu", precision="int8") as backend:
        out = backend.infer({"pixel_values": np.zeros((2, 4, 3, 32, 32), np.float32)})
    assert np.isfinite(next(iter(out.values()))).all()
