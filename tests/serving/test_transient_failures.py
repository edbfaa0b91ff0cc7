"""A backend call that fails transiently (a remote server down) is counted per window; the stream goes on.

Torch-free and serverless: a real ONNX Runtime backend whose calls fail while `down` is set, as the
triton backend's do while its server is gone (the real server is in test_triton_server.py).
"""

from __future__ import annotations

import numpy as np

from runtime.artifact import load_artifact
from runtime.backends import Backend, TransientBackendError, open_backend
from runtime.outputs.summary import format_summary, summarize
from runtime.recognizer import Recognizer, RecognizerConfig
from runtime.scheduler import Scheduler
from runtime.sources.base import Frame
from testbed.artifacts import make_onnx_artifact


class Unreliable(Backend):
    """Delegates to a real backend; raises TransientBackendError while `down`."""

    name = "unreliable"

    def __init__(self, inner: Backend):
        self.inner, self.inputs, self.outputs = inner, inner.inputs, inner.outputs
        self.down = False

    def _infer(self, feeds):
        if self.down:
            raise TransientBackendError("server at grpc://127.0.0.1:1 unreachable")
        return self.inner.infer(feeds)


def _frames(n, stream_id):
    rng = np.random.default_rng(1)
    for i in range(n):
        yield Frame(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), i * 0.1, i, stream_id)


def test_failed_windows_are_counted_and_results_resume(tmp_path):
    artifact = load_artifact(make_onnx_artifact(tmp_path / "art"))
    backend = Unreliable(open_backend(artifact, "cpu", threads=1))
    recognizer = Recognizer(artifact, backend, RecognizerConfig(mode="offline"))
    published = []
    for frame in _frames(30, "cam"):
        backend.down = 10 <= frame.index < 20
        pending = recognizer.prepare(frame)
        if pending is not None:
            published += recognizer.run([pending])
    stats = recognizer.streams["cam"].stats
    # Clips of 4, a window every 2 frames: windows end at 3, 5, ..., 29; those due at 10..19 fail.
    assert stats.windows == 14
    assert stats.failed_windows == 5
    assert stats.published == 9 == len(published)
    assert [r.newest_index for r in published] == [3, 5, 7, 9, 21, 23, 25, 27, 29]
    [summary] = summarize({"cam": stats})
    assert summary.failed_windows == 5
    assert "5 failed" in format_summary([summary])


def test_the_scheduler_keeps_running_through_failures(tmp_path):
    artifact = load_artifact(make_onnx_artifact(tmp_path / "art"))
    backend = Unreliable(open_backend(artifact, "cpu", threads=1))
    recognizer = Recognizer(artifact, backend, RecognizerConfig(mode="offline"))
    results = []
    scheduler = Scheduler(recognizer, results.append)
    for frame in _frames(30, "cam"):
        backend.down = 10 <= frame.index < 20
        pending = recognizer.prepare(frame)
        if pending is not None:
            scheduler.submit(pending)
            scheduler.drain(10.0)
    scheduler.close(timeout=10.0)  # raises if the worker died
    stats = recognizer.streams["cam"].stats
    assert stats.failed_windows == 5 and stats.published == len(results) == 9
