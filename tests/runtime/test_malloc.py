"""Frames stay out of glibc's heap in a streaming process (runtime/common/malloc.py)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A 900 KiB frame allocated, freed (glibc then raises its mmap threshold past it), allocated again:
# how many bytes of the second one are a mapping of their own (mallinfo2's hblkhd).
PROBE = """
import ctypes, sys
import numpy as np
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
mallinfo2.restype = MallInfo2
if sys.argv[1] == "runner":
    from runtime.api import StreamRunner
    try:
        StreamRunner("/nonexistent/artifact", [])
    except Exception:
        pass
frame = np.ones(900 * 1024, np.uint8)
del frame
before = mallinfo2().hblkhd
frame = np.ones(900 * 1024, np.uint8)
print(mallinfo2().hblkhd - before)
"""


def _glibc_with_mallinfo2() -> bool:
    try:
        ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return False
    return True


def _mapped_bytes(mode: str, **env) -> int:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    environment.update(env, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=environment,
                         cwd=ROOT, timeout=120, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="needs glibc 2.33+ (mallinfo2)")
def test_a_stream_runner_keeps_frames_mapped():
    assert _mapped_bytes("plain") == 0  # glibc's own policy: the second frame comes from the heap
    assert _mapped_bytes("runner") >= 900 * 1024  # once a StreamRunner was made: mapped, returned on free


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="needs glibc 2.33+ (mallinfo2)")
def test_the_process_owners_threshold_is_left_alone():
    assert _mapped_bytes("runner", MALLOC_MMAP_THRESHOLD_="4194304") == 0
