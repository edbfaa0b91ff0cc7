"""Bad frames mid-stream and non-finite model outputs: dropped and counted, the stream goes on."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.api import StreamRunner
from runtime.artifact import load_artifact
from runtime.backends import open_backend
from runtime.postprocess import PostprocessConfig
from runtime.recognizer import Recognizer, RecognizerConfig
from runtime.sources import IterableSource
from runtime.sources.base import Frame
from testbed.artifacts import make_onnx_artifact
from tests.fixtures.onnx_cases import nonfinite_artifact
from tests.fixtures.sinks import Collect


def _gray(level, shape=(48, 64, 3), dtype=np.uint8):
    return np.full(shape, level, dtype)


GOOD = _gray(200)
# (image, refused?) — what a flaky driver, a reconfigured camera or a bug upstream can hand over.
MIXED = [
    (_gray(200, (480, 640, 3)), False),  # the camera switched resolution mid-stream
    (_gray(200, (48, 64)), False),  # grayscale
    (_gray(200, (48, 64, 1)), False),
    (_gray(200 * 256, (48, 64, 3), np.uint16), False),  # 16-bit
    (_gray(200, (48, 64, 4)), False),  # BGRA
    (_gray(200, (1, 1, 3)), False),  # degenerate but valid
    (np.zeros((0, 0, 3), np.uint8), True),  # empty
    (np.zeros((48, 0, 3), np.uint8), True),
    (_gray(0.8, (48, 64, 3), np.float32), True),  # float frames are not a camera's
    (_gray(1, (48, 64, 3), np.int16), True),
    (_gray(200, (48, 64, 2)), True),  # two channels
    (_gray(200, (2, 48, 64, 3)), True),  # a batch, not a frame
    (None, True),
]


def test_bad_frames_mid_stream_are_dropped_and_counted(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    frames, t = [], 0.0
    for image, _ in MIXED:  # each odd frame between two good ones
        for item in (GOOD, image, GOOD):
            frames.append(Frame(item, t, len(frames), "cam"))
            t += 0.05
    out = Collect()
    with StreamRunner(str(artifact), [IterableSource(frames, "cam")], backend="cpu", mode="offline",
                      sinks=[out]) as runner:
        report = runner.run()
    assert report.errors == {}
    stats = runner.recognizer.stream("cam").stats
    refused = sum(bad for _, bad in MIXED)
    assert stats.bad_frames == refused
    assert stats.frames == len(frames)
    # Every frame that was accepted entered the clip: windows every 2 sampled frames after the first 4.
    accepted = len(frames) - refused
    assert stats.windows == (accepted - 4) // 2 + 1
    assert len(out.results) == stats.published == stats.windows
    assert all(np.isfinite(r.score) for r in out.results)


def _feed(recognizer, levels, start=0.0):
    results = []
    for i, level in enumerate(levels):
        pending = recognizer.prepare(Frame(_gray(level), start + 0.05 * i, i, "cam"), "cam", live=False)
        if pending is not None:
            results += recognizer.run([pending]) or [None]  # None marks a window that published nothing
    return results


@pytest.mark.parametrize("smoothing", ["none", "ema"])
def test_nonfinite_outputs_publish_nothing_and_recover(tmp_path, smoothing):
    artifact = load_artifact(nonfinite_artifact(tmp_path / "art"))
    with open_backend(artifact, "cpu") as backend:
        config = RecognizerConfig(mode="offline", postprocess=PostprocessConfig(smoothing=smoothing))
        recognizer = Recognizer(artifact, backend, config)
        # 4 frames/clip, a window every 2: bright, then dark (clip means <= 127.5), then bright again.
        results = _feed(recognizer, [220] * 6 + [10] * 8 + [220] * 6)
    stats = recognizer.stream("cam").stats
    published = [r for r in results if r is not None]
    # Windows end at sampled frames 4, 6, ..., 20; those with two or more dark frames are non-finite.
    assert [r is None for r in results] == [False, False, True, True, True, True, True, False, False]
    assert stats.nonfinite == 5 and stats.published == 4
    assert all(np.isfinite(r.score) and np.isfinite([s for _, s in r.top_k]).all() for r in published)
    # Recovery: the first clean clip after the dark ones is decided by itself, not poisoned by NaN history.
    assert published[2].label == published[0].label and abs(published[2].score - published[0].score) < 1e-4
