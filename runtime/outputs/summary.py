"""The summary printed at exit: per stream, latency percentiles, windows, drops, faults."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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
            getattr(s, "failed_windows", 0)))
    return out


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
    return "\n".join(lines)
