"""python -m calibration as a user runs it: real processes, a final table, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "calibration", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_int8_and_temperature_commands(synth_artifact):
    pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")
    pytest.importorskip("matplotlib", reason="the reliability diagram needs matplotlib")
    done = _run("int8", "--artifact", synth_artifact, "--calib-data", "synthetic://?clips", "--clips", 9, "--method", "entropy")
    assert done.returncode == 0, done.stderr
    assert "MatMul in INT8" in done.stdout and "1 / 1" in done.stdout and "PASS" in done.stdout
    manifest = json.loads((synth_artifact / "manifest.json").read_text())
    assert manifest["files"]["model.int8.onnx"]["details"]["method"] == "entropy"
    done = _run("temperature", "--artifact", synth_artifact, "--calib-data", "synthetic://?clips&seed=4", "--clips", 12)
    assert done.returncode == 0, done.stderr
    assert "ECE before / after" in done.stdout
    assert json.loads((synth_artifact / "manifest.json").read_text())["temperature"] != 1.0


def test_bad_input_gets_one_line_errors(tmp_path, synth_artifact):
    for args, expected in (
        (("int8", "--artifact", synth_artifact, "--calib-data", tmp_path / "none.mp4"), "does not exist"),
        (("int8", "--artifact", tmp_path / "no-artifact", "--calib-data", "synthetic://?clips"), "does not exist"),
        (("temperature", "--artifact", synth_artifact, "--calib-data", tmp_path), "holds no"),
    ):
        done = _run(*args)
        assert done.returncode == 1, done.stdout
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("error: ") and expected in done.stderr and done.stderr.count("\n") == 1
    for option, value, expected in (("--min-agreement", "2", "must be in [0, 1], got 2"),
                                    ("--min-cosine", "nan", "must be a finite number"),
                                    ("--holdout", "nan", "must be a finite number"),
                                    ("--holdout", "1", "must be a fraction between 0 and 1"),
                                    ("--max-excluded", "-1", "must be >= 0")):
        done = _run("int8", "--artifact", synth_artifact, "--calib-data", "synthetic://?clips", option, value)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr  # usage: one line, before any work
        assert f"argument {option}: {expected}" in done.stderr and "Traceback" not in done.stderr


def test_help_shows_examples():
    done = _run("int8", "--help")
    assert done.returncode == 0 and "--calib-data" in done.stdout and "examples:" in done.stdout


def test_importing_calibration_pulls_no_heavy_module():
    code = ("import sys, calibration, calibration.reader, calibration.quantize, calibration.int8, "
            "calibration.temperature, calibration.legacy_trt, calibration.gate, calibration.__main__; "
            "heavy = {'tensorrt', 'matplotlib', 'onnxruntime.quantization', 'torch', 'ros_bridge'} & set(sys.modules); "
            "print(sorted(heavy))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
