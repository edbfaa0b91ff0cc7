"""An INT8 model with no op in INT8 is an error, never a model.int8.onnx that runs FP32 and passes the gate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")

from calibration.errors import CalibrationError, NothingQuantizedError  # noqa: E402
from calibration.int8 import INT8_NAME, quantize_artifact  # noqa: E402
from calibration.quantize import QuantizeOptions  # noqa: E402
from runtime.artifact import sha256_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _int8(artifact, *ops):
    return subprocess.run([sys.executable, "-m", "calibration", "int8", "--artifact", str(artifact), "--calib-data",
                           "synthetic://?clips", "--clips", "6", *ops], cwd=REPO, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("ops, message", [
    ("Foo", "Foo is not an ONNX operator"),
    ("matmul", "matmul is not an ONNX operator (names are case-sensitive"),
    ("Conv,Gemm", "the graph has none of these ops, so nothing would be quantized; it has MatMul (1)"),
    ("ReduceMean", "the quantized model has no op in INT8"),
])
def test_quantize_ops_that_quantize_nothing_are_refused(synth_artifact, ops, message):
    before = sha256_file(synth_artifact / "manifest.json")
    done = _int8(synth_artifact, "--quantize-ops", ops)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert message in done.stderr
    assert not (synth_artifact / INT8_NAME).exists() and sha256_file(synth_artifact / "manifest.json") == before
    assert not list(synth_artifact.glob(".*tmp*"))


def test_the_root_check_holds_for_the_python_api(synth_artifact):
    with pytest.raises(NothingQuantizedError, match="would run as FP32 under an INT8 name") as caught:
        quantize_artifact(synth_artifact, "synthetic://?clips", QuantizeOptions(op_types=("ReduceMean",)), clips=6)
    assert caught.value.report.census == {"ReduceMean": {"int8": 0, "total": 1}}
    with pytest.raises(CalibrationError, match="not an ONNX operator"):
        quantize_artifact(synth_artifact, "synthetic://?clips", QuantizeOptions(op_types=("Foo",)), clips=6)
    assert not (synth_artifact / INT8_NAME).exists()
    result = quantize_artifact(synth_artifact, "synthetic://?clips", QuantizeOptions(op_types=("MatMul",)), clips=6)
    assert result.report.census == {"MatMul": {"int8": 1, "total": 1}}  # what does quantize still passes
