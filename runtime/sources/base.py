"""What every source is and produces: `Frame`, the `Source` base with its `SourceStats` and `Gap`s,
`SourceError`, and `IterableSource` over any iterable of frames."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Protocol, Sequence

import numpy as np

from runtime.cli.errors import TubeletError


@dataclass(frozen=True)
class Frame:
    """One captured image.

    `image` is uint8 in OpenCV order: HxWx3 BGR (some sources may give HxW gray or HxWx4 BGRA;
    the preprocessor accepts those). `timestamp` is the capture time in `time.monotonic()` seconds
    (or a synthetic clock for offline sources), `index` counts frames from 0 within its source.
    """

    image: np.ndarray
    timestamp: float
    index: int
    stream_id: str = "0"


MAX_GAPS = 1024  # gaps kept in stats; older ones are forgotten (memory stays flat on flaky links)


class SourceError(TubeletError, RuntimeError):
    """A source cannot be opened or read (bad spec, missing file, unreachable camera, gave up)."""


@dataclass
class Gap:
    """A stretch without frames: from the last frame before it to the first frame after it."""

    start: float  # capture time of the last frame before the gap (time.monotonic() seconds)
    end: float | None = None  # capture time of the first frame after it; None while still open
    reason: str = "stall"  # "stall" (no frame for stall_timeout) or "disconnected" (read failed)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class SourceStats:
    """What a source reports: the runtime prints and exports these."""

    frames: int = 0  # frames captured (live) or read (offline)
    delivered: int = 0  # frames handed to the consumer
    dropped: int = 0  # live: overwritten in the ring before anyone read them; offline: undecodable
    stalls: int = 0  # times no frame arrived for stall_timeout
    reconnects: int = 0  # successful re-opens after a loss
    reconnect_attempts: int = 0  # every re-open tried, successful or not
    gaps: list[Gap] = field(default_factory=list)  # newest MAX_GAPS gaps
    last_error: str | None = None  # the most recent failure, for the logs

    def snapshot(self) -> "SourceStats":
        return copy.deepcopy(self)


class TruthSegment(Protocol):
    """Frames [start, end) of a stream show `label` (e.g. runtime.world.Segment)."""

    start: int
    end: int
    label: str


class GroundTruth(Protocol):
    """What a scene truly shows, frame by frame: what accuracy and detection delay are scored against.

    A source that knows it (the synthetic world) returns one from `Source.ground_truth()`."""

    fps: float
    timeline: Sequence[TruthSegment]  # in frame order, end exclusive, each start the previous end
    # This truth's labels that mean nothing is happening ("no action"): no onset to detect. A
    # property of the scene, not of the model, so every model is scored over the same onsets.
    background: tuple[str, ...]

    def label_at(self, index: int) -> str:
        """The true label of frame `index`."""

    def action_of(self, label: str) -> str | None:
        """A result's label (e.g. a zero-shot prompt, "a shape moving left") read as one of this
        truth's labels, or None when it names none of them (the label is then scored as it is)."""


class Source:
    """An iterable of `Frame`s with a `.live` flag, `.stats`, `.close()`, and a context manager."""

    live: bool = False

    def __init__(self, name: str, stream_id: str | None = None):
        self.name = name
        self.stream_id = stream_id if stream_id is not None else name
        self._stats = SourceStats()
        self._stats_lock = threading.Lock()
        self._closed = False

    @property
    def stats(self) -> SourceStats:
        """A consistent copy of the counters (safe to read while frames flow)."""
        with self._stats_lock:
            return self._stats.snapshot()

    @property
    def closed(self) -> bool:
        return self._closed

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def ground_truth(self) -> GroundTruth | None:
        """The scene's true labels by frame index when the source knows them (the synthetic world),
        else None: cameras and recordings carry no ground truth."""
        return None

    def close(self) -> None:
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, live={self.live})"

    def _add_gap(self, gap: Gap) -> None:
        """Record a gap (caller holds _stats_lock)."""
        self._stats.gaps.append(gap)
        if len(self._stats.gaps) > MAX_GAPS:
            del self._stats.gaps[0]


class IterableSource(Source):
    """An offline source over any iterable of frames: every frame delivered, in order.

    Items may be `Frame`s or bare images (numpy arrays such as HxWx3 uint8 BGR); a bare image is
    stamped index / fps. Anything else raises SourceError naming what it got."""

    live = False

    def __init__(self, frames: Iterable, name: str, stream_id: str | None = None, fps: float = 30.0):
        super().__init__(name, stream_id)
        from runtime.sources.timestamps import MAX_FPS, MIN_FPS, frame_period

        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or frame_period(fps) is None:
            raise SourceError(f"fps for {name} must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {fps!r}")
        shape = getattr(frames, "shape", None)
        if shape is not None and len(shape) == 3 and shape[-1] in (3, 4):
            raise SourceError(f"{name}: an array of shape {tuple(shape)} is one image, not a sequence of frames; "
                              "pass a list of images or a (T, H, W, 3) array")
        self._frames = frames
        self.fps = float(fps)

    def __iter__(self) -> Iterator[Frame]:
        iterator = iter(self._frames)
        try:
            for index, frame in enumerate(iterator):
                if self._closed:
                    break
                frame = self._as_frame(frame, index)
                with self._stats_lock:
                    self._stats.frames += 1
                    self._stats.delivered += 1
                yield frame
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _as_frame(self, item, index: int) -> Frame:
        if isinstance(item, Frame):
            return item if item.stream_id == self.stream_id else Frame(item.image, item.timestamp, item.index,
                                                                       self.stream_id)
        if item is None or (hasattr(item, "shape") and hasattr(item, "dtype")):  # an image (None: a lost one)
            # The recognizer checks it, and refuses and counts a bad one like any camera's.
            return Frame(item, index / self.fps, index, self.stream_id)
        raise SourceError(f"{self.name}: item {index} is a {type(item).__name__}; expected a numpy image "
                          "(HxWx3 uint8 BGR, HxW gray) or a runtime.sources.Frame")
