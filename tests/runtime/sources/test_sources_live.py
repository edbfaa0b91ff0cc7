"""Live sources against a real loopback MJPEG camera: ring, drops, stalls, kill/restart, give-up, close."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="sources need OpenCV (the [opencv] extra)")

from runtime.sources import SourceError, open_source  # noqa: E402
from runtime.sources.live import LiveSource  # noqa: E402
from testbed.cameras.mjpeg import MjpegCamera, frame_level  # noqa: E402

FAST = dict(open_timeout=1.0, read_timeout=0.5, stall_timeout=0.3, backoff_initial=0.05, backoff_max=0.4)


@pytest.fixture
def camera():
    cam = MjpegCamera(fps=30).start()
    yield cam
    cam.stop()


def take(source, n, timeout=5.0):
    frames, deadline = [], time.monotonic() + timeout
    while len(frames) < n:
        frame = source.next_frame(timeout=max(deadline - time.monotonic(), 0.0))
        if frame is None:
            break
        frames.append(frame)
    return frames


def test_http_mjpeg_frames_carry_capture_time_and_index(camera):
    with open_source(camera.url, **FAST) as source:
        assert source.live is True
        before = time.monotonic()
        frames = take(source, 10)
    assert len(frames) == 10
    indices = [f.index for f in frames]
    assert indices == sorted(indices) and len(set(indices)) == 10
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps) and stamps[-1] <= time.monotonic() and stamps[-1] > before - 1.0
    # The image is the camera's: gray level encodes its counter, the red corner survives decoding.
    assert frames[0].image.shape == (48, 64, 3)
    assert frames[0].image[2, 2, 2] > 200 and frames[0].image[2, 2, 0] < 60
    assert any(abs(int(frames[-1].image[30, 30, 0]) - frame_level(c)) <= 3 for c in range(camera.frames_sent))


def test_camera_killed_and_restarted_resumes_by_itself(camera):
    with open_source(camera.url, **FAST) as source:
        assert len(take(source, 5)) == 5
        camera.stop()
        down = time.monotonic()
        time.sleep(0.8)
        camera.start()  # the same port
        frames = take(source, 5, timeout=5.0)
        resumed = time.monotonic()
        stats = source.stats
    assert len(frames) == 5, f"frames did not resume; stats {stats}"
    assert resumed - down < 4.0
    assert stats.reconnects >= 1 and stats.reconnect_attempts >= stats.reconnects
    assert [g.reason for g in stats.gaps].count("disconnected") == 1
    gap = next(g for g in stats.gaps if g.reason == "disconnected")
    assert 0.8 <= gap.duration < 4.0
    assert camera.connections == 2


def test_stall_noticed_by_the_waiting_consumer(camera):
    with open_source(camera.url, **FAST) as source:
        take(source, 3)
        camera.pause()
        take(source, 100, timeout=0.3)  # drain what FFmpeg had buffered
        started = time.monotonic()
        cpu = time.process_time()
        assert source.next_frame(timeout=0.8) is None
        waited_cpu = time.process_time() - cpu
        stats = source.stats
        assert stats.stalls == 1 and stats.gaps[-1].end is None  # still open
        camera.resume()
        assert len(take(source, 3)) == 3
        closed = source.stats.gaps[-1]
    assert time.monotonic() - started > 0.79
    assert waited_cpu < 0.3  # a condition wait, not a busy loop
    assert closed.end is not None and closed.duration >= 0.3


def test_slow_consumer_sees_newest_frames_and_drops_are_counted():
    with MjpegCamera(fps=50) as camera, open_source(camera.url, ring=2, **FAST) as source:
        take(source, 2)
        depths, indices = [], []
        for _ in range(6):  # a consumer about 10x slower than the camera
            time.sleep(0.2)
            depths.append(source.pending())
            indices.append(source.next_frame(timeout=2.0).index)
        stats = source.stats
    assert max(depths) == 2  # the queue sits at its bound, never above
    assert stats.dropped >= 25
    assert stats.frames == stats.delivered + stats.dropped + 1  # one frame still waits in the ring
    assert min(np.diff(indices)) >= 5  # each read skips to recent frames


def test_gives_up_after_max_reconnects(camera):
    with open_source(camera.url, max_reconnects=2, **FAST) as source:
        take(source, 2)
        camera.stop()
        started = time.monotonic()
        with pytest.raises(SourceError, match="gave up after 3 failed reconnect attempts"):
            take(source, 10_000, timeout=10.0)
    assert time.monotonic() - started < 3.0
    assert source.stats.reconnect_attempts == 3 and source.stats.reconnects == 0


def test_waits_for_a_camera_that_starts_late():
    camera = MjpegCamera(fps=30).start()
    url = camera.url
    camera.stop()  # the port is known but nobody listens yet
    with open_source(url, wait_for_first=True, **FAST) as source:
        assert source.next_frame(timeout=0.3) is None
        camera.start()
        frames = take(source, 3)
        camera.stop()
    assert len(frames) == 3


def test_close_stops_the_capture_thread_promptly(camera):
    source = open_source(camera.url, **FAST)
    take(source, 2)
    started = time.monotonic()
    source.close()
    assert time.monotonic() - started < 1.0
    assert not source._thread.is_alive()
    assert source.next_frame(timeout=0.1) is None and list(source) == []


class HangingReader:
    """A driver whose read() never returns once `hang` is set (until released)."""

    def __init__(self, hang: threading.Event):
        self.hang, self.released = hang, threading.Event()
        self.counter = 0

    def read(self):
        if self.hang.is_set():
            self.released.wait(10)
            return None
        time.sleep(0.01)
        self.counter += 1
        return np.full((4, 4, 3), self.counter % 256, np.uint8)

    def release(self):
        self.released.set()


def test_hung_read_is_abandoned_and_a_fresh_reader_takes_over():
    hang, readers = threading.Event(), []

    def opener():
        readers.append(HangingReader(threading.Event() if readers else hang))
        return readers[-1]

    with LiveSource(opener, "hanging", stall_timeout=0.2, hang_timeout=0.5) as source:
        assert len(take(source, 3)) == 3
        hang.set()
        started = time.monotonic()
        frames = take(source, 3, timeout=3.0)
        stats = source.stats
    assert len(frames) == 3 and len(readers) == 2
    assert 0.4 < time.monotonic() - started < 2.0
    assert stats.stalls == 1 and stats.gaps[0].end is not None
    readers[0].released.set()  # the driver finally returns; the old thread exits on its own
