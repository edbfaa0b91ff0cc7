"""Unplug and replug a loopback camera under a running live source, and time what the source notices.

Used by the fault tests (a few cycles) and by bench/bench_reliability.py (50 cycles, the soak).
A consumer thread reads frames the whole time, as the recognizer's feeder would. Per cycle:
  stall_s  = from the moment the camera is cut until the source shows an open gap in its stats
  resume_s = from the moment the camera is back until the consumer holds a frame captured after it
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Cycle:
    stall_s: float | None  # None: no gap seen within the wait
    resume_s: float | None  # None: no frame after the camera's return within the wait


@dataclass
class FaultRun:
    cycles: list[Cycle] = field(default_factory=list)
    frames: int = 0
    source_stats: object = None
    thread_alive: bool = False
    first_cut: float | None = None  # gaps before it (e.g. an RTSP session settling) are not the faults'

    def worst(self, attr: str) -> float:
        values = [getattr(c, attr) for c in self.cycles]
        return float("inf") if any(v is None for v in values) else max(values)


class Consumer:
    """Reads frames on its own thread; remembers the newest frame's capture time."""

    def __init__(self, source):
        self.source, self.frames, self.newest = source, 0, 0.0
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="fault-consumer", daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                frame = self.source.next_frame(timeout=0.05)
                if frame is not None:
                    self.frames += 1
                    self.newest = frame.timestamp
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc

    def wait_frame_after(self, since: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.newest >= since:
                return self.newest
            time.sleep(0.005)
        return None

    def stop(self):
        self._stop.set()
        self.thread.join(2.0)


def _open_gap_seen(source, known: int, timeout: float) -> float | None:
    """Time at which the source's stats first show a new gap (beyond `known` gaps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = source.stats
        if len(stats.gaps) > known or (stats.gaps and stats.gaps[-1].end is None):
            return time.monotonic()
        time.sleep(0.005)
    return None


def unplug_replug(camera, source, cycles: int, down_s: float, up_s: float, freeze: bool = False,
                  progress=None) -> FaultRun:
    """Cut the camera (or freeze it: connection open, no frames) `cycles` times; time each cycle.

    progress: called with the cycle index after each cycle (a tqdm update in the benchmark).
    """
    consumer = Consumer(source)
    run = FaultRun()
    try:
        if consumer.wait_frame_after(0.0, 10.0) is None:
            raise RuntimeError(f"no frame from {camera.url} within 10 s")
        for index in range(cycles):
            time.sleep(up_s)
            known = len(source.stats.gaps)
            cut = time.monotonic()
            run.first_cut = cut if run.first_cut is None else run.first_cut
            camera.pause() if freeze else camera.stop()
            seen = _open_gap_seen(source, known, timeout=down_s + 5.0)
            time.sleep(max(0.0, cut + down_s - time.monotonic()))
            camera.resume() if freeze else camera.start()
            back = time.monotonic()
            resumed = consumer.wait_frame_after(back, timeout=15.0)
            run.cycles.append(Cycle(None if seen is None else seen - cut,
                                    None if resumed is None else max(resumed - back, 0.0)))
            if progress is not None:
                progress(index)
        time.sleep(0.3)  # let the last gap close
    finally:
        consumer.stop()
    if consumer.error is not None:
        raise consumer.error
    run.frames = consumer.frames
    run.source_stats = source.stats
    run.thread_alive = source._thread.is_alive()
    return run
