"""Buffer of preprocessed frames → clips.

Frames are sampled (every n-th frame, or by a target fps from timestamps, since real cameras drop
and jitter frames), preprocessed once, and written into a buffer. A window falls due every
`window_stride` sampled frames once the buffer holds a full clip.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from runtime.cli.errors import OptionValueError

# The highest sampling rate a caller may ask for. Sampling can only take frames that arrive: above
# the camera's own rate every frame is taken, so a larger number means nothing more. 1000 fps is
# above what high-speed USB3/GigE machine-vision cameras deliver to a host, and a 1 ms period is
# still a million times coarser than a float64 timestamp's resolution after years of uptime.
MAX_TARGET_FPS = 1000.0


@dataclass
class Clip:
    """The last `frames` sampled frames of one stream, oldest first, in the model's layout (no batch)."""

    array: np.ndarray
    stream_id: str
    first_timestamp: float
    newest_timestamp: float
    first_index: int
    newest_index: int
    window_index: int
    frame_indices: tuple[int, ...] = ()  # each frame's source index, oldest first (the frame cache's keys)


class FrameSampler:
    """Decides which camera frames enter the clip: by frame stride or by target fps."""

    def __init__(self, frame_stride: int = 1, target_fps: float | None = None):
        if frame_stride < 1:
            raise OptionValueError(f"frame_stride must be >= 1, got {frame_stride}")
        if target_fps is not None and not (math.isfinite(target_fps) and target_fps > 0):
            raise OptionValueError(f"target_fps must be a finite number > 0, got {target_fps}")
        self.frame_stride = frame_stride
        self.period = None if target_fps is None else 1.0 / target_fps
        self._seen = 0
        self._next_due: float | None = None

    def accept(self, timestamp: float) -> bool:
        if self.period is None:
            take = self._seen % self.frame_stride == 0
            self._seen += 1
            return take
        # Timestamp grid: take the first frame at or after each slot (with a quarter-period of
        # slack for jitter); slots the camera missed are skipped, not made up.
        slack = 0.25 * self.period
        if self._next_due is not None and timestamp < self._next_due - slack:
            return False
        due = timestamp if self._next_due is None else self._next_due
        # Jump straight past every slot up to this frame: a count, not a loop, so a period below
        # the timestamp's float precision (target_fps 1e20) cannot stall the stream.
        due += (max(timestamp + slack - due, 0.0) // self.period + 1) * self.period
        if not (math.isfinite(due) and due > timestamp):
            due = math.nextafter(timestamp, math.inf)  # the next later frame is due
        self._next_due = due
        return True


MAX_SPARES = 2  # buffers kept for reuse per stream: live mode has one window queued and one in flight


def _refs_of_a_listed_array() -> int:
    held = [np.empty(1)]
    return sys.getrefcount(held[0])


_UNVIEWED_REFS = _refs_of_a_listed_array()


class ClipBuffer:
    """Preprocessed frames of one stream, each window a read-only view of its frames (NTCHW).

    Frames go into consecutive rows of a buffer with room for `spare` more than a clip, and a window
    is the last `frames` rows: no copy. Copying each window out of a ring in time order cost about
    2.2 ms of the live path at 8x3x192x192 (docs/BENCHMARKS.md), more than a third of an inference.
    A row is not written again while a window views it: when the buffer is full, the newest
    frames - 1 rows are copied into another buffer and writing goes on there. So a window still
    queued when later frames arrive (offline mode queues 16 a stream, live mode one) keeps exactly
    its frames, its view holding the old buffer alive until it is dropped. The other buffer is a
    spare no window views any more where there is one (reused: a fresh one costs a page fault per
    4 KB written and its release, which showed in the live path's p95), else a fresh one. Windows
    overlap in memory, hence read-only. NCTHW windows are a transposed copy, as the layout needs one
    anyway.
    """

    def __init__(self, frames: int, window_stride: int = 1, layout: str = "NTCHW",
                 frame_stride: int = 1, target_fps: float | None = None, stream_id: str = "0",
                 spare: int | None = None):
        if frames < 1 or window_stride < 1:
            raise OptionValueError(f"frames and window_stride must be >= 1, got {frames}, {window_stride}")
        if layout not in ("NTCHW", "NCTHW"):
            raise OptionValueError(f"layout must be NTCHW or NCTHW, got {layout!r}")
        # 3 clips of spare rows: one copy of frames - 1 rows per 3 x frames sampled frames, in a
        # buffer of 4 clips (14 MB a stream at 8x3x192x192).
        spare = 3 * frames if spare is None else spare
        if spare < 1:
            raise OptionValueError(f"spare must be >= 1, got {spare}")
        self.frames = frames
        self.window_stride = window_stride
        self.layout = layout
        self.stream_id = stream_id
        self.sampler = FrameSampler(frame_stride, target_fps)
        self._rows = frames + spare
        self._buffer: np.ndarray | None = None
        self._spares: list[np.ndarray] = []  # full buffers, reused once no window views them
        self._stamps = np.zeros(self._rows, dtype=np.float64)
        self._indices = np.zeros(self._rows, dtype=np.int64)
        self._at = 0  # the next row to write
        self._count = 0  # sampled frames since the start or the last reset
        self._windows = 0

    def offer(self, image, timestamp: float, index: int, preprocess: Callable[[np.ndarray], np.ndarray]) -> Clip | None:
        """Sample, preprocess and store one frame; return a clip if a window is now due."""
        if not self.sampler.accept(timestamp):
            return None
        return self.add(preprocess(image), timestamp, index)

    def add(self, frame: np.ndarray, timestamp: float, index: int) -> Clip | None:
        if self._buffer is None:
            self._buffer = np.empty((self._rows,) + frame.shape, dtype=frame.dtype)
        elif frame.shape != self._buffer.shape[1:]:
            raise ValueError(f"preprocessed frame shape {frame.shape} differs from {self._buffer.shape[1:]}")
        if self._at == self._rows:
            self._move_to_another_buffer()
        at = self._at
        self._buffer[at] = frame
        self._stamps[at] = timestamp
        self._indices[at] = index
        self._at += 1
        self._count += 1
        if self._count < self.frames or (self._count - self.frames) % self.window_stride:
            return None
        return self._clip()

    def _move_to_another_buffer(self) -> None:
        # Only the rows a coming window can still use move; the old buffer stays as it is for the
        # windows that view it.
        keep = min(self._count, self.frames - 1)
        fresh = self._unviewed_spare()
        if fresh is None:
            fresh = np.empty_like(self._buffer)
        fresh[:keep] = self._buffer[self._rows - keep:]
        self._spares.append(self._buffer)
        # Beyond MAX_SPARES a buffer is let go: it lives on only in its windows' views.
        del self._spares[:-MAX_SPARES]
        # stamps and indices are copied into each Clip, so they move in place (numpy buffers an
        # overlapping assignment)
        self._stamps[:keep] = self._stamps[self._rows - keep:]
        self._indices[:keep] = self._indices[self._rows - keep:]
        self._buffer, self._at = fresh, keep

    def _unviewed_spare(self) -> np.ndarray | None:
        # A numpy view holds a reference to the array owning its memory (its .base), so a spare no
        # window views is referenced by this list alone: its count equals that of an array held
        # by a list and nothing else, measured on this interpreter (`_UNVIEWED_REFS`).
        for i in range(len(self._spares)):
            if sys.getrefcount(self._spares[i]) == _UNVIEWED_REFS:
                return self._spares.pop(i)
        return None

    def _clip(self) -> Clip:
        first = self._at - self.frames
        array = self._buffer[first:self._at]
        if self.layout == "NCTHW":
            array = np.ascontiguousarray(array.transpose(1, 0, 2, 3))
        else:
            array.flags.writeable = False  # a view: later windows share these rows
        indices = self._indices[first:self._at]
        clip = Clip(array, self.stream_id, float(self._stamps[first]), float(self._stamps[self._at - 1]),
                    int(indices[0]), int(indices[-1]), self._windows, tuple(int(i) for i in indices))
        self._windows += 1
        return clip

    def reset(self) -> None:
        """Forget buffered frames (after a stream gap, so no clip spans the gap). Writing goes on
        after the rows already written, so a window still queued keeps its frames."""
        self._count = 0
