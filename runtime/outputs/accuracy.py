"""Online accuracy and detection delay against a ground-truth timeline (the synthetic world).

Results are only recorded during the run; the timeline is read afterwards, so the source thread
that plans the world lazily is never raced.

- online accuracy: the fraction of published windows whose label equals the true label at the
  window's newest frame (what a robot acting on each result would get right; UNKNOWN counts wrong).
- settled accuracy: the same over windows whose frames all lie inside one segment of the timeline
  (no window that straddles a change): what the model gets right once an action is fully in view,
  apart from how fast it notices a change.
- majority ceiling: the online accuracy a model would reach that names, for every window, exactly
  the action filling most of the frames it saw (ties to the newest;
  `runtime.sources.window_truth.window_label`, the rule training labels stream windows by): what a
  model trained on majority labels can at best score, since the first half of every change is
  scored against it.
- detection delay: for each action segment (the truth's background labels and the model's
  excluded), from its first frame to
  the first correct result whose newest frame lies inside the segment, in stream seconds, plus that
  result's latency: how long after the action began the robot knew. Segments never recognized
  while they lasted are counted as missed.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from runtime.outputs.base import Sink
from runtime.sources.window_truth import Segments

if TYPE_CHECKING:
    from runtime.sources.base import GroundTruth


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class Accuracy:
    stream_id: str
    windows: int
    correct: int
    segments: int  # action onsets seen by at least one window
    detected: int
    delays_s: list[float] = field(default_factory=list)
    settled_windows: int = 0  # windows wholly inside one segment
    settled_correct: int = 0
    majority_correct: int = 0  # windows whose majority action is the truth at their newest frame
    # Detection delays of the onsets a model naming each window's majority action would detect.
    majority_delays_s: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.windows if self.windows else None

    @property
    def settled_accuracy(self) -> float | None:
        return self.settled_correct / self.settled_windows if self.settled_windows else None

    @property
    def majority_ceiling(self) -> float | None:
        return self.majority_correct / self.windows if self.windows else None

    @property
    def mean_delay_s(self) -> float | None:
        return _mean(self.delays_s)

    @property
    def majority_mean_delay_s(self) -> float | None:
        return _mean(self.majority_delays_s)

    def as_dict(self) -> dict:
        return {"stream_id": self.stream_id, "windows": self.windows, "correct": self.correct,
                "accuracy": self.accuracy, "segments": self.segments, "detected": self.detected,
                "mean_delay_s": self.mean_delay_s, "settled_windows": self.settled_windows,
                "settled_correct": self.settled_correct, "settled_accuracy": self.settled_accuracy,
                "majority_correct": self.majority_correct, "majority_ceiling": self.majority_ceiling,
                "majority_mean_delay_s": self.majority_mean_delay_s}


class GroundTruthRecorder(Sink):
    def __init__(self):
        # Per stream: (oldest frame index, newest frame index, label, latency in s) of each result,
        # and the source indices of the frames it saw (a compact array: a run may be hours long).
        self._records: dict[str, list[tuple[int, int, str, float]]] = {}
        self._frames: dict[str, list[np.ndarray]] = {}
        self._lock = threading.Lock()

    def on_result(self, result) -> None:
        with self._lock:
            self._records.setdefault(result.stream_id, []).append(
                (result.first_index, result.newest_index, result.label, result.latency_ms / 1000.0))
            # A result that does not say which frames it saw spans every frame from first to newest.
            seen = result.frame_indices or range(result.first_index, result.newest_index + 1)
            self._frames.setdefault(result.stream_id, []).append(np.asarray(seen, np.int32))

    def score(self, stream_id: str, world: GroundTruth, background: tuple[str, ...] = ()) -> Accuracy:
        """world: the stream's ground truth (runtime.sources.base.GroundTruth, what `Source.ground_truth()`
        returns): label_at(index), timeline (Segment(start, end, label)), fps, background (its labels
        with no onset to detect), and action_of(label), which reads a result label (e.g. a zero-shot
        prompt) as one of its actions. `background`: the model's labels of nothing happening, read
        the same way, added to the truth's own."""
        with self._lock:
            records = list(self._records.get(stream_id, []))
            frames = list(self._frames.get(stream_id, []))
        read = world.action_of
        records = [(first, index, read(label) or label, latency) for first, index, label, latency in records]
        # The truth's own background (its pauses) always; the model's background labels as it reads them.
        background = tuple(world.background) + tuple(read(label) or label for label in background)
        truths = [world.label_at(index) for _, index, _, _ in records]
        hits = [label == truth for (_, _, label, _), truth in zip(records, truths)]
        result = Accuracy(stream_id, len(records), sum(hits), 0, 0)
        if not records:
            return result
        segments = Segments(world.timeline)
        majority = [segments.label(seen) for seen in frames]
        for (first, index, _, _), named, hit, truth in zip(records, majority, hits, truths):
            if not segments.straddles((first, index)):
                result.settled_windows += 1
                result.settled_correct += hit
            result.majority_correct += named == truth
        # Each onset's search starts at its segment's first result (a bisect over the results by
        # newest frame, the order one stream's results arrive in, so the sort is one pass) and stops
        # at the segment's end: a run of hours scores in one pass over its results, not one per onset.
        order = sorted(range(len(records)), key=lambda at: records[at][1])
        newest = [records[at][1] for at in order]
        first_seen, last_seen = newest[0], newest[-1]
        for segment in world.timeline:
            # Onsets before the first full clip, or after the last window, were never observable.
            if segment.label in background or segment.start <= first_seen or segment.start > last_seen:
                continue
            result.segments += 1
            searched = order[bisect.bisect_left(newest, segment.start):bisect.bisect_left(newest, segment.end)]
            # The model's first naming of the action, and the first window whose frames the action
            # mostly fills (what a model naming exactly that would detect, at the same latency).
            for named, delays in ((lambda at: records[at][2], result.delays_s),
                                  (majority.__getitem__, result.majority_delays_s)):
                at = next((at for at in searched if named(at) == segment.label), None)
                if at is not None:
                    delays.append((records[at][1] - segment.start) / world.fps + records[at][3])
        result.detected = len(result.delays_s)
        return result


def format_accuracy(scores: list[Accuracy], goal_s: float | None = None) -> str:
    lines = ["accuracy against the ground truth"]
    for s in scores:
        acc = "-" if s.accuracy is None else f"{100 * s.accuracy:.1f}%"
        delay = "-" if s.mean_delay_s is None else f"{s.mean_delay_s:.2f} s"
        settled = "-" if s.settled_accuracy is None else f"{100 * s.settled_accuracy:.1f}%"
        lines.append(f"  {s.stream_id}: online accuracy {acc} ({s.correct}/{s.windows} windows; "
                     f"{settled} of the {s.settled_windows} inside one action); "
                     f"mean detection delay {delay} ({s.detected}/{s.segments} action onsets detected)"
                     + ("" if goal_s is None else f"; goal <= {goal_s:.2f} s (half the window span + one inference)"))
    return "\n".join(lines)
