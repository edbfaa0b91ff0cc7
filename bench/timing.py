"""Wall-clock medians for the benchmarks: one function timed alone, or several in turn."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, calls: int, warmup: int = 0) -> float:
    """Median ms of `calls` calls of `fn`, after `warmup` untimed ones (first calls allocate)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)
