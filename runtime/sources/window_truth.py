"""What a window of frames truly shows, by a ground-truth timeline: one rule for the stream
scorer's majority ceiling and for the labels training gives stream windows, so the ceiling is
exactly what a model trained on those labels can at best score.

A window is the frames the model saw (their source indices, oldest first), not every frame
between its first and its newest: at a frame stride of 2 a change halfway through the span can
fill half of the sampled frames and less than half of all of them.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class Segments:
    """Which segment of a timeline covers a frame: one bisect over the segment starts, built once.

    timeline: segments with .start and .label in frame order, each start the previous end
    (runtime.sources.base.TruthSegment). A scorer or a data builder asks this of every window of a
    stream, so it builds one `Segments` per stream rather than the starts per window. It reads the
    timeline once: build it after the stream's last frame (a live stream plans its segments as it goes)."""

    def __init__(self, timeline: Sequence):
        self.timeline = timeline
        self.starts = [segment.start for segment in timeline]

    def index(self, frame: int) -> int:
        """The index in the timeline of the segment covering `frame`; -1 before the first."""
        return bisect.bisect_right(self.starts, int(frame)) - 1

    def straddles(self, frames: Sequence[int]) -> bool:
        """Whether the window `frames` (source indices, oldest first) sees a change: its oldest and
        newest frames lie in different segments."""
        if len(frames) == 0:
            raise ValueError("a window holds at least one frame")
        return self.index(frames[0]) != self.index(frames[-1])

    def label(self, frames: Sequence[int], onset_frames: int | None = None) -> str:
        """The label of the segment covering most of `frames`; ties to the newest frame's.

        With `onset_frames`, the newest frame's label wins as soon as it covers that many of the
        frames: the scorer asks for the newest frame's label, and a window whose last few frames
        already show a new action can name it before it holds the majority."""
        if len(frames) == 0:
            raise ValueError("a window holds at least one frame")
        at = [self.index(f) for f in frames]
        if min(at) < 0:
            raise ValueError(f"frame {int(frames[at.index(min(at))])} precedes the timeline "
                             f"(it starts at frame {self.starts[0]})")
        labels = [self.timeline[i].label for i in at]
        counts: dict[str, int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        newest = labels[-1]
        if onset_frames is not None and counts[newest] >= onset_frames:
            return newest
        best = max(counts.values())
        return newest if counts[newest] == best else next(lb for lb in reversed(labels) if counts[lb] == best)


def window_label(timeline: Sequence, frames: Sequence[int], onset_frames: int | None = None) -> str:
    """`Segments.label` of one window (a loop over a stream's windows builds one `Segments`)."""
    return Segments(timeline).label(frames, onset_frames)


def straddles(timeline: Sequence, frames: Sequence[int]) -> bool:
    """`Segments.straddles` of one window (a loop over a stream's windows builds one `Segments`)."""
    return Segments(timeline).straddles(frames)
