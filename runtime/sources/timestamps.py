"""A file's frames get presentation times that increase, whatever the decoder reports.

OpenCV reports one time per decoded frame (CAP_PROP_POS_MSEC). On files with B-frames some builds
report the packets' times in decode order, so the times run backwards every few frames although
the images come out in presentation order; at the end of a file the last frames may report 0; a
file without timestamps reports nothing useful at all. Used as capture times, each backwards step
looked like a camera restart and no clip could form.

`presentation_times` holds a few frames back, hands the smallest reported time among them to the
oldest frame (decode-order times become presentation-order times again: a B-frame is never more
than a few frames away from its reference), and never lets a time fail to increase: a missing or
backwards time becomes the previous one plus the frame period. Times that jump forward are kept:
an AVI that stores only changed frames (a 444-frame header, 68 frames stored) plays at its real pace.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

REORDER_DEPTH = 6  # frames held back: B-frame reordering in H.264/HEVC/MPEG-4 files is 1-4 deep
MIN_FPS, MAX_FPS = 0.01, 1000.0  # a header frame rate outside this is not believed


def frame_period(fps: float | None) -> float | None:
    """Seconds per frame from a header's frame rate, or None when the header has none worth trusting."""
    if fps is None or not math.isfinite(fps) or not MIN_FPS <= fps <= MAX_FPS:
        return None
    return 1.0 / fps


def reported_seconds(msec: float | None, index: int) -> float | None:
    """A decoder's position in ms as seconds, or None when it says nothing (0 after the first frame)."""
    if msec is None or not math.isfinite(msec) or msec < 0 or (msec == 0 and index > 0):
        return None
    return msec / 1000.0


def presentation_times(decoded: Iterable[tuple[T, float | None]], fps: float | None) -> Iterator[tuple[T, float]]:
    """(item, reported seconds or None), in presentation order → (item, strictly increasing seconds).

    Without any reported time the result is index / fps (index seconds when fps is unknown too).
    """
    period = frame_period(fps)
    pending: deque = deque()
    known: list[float] = []  # reported times of the pending frames, smallest first
    last: float | None = None
    step = period or 1.0

    def emit():
        nonlocal last, step
        item, reported = pending.popleft()
        t = heapq.heappop(known) if reported is not None else None
        if t is None or (last is not None and not t > last):
            t = 0.0 if last is None else last + step
        elif last is not None and period is None:
            step = t - last  # no header rate: the file's own last step stands in for it
        last = t
        return item, t

    for item, reported in decoded:
        pending.append((item, reported))
        if reported is not None:
            heapq.heappush(known, reported)
        if len(pending) > REORDER_DEPTH:
            yield emit()
    while pending:
        yield emit()
