"""Soak: the whole streaming runtime on a loopback camera that drops out periodically.

A StreamRunner (capture thread, feeder, inference thread, a real ORT session) runs on an MJPEG camera
at 20 fps; every `drop_every_s` the camera is killed for `down_s` and restarted on the same port.
Every `sample_s` the process's RSS (/proc/self/status VmRSS), open files (/proc/self/fd) and threads
(/proc/self/status Threads) are sampled. After `warmup_s`, the RSS slope is a least-squares fit,
extrapolated to MB per hour; open files and threads are compared at the same camera phase (camera up).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from testbed.proc import proc_status, rss_mb


def sample() -> tuple[float, int, int]:
    """(RSS in MB, open file descriptors, threads) of this process."""
    return rss_mb(), len(os.listdir("/proc/self/fd")), proc_status("Threads")


@dataclass
class SoakReport:
    seconds: float
    drops: int
    results: int
    samples: list = field(default_factory=list)  # (t, rss_mb, fds, threads, camera_up)
    rss_slope_mb_per_h: float = 0.0
    fds_after_warmup: tuple = (0, 0)  # (first, last) with the camera up
    threads_after_warmup: tuple = (0, 0)
    gaps: int = 0
    reconnects: int = 0
    nonfinite: int = 0
    errors: dict = field(default_factory=dict)
    # With trace=True: Python-heap growth after warm-up (tracemalloc) and its largest sources, which
    # tells a Python-level leak from native/allocator growth that only RSS shows.
    python_heap_mb: tuple = ()
    top_growth: list = field(default_factory=list)


def soak(artifact_dir, camera, seconds: float, drop_every_s: float, down_s: float = 2.0, warmup_s: float = 20.0,
         sample_s: float = 1.0, progress=None, trace: bool = False) -> SoakReport:
    from runtime.api import RunLimits, StreamRunner
    from runtime.outputs.base import Sink

    class Count(Sink):
        results = 0

        def on_result(self, result) -> None:
            Count.results += 1

    runner = StreamRunner(str(artifact_dir), [camera.url], backend="cpu", threads=1, mode="live", sinks=[Count()],
                          limits=RunLimits(seconds=seconds))
    report_box = []
    worker = threading.Thread(target=lambda: report_box.append(runner.run()), daemon=True)
    start = time.monotonic()
    worker.start()
    report = SoakReport(seconds=seconds, drops=0, results=0)
    next_drop, next_sample, camera_up = start + drop_every_s, start, True
    # Preallocated: a list of tuples grew by ~0.4 MB/h, which the RSS slope then counted as the runtime's.
    table, taken = np.zeros((int(seconds / sample_s) + 64, 5)), 0
    if trace:
        import tracemalloc

        tracemalloc.start(16)
    baseline = None
    while worker.is_alive():
        now = time.monotonic()
        if trace and baseline is None and now - start >= warmup_s:
            baseline = (tracemalloc.take_snapshot(), tracemalloc.get_traced_memory()[0])
        if camera_up and now >= next_drop:
            camera.stop()
            camera_up, back_at = False, now + down_s
            report.drops += 1
        elif not camera_up and now >= back_at:
            camera.start()
            camera_up, next_drop = True, now + drop_every_s
        if now >= next_sample and taken < len(table):
            table[taken] = (now - start, *sample(), camera_up)
            taken += 1
            next_sample += sample_s
            if progress is not None:
                progress(now - start)
        time.sleep(0.02)
    worker.join()
    report.samples = [(t, rss, int(fds), int(threads), bool(up)) for t, rss, fds, threads, up in table[:taken].tolist()]
    if trace:
        if baseline is not None:
            # After the run but before runner.close(): what the runtime still holds.
            end, current = tracemalloc.take_snapshot(), tracemalloc.get_traced_memory()[0]
            report.python_heap_mb = (baseline[1] / 2**20, current / 2**20)
            report.top_growth = [
                f"{stat.size_diff / 1024:+.1f} KiB in {stat.count_diff:+d} blocks: "
                + " <- ".join(f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}" for frame in reversed(stat.traceback))
                for stat in end.compare_to(baseline[0], "traceback")[:8]]
        tracemalloc.stop()
    if not camera_up:
        camera.start()
    run = report_box[0]
    report.results = Count.results
    report.errors = {k: repr(v) for k, v in run.errors.items()}
    stats = next(iter(runner.sources.values())).stats
    report.gaps, report.reconnects = len(stats.gaps), stats.reconnects
    report.nonfinite = sum(s.nonfinite for s in runner._stream_stats().values())
    runner.close()
    _fit(report, warmup_s)
    return report


def _fit(report: SoakReport, warmup_s: float) -> None:
    after = [s for s in report.samples if s[0] >= warmup_s]
    if len(after) < 3:
        raise RuntimeError(f"soak too short: {len(after)} samples after the {warmup_s} s warm-up")
    t = np.array([s[0] for s in after])
    rss = np.array([s[1] for s in after])
    report.rss_slope_mb_per_h = float(np.polyfit(t, rss, 1)[0] * 3600.0)
    up = [s for s in after if s[4]]
    report.fds_after_warmup = (up[0][2], up[-1][2])
    report.threads_after_warmup = (up[0][3], up[-1][3])
