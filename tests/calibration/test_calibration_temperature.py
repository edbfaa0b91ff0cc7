"""Temperature scaling: the fit, ECE, the diagram, and the runtime applying T from the manifest."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.errors import CalibrationDataError
from calibration.temperature import calibrate_artifact, ece, fit_temperature, nll
from runtime.artifact import load_artifact
from runtime.postprocess import softmax


def _overconfident(n=4000, classes=5, true_t=2.5, seed=0):
    """Logits whose labels are drawn from softmax(logits / true_t): the right temperature is true_t."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, classes)) * 4.0
    probs = softmax(logits, true_t).astype(np.float64)
    labels = np.array([rng.choice(classes, p=p / p.sum()) for p in probs])
    return logits, labels


def test_fit_recovers_the_temperature_and_lowers_nll_and_ece():
    logits, labels = _overconfident()
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(2.5, rel=0.08)
    assert nll(logits, labels, t) < nll(logits, labels, 1.0) - 0.05
    for other in (t * 0.8, t * 1.25):  # a minimum, not just an improvement
        assert nll(logits, labels, t) < nll(logits, labels, other)
    assert ece(softmax(logits, t), labels) < 0.02 < ece(softmax(logits, 1.0), labels)


def test_ece_on_a_hand_computed_case():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    # bin of 0.9: accuracy 0.5, |0.5 - 0.9| = 0.4; bin of 0.6: accuracy 1.0, |1.0 - 0.6| = 0.4
    assert ece(probs, labels) == pytest.approx(0.4)
    assert ece(np.array([[1.0, 0.0]]), np.array([0])) == pytest.approx(0.0)


def test_bad_inputs_are_refused():
    with pytest.raises(CalibrationDataError, match="labels must be in"):
        fit_temperature(np.zeros((3, 2)), np.array([0, 1, 2]))
    with pytest.raises(CalibrationDataError, match="NaN"):
        fit_temperature(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(CalibrationDataError, match="need"):
        fit_temperature(np.zeros((0, 2)), np.zeros(0))


def test_artifact_temperature_is_written_and_applied_by_the_runtime(synth_artifact):
    pytest.importorskip("matplotlib", reason="the reliability diagram needs matplotlib ([calibration] extra)")
    from runtime.backends import open_backend
    from runtime.classify import classify_frames
    from runtime.sources.base import Frame
    from runtime.world import render_clip

    report = calibrate_artifact(synth_artifact, "synthetic://?clips&seed=7", clips=30)
    artifact = load_artifact(synth_artifact)  # the diagram is hash-listed like every file
    assert artifact.manifest.temperature == pytest.approx(report.temperature) and report.temperature != 1.0
    assert report.nll_after <= report.nll_before
    assert artifact.manifest.validation["temperature"]["clips"] == 30
    png = synth_artifact / "reliability.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert artifact.manifest.files["reliability.png"].kind == "other"
    images = render_clip("moving left", 4, 32, 32, seed=1)
    frames = [Frame(image, i / 15.0, i) for i, image in enumerate(images)]
    with open_backend(artifact, "cpu") as backend:
        (result,) = classify_frames(artifact, backend, frames, k=3)
        preprocess = _pre(artifact)
        clip = np.stack([preprocess(f.image) for f in frames])
        logits = backend.infer({"pixel_values": clip[None]})["logits"][0]
    expected = softmax(logits, report.temperature)
    assert result.score == pytest.approx(float(expected.max()), abs=1e-6)
    assert abs(result.score - float(softmax(logits, 1.0).max())) > 1e-4  # T really changed the score


def _pre(artifact):
    from runtime.preprocess import Preprocessor

    return Preprocessor(artifact.manifest.preprocessing)


def test_labels_the_model_does_not_know_are_refused(tmp_path):
    from testbed.artifacts import make_onnx_artifact, moving_square_video

    art = make_onnx_artifact(tmp_path / "a")
    (tmp_path / "data" / "jumping").mkdir(parents=True)
    moving_square_video(tmp_path / "data" / "jumping" / "0.avi", frames=8)
    with pytest.raises(CalibrationDataError, match="jumping"):
        calibrate_artifact(art, str(tmp_path / "data"), diagram=None)
