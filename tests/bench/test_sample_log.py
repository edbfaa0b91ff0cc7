"""bench/bench_cpu_rss.py's per-second samples (testbed/sample_log.py) must not grow the heap they measure."""

import sys

import numpy as np

from testbed.sample_log import SampleLog


def _heap(i):
    return {"in_use_mb": 30.0 + i, "free_kept_mb": 5.0, "python_blocks_k": 100.0 + i}


def test_columns_hold_what_was_added_in_order():
    log = SampleLog(capacity=4)
    for i in range(3):
        log.add(float(i), 150.0 + i, _heap(i))
    assert log.column("t").tolist() == [0.0, 1.0, 2.0]
    assert log.column("rss_mb").tolist() == [150.0, 151.0, 152.0]
    assert log.column("python_blocks_k").tolist() == [100.0, 101.0, 102.0]


def test_a_heap_reading_without_glibc_figures_is_kept_as_missing():
    log = SampleLog(capacity=2)
    log.add(0.0, 150.0, {"python_blocks_k": 100.0})  # not glibc: no mallinfo2
    assert np.isnan(log.column("in_use_mb")).all() and log.column("python_blocks_k").tolist() == [100.0]


def test_a_full_log_counts_what_it_could_not_keep_instead_of_growing():
    log = SampleLog(capacity=2)
    for i in range(5):
        log.add(float(i), 150.0, _heap(i))
    assert log.count == 2 and log.overflowed == 3 and log.rows.shape == (2, 5)


def test_adding_samples_leaves_no_live_python_objects_behind():
    # The old bench kept a tuple and a dict per second: ~7 live blocks a second of its own growth.
    log = SampleLog(capacity=20_000)
    heap = _heap(0)
    for i in range(100):  # warm up whatever the first calls allocate once
        log.add(float(i), 150.0, heap)
    before = sys.getallocatedblocks()
    for i in range(100, 10_100):
        log.add(float(i), 150.0, heap)
    assert sys.getallocatedblocks() - before < 50
