"""Logits → scores, labels and action events.

One window's logits become probabilities (softmax with the manifest's temperature), are smoothed
over the last windows of the same stream (EMA or a running mean, so one odd window does not flip
the label), and drive a hysteresis state machine: an action starts (onset) when its smoothed score
reaches `on_threshold` and ends (offset) when it falls below `off_threshold`. The gap between the
two thresholds keeps a score hovering near one threshold from chattering on and off. A label whose
smoothed score is below `unknown_below` is reported as UNKNOWN rather than as a guess.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from runtime.cli.errors import TubeletError

UNKNOWN = "unknown"
SMOOTHING = ("none", "ema", "mean")


class PostprocessError(TubeletError, ValueError):
    """A post-processing setting is out of range."""


class NonFiniteScores(TubeletError, ValueError):
    """A window's scores are not finite numbers (the logits held NaN/Inf): it must not be published."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax over the last axis, after dividing by the temperature.

    The maximum is subtracted before dividing: every scaled value is then <= 0, so a temperature near
    0 gives -inf (probability 0) instead of inf - inf = NaN, and finite logits always give finite scores."""
    logits = np.asarray(logits, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        scaled = (logits - logits.max(axis=-1, keepdims=True)) / float(temperature)
        exp = np.exp(scaled)
        return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def top_k(scores: np.ndarray, labels: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The k best (label, score) pairs of one score vector, best first."""
    k = max(1, min(k, scores.shape[-1]))
    best = np.argsort(-scores, kind="stable")[:k]
    return [(labels[i] if i < len(labels) else str(i), float(scores[i])) for i in best]


@dataclass
class PostprocessConfig:
    """How scores become decisions. Defaults: plain argmax, no smoothing, no events filtering."""

    temperature: float = 1.0
    top_k: int = 5
    smoothing: str = "none"  # none | ema | mean
    ema_alpha: float = 0.5  # weight of the newest window in the EMA
    mean_windows: int = 3  # windows averaged by "mean"
    on_threshold: float = 0.5  # an action starts when its smoothed score reaches this
    off_threshold: float = 0.4  # ... and ends when it falls below this
    unknown_below: float = 0.0  # report UNKNOWN when the best smoothed score is below this
    # Labels that are "nothing happening": never an action event. None: the artifact's own, as the
    # recognizer resolves it (`default_background`); () for none at all.
    background: tuple[str, ...] | None = None

    def check(self) -> "PostprocessConfig":
        problems = []
        if not self.temperature > 0:
            problems.append(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 1:
            problems.append(f"top_k must be >= 1, got {self.top_k}")
        if self.smoothing not in SMOOTHING:
            problems.append(f"smoothing {self.smoothing!r} must be one of {SMOOTHING}")
        if not 0 < self.ema_alpha <= 1:
            problems.append(f"ema_alpha must be in (0, 1], got {self.ema_alpha}")
        if self.mean_windows < 1:
            problems.append(f"mean_windows must be >= 1, got {self.mean_windows}")
        if not 0 <= self.off_threshold <= self.on_threshold <= 1:
            problems.append(f"need 0 <= off_threshold <= on_threshold <= 1, got off={self.off_threshold}, "
                            f"on={self.on_threshold}")
        if not 0 <= self.unknown_below <= 1:
            problems.append(f"unknown_below must be in [0, 1], got {self.unknown_below}")
        if problems:
            raise PostprocessError("invalid post-processing settings: " + "; ".join(problems))
        return self


@dataclass(frozen=True)
class Event:
    """An action starting ("onset") or ending ("offset") at a window."""

    kind: str  # onset | offset
    label: str
    window: int
    timestamp: float  # capture time of the window's newest frame
    score: float  # the smoothed score that crossed the threshold


@dataclass
class Decision:
    """What one window means after post-processing."""

    label: str  # best smoothed label, or UNKNOWN
    score: float  # its smoothed score
    top_k: list[tuple[str, float]]  # of the smoothed scores
    scores: np.ndarray  # smoothed probabilities, one per label
    raw_label: str  # argmax of this window alone, before smoothing and rejection
    raw_score: float
    active: str | None  # the action in progress (hysteresis state), None when none
    events: list[Event] = field(default_factory=list)


class Smoother:
    """EMA or running mean of score vectors over the last windows of one stream."""

    def __init__(self, mode: str = "none", alpha: float = 0.5, windows: int = 3):
        if mode not in SMOOTHING:
            raise PostprocessError(f"smoothing {mode!r} must be one of {SMOOTHING}")
        self.mode, self.alpha = mode, alpha
        self._state: np.ndarray | None = None
        self._recent: deque = deque(maxlen=windows)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float32)
        if self.mode == "ema":
            # Seeded with the first window instead of zeros, so the first decisions are not biased low.
            self._state = scores.copy() if self._state is None else self.alpha * scores + (1 - self.alpha) * self._state
            return self._state.astype(np.float32)
        if self.mode == "mean":
            self._recent.append(scores)
            return np.mean(self._recent, axis=0).astype(np.float32)
        return scores

    def reset(self) -> None:
        self._state = None
        self._recent.clear()


