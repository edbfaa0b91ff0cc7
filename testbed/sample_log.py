"""Per-second memory samples kept by bench/bench_cpu_rss.py without growing the heap it measures."""

from __future__ import annotations

import numpy as np

SAMPLE_FIELDS = ("t", "rss_mb", "in_use_mb", "free_kept_mb", "python_blocks_k")


class SampleLog:
    """The per-second samples in arrays allocated up front: appending a row creates no Python object
    that lives on, so the bench does not add its own growth to the heap it measures (a list of tuples
    and dicts added about 7 live blocks a second)."""

    def __init__(self, capacity: int):
        self.rows = np.full((capacity, len(SAMPLE_FIELDS)), np.nan)
        self.count = 0
        self.overflowed = 0

    def add(self, t: float, rss: float, heap: dict) -> None:
        if self.count == len(self.rows):
            self.overflowed += 1  # counted, not grown: the capacity covers the run's length with margin
            return
        row = self.rows[self.count]
        row[0], row[1] = t, rss
        row[2] = heap.get("in_use_mb", np.nan)
        row[3] = heap.get("free_kept_mb", np.nan)
        row[4] = heap["python_blocks_k"]
        self.count += 1

    def column(self, name: str) -> np.ndarray:
        return self.rows[:self.count, SAMPLE_FIELDS.index(name)]
