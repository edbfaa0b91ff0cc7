"""glibc's malloc and camera frames: keep frame-sized buffers out of its heap.

glibc serves blocks above its mmap threshold (128 KiB at start) with their own mapping and returns
them to the system on free, but each such free raises the threshold to that block's size. After
the first freed frame (640x480 BGR: 900 KiB) every later frame comes from the heap, and over hours
the heap those frames leave behind fragments around the smaller blocks that live longer: freed but
kept, RSS rising about 5 MB an hour on a live 640x480 camera (docs/BENCHMARKS.md). A fixed threshold
(mallopt) stops the raising, so frames are mapped and unmapped whole.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
FRAME_MMAP_THRESHOLD = 256 * 1024  # above any block but a frame's or a clip's; glibc's own start is 128 KiB

_done = False


def keep_frames_mapped(threshold: int = FRAME_MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold for this process, once; True when it was set here.

    Nothing happens off glibc (macOS, musl) or when MALLOC_MMAP_THRESHOLD_ is set: the process's
    owner has chosen it."""
    global _done
    if _done or not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, threshold))
    return _done
