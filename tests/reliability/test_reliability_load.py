"""Load: consumers 10x slower than the camera, and four cameras on one backend."""

from __future__ import annotations

import time
from collections import Counter

import pytest

pytest.importorskip("cv2", reason="sources need OpenCV (the [opencv] extra)")

from runtime.api import RunLimits, StreamRunner  # noqa: E402
from runtime.artifact import load_artifact  # noqa: E402
from runtime.backends import Backend, open_backend  # noqa: E402
from runtime.recognizer import Recognizer, RecognizerConfig  # noqa: E402
from runtime.scheduler import Scheduler  # noqa: E402
from runtime.sources import open_source  # noqa: E402
from testbed.artifacts import make_onnx_artifact  # noqa: E402
from testbed.cameras.mjpeg import MjpegCamera  # noqa: E402
from tests.fixtures.sinks import Collect  # noqa: E402

FPS = 20.0


class SlowBackend(Backend):
    """A real ORT backend whose every call takes at least `seconds` (a big model on a small GPU)."""

    name = "slow"

    def __init__(self, inner, seconds):
        self.inner, self.seconds = inner, seconds
        self.inputs, self.outputs = inner.inputs, inner.outputs
        self.batches = []

    def _infer(self, feeds):
        start = time.monotonic()
        out = self.inner.infer(feeds)
        self.batches.append(len(next(iter(feeds.values()))))
        time.sleep(max(0.0, self.seconds - (time.monotonic() - start)))
        return out


def test_frame_consumer_10x_slower_sees_newest_frames():
    """The ring stays at its bound; each frame handed over is at most a ring's worth of periods old."""
    with MjpegCamera(fps=FPS) as camera, open_source(camera.url) as source:
        ages, depths = [], []
        source.next_frame(timeout=5.0)
        for _ in range(8):
            time.sleep(10.0 / FPS)  # the consumer works 10 camera periods per frame
            depths.append(source.pending())
            frame = source.next_frame(timeout=2.0)
            ages.append(time.monotonic() - frame.timestamp)
        stats = source.stats
    assert max(depths) == source.ring_size == 2  # at its bound, never above
    assert max(ages) <= source.ring_size / FPS + 0.1, ages
    assert stats.dropped >= 8 * (10 - source.ring_size) * 0.8  # the rest were overwritten and counted


def test_inference_10x_slower_than_camera_keeps_results_fresh(tmp_path):
    """Latest-wins: one window waits per stream; a result is at most window + 2 inferences old."""
    artifact = load_artifact(make_onnx_artifact(tmp_path / "art"))
    inference_s = 10.0 / FPS
    with open_backend(artifact, "cpu") as inner, MjpegCamera(fps=FPS) as camera, open_source(camera.url) as source:
        recognizer = Recognizer(artifact, SlowBackend(inner, inference_s), RecognizerConfig(mode="live"))
        out = Collect()
        scheduler = Scheduler(recognizer, out.on_result)
        depths, deadline = [], time.monotonic() + 5.0
        while time.monotonic() < deadline:
            frame = source.next_frame(timeout=1.0)
            pending = recognizer.prepare(frame, "cam", live=True)
            if pending is not None:
                scheduler.submit(pending)
            depths.append(scheduler.depth())
        scheduler.close(drain=True)
    stats = recognizer.stream("cam").stats
    window_s = artifact.manifest.input.frames / FPS
    ages = [r.latency_ms / 1000.0 for r in out.results]
    assert len(ages) >= 5
    assert max(depths) <= 1 and scheduler.peak_depth <= 1  # the bound: one window per live stream
    assert max(ages) <= window_s + 2 * inference_s, ages
    assert stats.dropped_windows > stats.published  # most windows were replaced, and counted


def test_four_cameras_share_one_backend(tmp_path):
    artifact = load_artifact(make_onnx_artifact(tmp_path / "art"))
    cameras = [MjpegCamera(fps=FPS).start() for _ in range(4)]
    try:
        with open_backend(artifact, "cpu") as inner:
            slow = SlowBackend(inner, 0.1)
            out = Collect()
            with StreamRunner(artifact, [c.url for c in cameras], backend_object=slow, mode="live", sinks=[out],
                              limits=RunLimits(seconds=5.0)) as runner:
                report = runner.run()
    finally:
        for camera in cameras:
            camera.stop()
    assert report.errors == {}
    per_stream = Counter(r.stream_id for r in out.results)
    assert len(per_stream) == 4 and min(per_stream.values()) >= 0.6 * max(per_stream.values()), per_stream
    assert max(slow.batches) == 4 and max(r.batch for r in out.results) == 4  # batched across streams
    assert max(r.latency_ms for r in out.results) / 1000.0 <= artifact.manifest.input.frames / FPS + 2 * 0.1 + 0.1
