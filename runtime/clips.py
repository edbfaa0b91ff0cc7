"""Ring buffer of preprocessed frames → clips.

Frames are sampled (every n-th frame, or by a target fps from timestamps, since real cameras drop
and jitter frames), preprocessed once, and written into a fixed ring. A window falls due every
`window_stride` sampled frames once the ring holds a full clip.
"""

from __future__ import annotations

import math
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


class ClipBuffer:
    """Fixed ring of preprocessed frames for one stream."""

    def __init__(self, frames: int, window_stride: int = 1, layout: str = "NTCHW",
                 frame_stride: int = 1, target_fps: float | None = None, stream_id: str = "0"):
        if frames < 1 or window_stride < 1:
            raise OptionValueError(f"frames and window_stride must be >= 1, got {frames}, {window_stride}")
        if layout not in ("NTCHW", "NCTHW"):
            raise OptionValueError(f"layout must be NTCHW or NCTHW, got {layout!r}")
        self.frames = frames
        self.window_stride = window_stride
        self.layout = layout
        self.stream_id = stream_id
        self.sampler = FrameSampler(frame_stride, target_fps)
        self._ring: np.ndarray | None = None
        self._stamps = np.zeros(frames, dtype=np.float64)
        self._indices = np.zeros(frames, dtype=np.int64)
        self._count = 0  # sampled frames so far
        self._windows = 0

    def offer(self, image, timestamp: float, index: int, preprocess: Callable[[np.ndarray], np.ndarray]) -> Clip | None:
        """Sample, preprocess and store one frame; return a clip if a window is now due."""
        if not self.sampler.accept(timestamp):
            return None
        return self.add(preprocess(image), timestamp, index)

    def add(self, frame: np.ndarray, timestamp: float, index: int) -> Clip | None:
        if self._ring is None:
            self._ring = np.empty((self.frames,) + frame.shape, dtype=frame.dtype)
        elif frame.shape != self._ring.shape[1:]:
            raise ValueError(f"preprocessed frame shape {frame.shape} differs from {self._ring.shape[1:]}")
        slot = self._count % self.frames
        self._ring[slot] = frame
        self._stamps[slot] = timestamp
        self._indices[slot] = index
        self._count += 1
        if self._count < self.frames or (self._count - self.frames) % self.window_stride:
            return None
        return self._clip()

    def _clip(self) -> Clip:
        order = (np.arange(self.frames) + self._count) % self.frames  # oldest first
        array = self._ring[order]
        if self.layout == "NCTHW":
            array = np.ascontiguousarray(array.transpose(1, 0, 2, 3))
        clip = Clip(array, self.stream_id, float(self._stamps[order[0]]), float(self._stamps[order[-1]]),
                    int(self._indices[order[0]]), int(self._indices[order[-1]]), self._windows,
                    tuple(int(i) for i in self._indices[order]))
        self._windows += 1
        return clip

    def reset(self) -> None:
        """Forget buffered frames (after a stream gap, so no clip spans the gap)."""
        self._count = 0
