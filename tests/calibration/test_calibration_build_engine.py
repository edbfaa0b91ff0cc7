"""build_engine.py --precision int8 --calib-data: model.int8.onnx joins the exported artifact."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.export


def test_build_engine_int8_writes_a_gated_int8_model(tmp_path, tiny_checkpoint, capsys):
    pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
    pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")
    from export.build_engine import main
    from runtime.artifact import load_artifact
    from runtime.backends import open_backend

    out = tmp_path / "int8"
    code = main(["--model", str(tiny_checkpoint), "--output", str(out), "--precision", "int8",
                 "--calib-data", "synthetic://?clips&size=40x40", "--clips", "12", "--min-agreement", "0.75",
                 "--min-cosine", "0.98"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    artifact = load_artifact(out)
    entry = artifact.manifest.files["model.int8.onnx"]
    assert entry.precision == "int8" and entry.details["int8_ops"]["MatMul"]["int8"] > 0
    assert artifact.manifest.validation["int8"]["gate"]["passed"]
    assert "model.int8.onnx" in printed and "PASS" in printed
    with open_backend(artifact, "cpu", precision="int8") as backend:
        assert backend.inputs[0].name == artifact.manifest.input.name


def test_int8_without_calibration_data_is_refused(tiny_checkpoint, tmp_path, capsys):
    from export.build_engine import main

    with pytest.raises(SystemExit) as stop:
        main(["--model", str(tiny_checkpoint), "--output", str(tmp_path / "x"), "--precision", "int8"])
    assert stop.value.code == 2 and "--calib-data" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_failed_int8_gate_keeps_the_fp32_artifact(tmp_path, tiny_checkpoint, capsys):
    pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
    from export.build_engine import main
    from runtime.artifact import load_artifact

    out = tmp_path / "strict"
    code = main(["--model", str(tiny_checkpoint), "--output", str(out), "--precision", "int8",
                 "--calib-data", "synthetic://?clips&size=40x40", "--clips", "6", "--min-cosine", "1.0", "--max-excluded", "0"])
    err = capsys.readouterr().err
    assert code == 1 and "accuracy gate" in err and "no INT8 model was added" in err
    assert set(load_artifact(out).manifest.files) >= {"model.onnx"} and "model.int8.onnx" not in load_artifact(out).manifest.files