class Hysteresis:
    """Onset when a label's score reaches `on`, offset when it drops below `off`; one action at a time."""

    def __init__(self, labels: list[str], on: float, off: float, background: tuple[str, ...] = ()):
        self.labels, self.on, self.off = list(labels), on, off
        self._eligible = np.array([label not in background for label in self.labels], dtype=bool)
        self.active: int | None = None
        self._active_score = 0.0  # the active label's score in its latest window, for the offset at close

    def update(self, scores: np.ndarray, window: int, timestamp: float) -> list[Event]:
        events = []
        if self.active is not None and scores[self.active] < self.off:
            events.append(Event("offset", self.labels[self.active], window, timestamp, float(scores[self.active])))
            self.active = None
        if self.active is None:
            candidates = np.where(self._eligible, scores, -np.inf)
            best = int(np.argmax(candidates))
            if candidates[best] >= self.on:
                self.active = best
                events.append(Event("onset", self.labels[best], window, timestamp, float(scores[best])))
        if self.active is not None:
            self._active_score = float(scores[self.active])
        return events

    def close(self, window: int, timestamp: float) -> list[Event]:
        """End the action in progress (the stream ended or broke), with the score it last had."""
        if self.active is None:
            return []
        event = Event("offset", self.labels[self.active], window, timestamp, self._active_score)
        self.active = None
        return [event]


def default_background(labels, declared=()) -> tuple[str, ...]:
    """The labels that are not actions when the caller names none: those the artifact declares
    (manifest.background, e.g. a video-text model's "nothing is moving") and "no action", each only
    where it is among the labels in use (prompts given at run time replace the artifact's own)."""
    return tuple(dict.fromkeys(b for b in (*declared, "no action") if b in labels))


class PostProcessor:
    """Per-stream state: smoothing history and the hysteresis machine."""

    def __init__(self, labels: list[str], config: PostprocessConfig | None = None):
        self.config = (config or PostprocessConfig()).check()
        self.labels = list(labels)
        background = tuple(self.config.background or ())  # None here (no artifact to ask): none
        unknown = [b for b in background if b not in self.labels]
        if unknown:
            # A misspelt background label would make "nothing happening" an action with events.
            raise PostprocessError(f"background label(s) {unknown} not among the labels: "
                                   f"{', '.join(map(repr, self.labels))}")
        c = self.config
        self.smoother = Smoother(c.smoothing, c.ema_alpha, c.mean_windows)
        self.hysteresis = Hysteresis(self.labels, c.on_threshold, c.off_threshold, background)

    def __call__(self, logits: np.ndarray, window: int = 0, timestamp: float = 0.0) -> Decision:
        """Raises NonFiniteScores (and leaves the smoothing history untouched) for NaN/Inf scores."""
        raw = softmax(logits, self.config.temperature)
        if not np.all(np.isfinite(raw)):
            raise NonFiniteScores(f"window {window}: scores are not finite (logits {np.asarray(logits).tolist()[:8]})")
        raw_best = int(np.argmax(raw))
        smooth = self.smoother(raw)
        ranked = top_k(smooth, self.labels, self.config.top_k)
        label, score = ranked[0]
        if score < self.config.unknown_below:
            label = UNKNOWN
        events = self.hysteresis.update(smooth, window, timestamp)
        active = None if self.hysteresis.active is None else self.labels[self.hysteresis.active]
        return Decision(label, score, ranked, smooth, self._label(raw_best), float(raw[raw_best]), active, events)

    def _label(self, index: int) -> str:
        return self.labels[index] if index < len(self.labels) else str(index)

    def reset(self, window: int = 0, timestamp: float = 0.0) -> list[Event]:
        """Forget history (after a gap in the stream); returns the offset of any action in progress."""
        self.smoother.reset()
        return self.hysteresis.close(window, timestamp)
