import numpy as np
import pytest

from runtime.postprocess import (UNKNOWN, Hysteresis, NonFiniteScores, PostprocessConfig, PostprocessError,
                                 PostProcessor, Smoother, softmax, top_k)

LABELS = ["walk", "wave", "no action"]


def _logits_for(probs):
    """Logits whose softmax (temperature 1) is exactly `probs`."""
    return np.log(np.asarray(probs, dtype=np.float64))


def test_softmax_temperature_and_top_k():
    logits = np.array([2.0, 1.0, 0.0])
    p = softmax(logits)
    np.testing.assert_allclose(p, np.exp(logits) / np.exp(logits).sum(), rtol=1e-6)
    hot = softmax(logits, temperature=2.0)
    np.testing.assert_allclose(hot, np.exp(logits / 2) / np.exp(logits / 2).sum(), rtol=1e-6)
    assert hot[0] < p[0]  # a higher temperature flattens
    assert softmax(np.array([1000.0, 0.0]))[0] == pytest.approx(1.0)  # no overflow
    assert top_k(p, LABELS, 2) == [("walk", pytest.approx(p[0])), ("wave", pytest.approx(p[1]))]
    assert len(top_k(p, LABELS, 10)) == 3


def test_ema_and_mean_smoothing_numbers():
    ema = Smoother("ema", alpha=0.25)
    np.testing.assert_allclose(ema(np.array([1.0, 0.0])), [1.0, 0.0])  # seeded by the first window
    np.testing.assert_allclose(ema(np.array([0.0, 1.0])), [0.75, 0.25])
    np.testing.assert_allclose(ema(np.array([0.0, 1.0])), [0.5625, 0.4375])
    mean = Smoother("mean", windows=2)
    mean(np.array([1.0, 0.0]))
    mean(np.array([0.0, 1.0]))
    np.testing.assert_allclose(mean(np.array([0.0, 1.0])), [0.0, 1.0])  # the first one left the window
    ema.reset()
    np.testing.assert_allclose(ema(np.array([0.2, 0.8])), [0.2, 0.8])


def test_hysteresis_onset_offset_sequence():
    machine = Hysteresis(["a", "b"], on=0.6, off=0.4)
    sequence = [0.5, 0.65, 0.5, 0.45, 0.39, 0.55, 0.7]  # score of "a"; "b" gets the rest
    events = []
    for window, score in enumerate(sequence):
        events += [(e.kind, e.label, e.window) for e in machine.update(np.array([score, 1 - score]), window, window * 0.5)]
    # 0.5 does not start "a" (< on) though "b" reaches 0.5 < 0.6 neither; 0.65 starts it; it survives
    # 0.5 and 0.45 (>= off); 0.39 ends it, and "b" at 0.61 starts in the same window; 0.55 keeps "b"
    # (0.45 >= off); 0.7 ends "b" (0.3 < off) and starts "a".
    assert events == [("onset", "a", 1), ("offset", "a", 4), ("onset", "b", 4), ("offset", "b", 6), ("onset", "a", 6)]
    assert machine.active == 0
    assert [(e.kind, e.label) for e in machine.close(7, 3.5)] == [("offset", "a")]
    assert machine.close(8, 4.0) == []


def test_closing_an_action_reports_its_last_score_not_nan():
    # An offset published on a ROS topic or in JSON lines must carry a finite score: the one the
    # action last had, since the stream ended before any window could lower it.
    machine = Hysteresis(["a", "b"], on=0.6, off=0.4)
    machine.update(np.array([0.7, 0.3]), 0, 0.0)
    machine.update(np.array([0.55, 0.45]), 1, 0.5)
    (offset,) = machine.close(2, 1.0)
    assert (offset.kind, offset.label) == ("offset", "a")
    assert offset.score == pytest.approx(0.55)


def test_background_labels_never_start_an_action():
    post = PostProcessor(LABELS, PostprocessConfig(on_threshold=0.6, off_threshold=0.4, background=("no action",)))
    decision = post(_logits_for([0.1, 0.1, 0.8]))
    assert decision.label == "no action" and decision.active is None and decision.events == []
    decision = post(_logits_for([0.1, 0.7, 0.2]), window=1, timestamp=2.0)
    assert [(e.kind, e.label, e.window, e.timestamp) for e in decision.events] == [("onset", "wave", 1, 2.0)]


