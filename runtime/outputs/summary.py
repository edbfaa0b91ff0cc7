"""The summary printed at exit: per stream, latency percentiles, windows, drops, faults."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np


def percentile(values, q: float) -> float | None:
    """The q-th percentile (0..100) of values, None when there are none (not 0: that would be a latency)."""
    values = list(values)
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


@dataclass
class StreamSummary:
    stream_id: str
    frames: int
    windows: int
    published: int
    dropped_windows: int
    nonfinite: int
    bad_frames: int
    restarts: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    inference_p50_ms: float | None
    source: dict  # the source's own counters (dropped frames, stalls, reconnects, gaps) when it has them
    failed_windows: int = 0  # the backend call failed transiently (a remote server down)
    sampled: int = 0  # frames the sampler took
    clip_frames: int = 0  # sampled frames one window needs
    rejected: dict = field(default_factory=dict)  # why frames were refused → how many
    restart_reasons: dict = field(default_factory=dict)  # "gap" / "clock went back" → how many

    def as_dict(self) -> dict:
        return asdict(self)


def _source_counters(stats) -> dict:
    if stats is None:
        return {}
    if not isinstance(stats, dict):
        names = ("frames", "dropped", "stalls", "reconnects", "gaps")
        stats = {name: getattr(stats, name) for name in names if hasattr(stats, name)}
    # Gaps come as a list of Gap records; the summary counts them.
    return {k: (len(v) if isinstance(v, (list, tuple)) else v) for k, v in stats.items()}


def summarize(streams: dict, sources: dict | None = None) -> list[StreamSummary]:
    """streams: stream id → StreamStats; sources: stream id → the source's stats object."""
    sources = sources or {}
    out = []
    for stream_id, s in streams.items():
        latencies = list(s.latencies_ms)
        out.append(StreamSummary(
            stream_id, s.frames, s.windows, s.published, s.dropped_windows, s.nonfinite, s.bad_frames, s.restarts,
            percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99),
            percentile(s.inference_ms, 50), _source_counters(sources.get(stream_id)),
            getattr(s, "failed_windows", 0), getattr(s, "sampled", 0), getattr(s, "clip_frames", 0),
            dict(getattr(s, "rejected", {})), dict(getattr(s, "restart_reasons", {}))))
    return out


def why_no_windows(s: StreamSummary) -> str | None:
    """For a stream with frames but no window: what stopped every clip from filling, else None."""
    if s.windows or not s.frames:
        return None
    reasons = []
    if s.bad_frames:
        detail = "; ".join(f"{n} x {reason}" for reason, n in sorted(s.rejected.items(), key=lambda kv: -kv[1])[:3])
        reasons.append(f"{s.bad_frames} of {s.frames} frames refused ({detail})")
    if s.restarts:
        detail = ", ".join(f"{n} x {reason}" for reason, n in s.restart_reasons.items())
        reasons.append(f"the clip restarted {s.restarts} times ({detail}), so no {s.clip_frames} sampled frames "
                       "came in a row")
    if not reasons:
        reasons.append(f"{s.sampled} frames were sampled and a window needs {s.clip_frames}: the stream is shorter "
                       "than one clip at the model's sampling rate")
    return "no windows: " + "; ".join(reasons)


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def format_summary(summaries: list[StreamSummary], elapsed_s: float | None = None) -> str:
    head = "summary" + (f" after {elapsed_s:.1f} s" if elapsed_s is not None else "")
    lines = [head]
    for s in summaries:
        src = s.source
        extra = ", ".join(f"{k} {v}" for k, v in src.items() if k != "frames" and v)
        lines.append(
            f"  {s.stream_id}: {s.frames} frames, {s.windows} windows, {s.published} published, "
            f"{s.dropped_windows} dropped, {s.nonfinite} non-finite"
            + (f", {s.failed_windows} failed (backend unavailable)" if s.failed_windows else "") + "; latency p50/p95/p99 "
            f"{_ms(s.latency_p50_ms)}/{_ms(s.latency_p95_ms)}/{_ms(s.latency_p99_ms)} ms "
            f"(inference p50 {_ms(s.inference_p50_ms)} ms)" + (f"; source: {extra}" if extra else ""))
        if s.bad_frames or s.restarts:
            lines[-1] += f"; {s.bad_frames} frames refused, {s.restarts} clip restarts"
        why = why_no_windows(s)
        if why:
            lines.append(f"    {why}")
    return "\n".join(lines)