def test_unknown_below_threshold_and_raw_label_kept():
    post = PostProcessor(LABELS, PostprocessConfig(unknown_below=0.5))
    decision = post(_logits_for([0.4, 0.35, 0.25]))
    assert decision.label == UNKNOWN
    assert decision.score == pytest.approx(0.4, abs=1e-6)
    assert decision.raw_label == "walk" and decision.top_k[0][0] == "walk"
    assert post(_logits_for([0.6, 0.3, 0.1])).label == "walk"


def test_smoothing_suppresses_a_one_window_flip():
    plain = PostProcessor(LABELS, PostprocessConfig(on_threshold=0.6, off_threshold=0.4))
    smooth = PostProcessor(LABELS, PostprocessConfig(smoothing="mean", mean_windows=3, on_threshold=0.6, off_threshold=0.4))
    windows = [[0.8, 0.1, 0.1]] * 3 + [[0.1, 0.8, 0.1]] + [[0.8, 0.1, 0.1]] * 2
    plain_labels = [plain(_logits_for(w)).label for w in windows]
    smooth_decisions = [smooth(_logits_for(w), i) for i, w in enumerate(windows)]
    assert plain_labels[3] == "wave"
    assert [d.label for d in smooth_decisions] == ["walk"] * 6
    assert sum(len(d.events) for d in smooth_decisions) == 1  # one onset, never interrupted


def test_manifest_temperature_is_applied():
    cold = PostProcessor(["a", "b"], PostprocessConfig(temperature=0.5))
    warm = PostProcessor(["a", "b"], PostprocessConfig(temperature=2.0))
    logits = np.array([1.0, 0.0])
    assert cold(logits).score == pytest.approx(1 / (1 + np.exp(-2.0)), rel=1e-5)
    assert warm(logits).score == pytest.approx(1 / (1 + np.exp(-0.5)), rel=1e-5)


@pytest.mark.parametrize("bad", [dict(temperature=0), dict(top_k=0), dict(smoothing="median"), dict(ema_alpha=0),
                                 dict(on_threshold=0.3, off_threshold=0.5), dict(unknown_below=1.5), dict(mean_windows=0)])
def test_bad_settings_raise(bad):
    with pytest.raises(PostprocessError):
        PostProcessor(LABELS, PostprocessConfig(**bad))


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e-30, 1e300, 1.7e308])
@pytest.mark.parametrize("logits", [[2.0, 1.0, 0.0], [3e38, -3e38, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, -1.0]])
def test_extreme_temperatures_give_finite_scores(temperature, logits):
    p = softmax(np.array(logits, np.float32), temperature)
    assert np.all(np.isfinite(p)) and p.sum() == pytest.approx(1.0, abs=1e-6)
    if temperature < 1e-20:  # the limit towards 0: all weight on the best logits, shared by ties
        best = np.flatnonzero(np.asarray(logits) == max(logits))
        np.testing.assert_allclose(p[best], 1.0 / len(best), rtol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])  # (-inf is a probability of 0, which is finite)
def test_nonfinite_scores_raise_and_leave_the_smoothing_history_alone(bad):
    post = PostProcessor(LABELS, PostprocessConfig(smoothing="ema"))
    first = post(_logits_for([0.7, 0.2, 0.1]))
    with pytest.raises(NonFiniteScores):
        post(np.array([bad, 0.0, 0.0]))
    again = post(_logits_for([0.7, 0.2, 0.1]))
    assert again.score == pytest.approx(first.score)  # no NaN got into the EMA


def test_a_background_label_not_among_the_labels_is_refused_naming_them():
    with pytest.raises(PostprocessError, match=r"background label\(s\) \['no-action'\] not among the labels: "
                                               r"'walk', 'wave', 'no action'"):
        PostProcessor(LABELS, PostprocessConfig(background=("no-action",)))


@pytest.mark.parametrize("labels, declared, background", [
    (["no action", "wave"], (), ("no action",)),
    (["nothing is moving", "a shape moving left"], ["nothing is moving"], ("nothing is moving",)),
    # prompts given at run time replace the artifact's: its background only where still among them
    (["a shape staying still", "a shape moving left"], ["nothing is moving"], ()),
    (["nothing is moving", "no action"], ["nothing is moving", "no action"], ("nothing is moving", "no action")),
])
def test_the_default_background_is_what_the_artifact_declares_among_the_labels(labels, declared, background):
    from runtime.postprocess import default_background

    assert default_background(labels, declared) == background
