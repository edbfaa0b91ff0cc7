"""Memory over a live run on a CPU engine: the bundled model, a live synthetic camera, RSS every second.

    nice -n 10 python bench/bench_cpu_rss.py --backend openvino --minutes 10 --json rss-openvino.json

Exports models/videomae-motion into a temporary folder (or uses --artifact), then streams a live
640x480 synthetic camera at 15 fps (or --recording, a video file played as a looping 15 fps camera)
through StreamRunner with the given backend. Reports RSS after the first minute (warm-up: the
engine's arenas, the first compiled shapes; --fit-from-minute moves it) and at the end, the
least-squares slope over the rest, and the windows published and dropped. The per-second samples are
kept in arrays allocated before the run (testbed/sample_log.py), so the bench adds no growth of its own.

Beside the fitted slope it fits the slope of each minute's lowest RSS (the floor, which transient
buffers do not lift), and it reads /proc/self/smaps once a minute after the warm-up, while the
stream runs, to split RSS by the kind of mapping holding it (testbed/smaps.py): glibc's main heap,
glibc's per-thread arenas, thread stacks, other anonymous memory (pymalloc's arenas, allocations
glibc or an engine mmapped directly), and files (libraries' pages faulting in); each kind gets its
slope, and the five anonymous mappings that grew most between the first and last reading are named.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.api import RunLimits, StreamRunner  # noqa: E402
from runtime.outputs.base import Sink  # noqa: E402
from testbed.proc import rss_mb  # noqa: E402
from testbed.sample_log import SAMPLE_FIELDS, SampleLog  # noqa: E402
from testbed.smaps import rise_by_kind, rss_by_kind, smaps_regions  # noqa: E402

LIVE_CAMERA = "synthetic://?width=640&height=480&fps=15"


class MallInfo2(ctypes.Structure):
    """glibc's struct mallinfo2 (2.33+): every field a size_t."""
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc_mallinfo2():
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return None
    fn.restype = MallInfo2
    return fn


_MALLINFO2 = _libc_mallinfo2()


def heap_mb() -> dict:
    """glibc's malloc heap: bytes held by live allocations (in use, mmapped ones included) and bytes freed
    but kept in its arenas. RSS rising with `in_use` flat is retention, not a leak."""
    # Python's own allocator (pymalloc) takes 1 MiB arenas straight from mmap, outside glibc's
    # count: its live blocks (thousands) tell Python objects piling up apart from an engine's pools.
    python = {"python_blocks_k": sys.getallocatedblocks() / 1000}
    if _MALLINFO2 is None:
        return python
    info = _MALLINFO2()
    return {"in_use_mb": (info.uordblks + info.hblkhd) / 2**20, "free_kept_mb": info.fordblks / 2**20, **python}


class RssSampler(Sink):
    """on_stats comes about once a second from the runner's thread: sample RSS there."""

    def __init__(self, capacity: int, warmup_s: float = 60.0, smaps_every_s: float = 60.0):
        self.warmup_s = warmup_s
        self.smaps_every_s = smaps_every_s
        # Read while the stream runs (after it stops, its buffers are gone and the reading lies): the
        # first reading after the warm-up and the latest in full, and every reading's RSS by kind
        # (one small dict a minute). Keeping every full reading would grow the heap by ~0.3 MB a minute.
        self.smaps_first: list[dict] | None = None
        self.smaps_latest: list[dict] | None = None
        self.smaps: list[tuple[float, dict[str, float]]] = []
        self.log = SampleLog(capacity)
        self.t0: float | None = None
        self.published = 0

    def on_result(self, result) -> None:
        self.published += 1

    def on_stats(self, streams, sources) -> None:
        now = time.monotonic()
        self.t0 = now if self.t0 is None else self.t0
        self.log.add(now - self.t0, rss_mb(), heap_mb())
        elapsed = now - self.t0
        if elapsed >= self.warmup_s and (not self.smaps or elapsed - self.smaps[-1][0] >= self.smaps_every_s):
            regions = smaps_regions()
            self.smaps_first = self.smaps_first or regions
            self.smaps_latest = regions
            self.smaps.append((elapsed, rss_by_kind(regions)))


def export_bundled(out: Path) -> Path:
    from export.pipeline import ExportOptions, build_artifact

    return build_artifact(ExportOptions(model=str(ROOT / "models" / "videomae-motion"), output=out), log=lambda _: None)


def live_rss(artifact, backend: str, precision: str, threads: int, seconds: float, recording: str | None = None,
             settle_s: float | None = None) -> dict:
    """Stream the synthetic camera, or `recording` played as a looping 15 fps camera, live for `seconds`;
    the slopes are fitted over the samples from `settle_s` on (default: the first minute, or a fifth of
    a short run, is warm-up)."""
    source = recording or LIVE_CAMERA
    options = {"realtime": True, "loop": True, "fps": 15.0} if recording else {}
    warmup_s = min(60.0, 0.2 * seconds)
    settle_s = warmup_s if settle_s is None else settle_s
    sampler = RssSampler(capacity=int(seconds * 1.5) + 600, warmup_s=warmup_s)
    runner = StreamRunner(artifact, [source], backend=backend, threads=threads, source_options=options,
                          mode="live", sinks=[sampler], limits=RunLimits(seconds=seconds), precision=precision)
    with runner:
        name = runner.backend.name
        report = runner.run()
    log = sampler.log
    t, rss = log.column("t"), log.column("rss_mb")
    tail = t >= settle_s
    s = report.summaries[0]
    series = [{"t_s": round(float(row[0]), 1), "rss_mb": round(float(row[1]), 2),
               **{k: round(float(v), 2) for k, v in zip(SAMPLE_FIELDS[2:], row[2:]) if not np.isnan(v)}}
              for row in log.rows[:log.count:10]]
    return {"backend": name, "precision": precision, "threads": threads, "source": source,
            "seconds": round(report.elapsed_s, 1), "fitted_from_s": settle_s,
            "windows": s.windows, "published": sampler.published, "dropped_windows": s.dropped_windows,
            "inference_p50_ms": s.inference_p50_ms, "rss_first_mb": float(rss[0]),
            "rss_at_fit_start_mb": float(rss[tail][0]) if tail.any() else None,
            "rss_end_mb": float(rss[-1]), "rss_max_mb": float(rss.max()),
            "rss_slope_mb_per_hour": _slope_per_hour(t[tail], rss[tail]),
            "rss_floor_slope_mb_per_hour": _floor_slope(t[tail], rss[tail]),
            **{f"heap_{key}_slope_per_hour": _slope_per_hour(t[tail], log.column(key)[tail])
               for key in SAMPLE_FIELDS[2:] if not np.isnan(log.column(key)).all()},
            "python_blocks_k_at_fit_start": float(log.column("python_blocks_k")[tail][0]) if tail.any() else None,
            "python_blocks_k_end": float(log.column("python_blocks_k")[-1]),
            "samples_not_kept": log.overflowed,
            **_by_kind_trend(sampler, settle_s), "series_every_10_s": series}


def _slope_per_hour(t: np.ndarray, values: np.ndarray) -> float | None:
    return float(np.polyfit(t, values, 1)[0]) * 3600 if len(t) > 3 else None


def _floor_slope(t: np.ndarray, rss: np.ndarray) -> float | None:
    """Slope (MB/h) of each minute's lowest RSS: what stays once the transient buffers (a batch in
    flight, frames being converted) are freed, so a few peaks near the end cannot pass for growth."""
    minutes = (t // 60).astype(int)
    keys = np.unique(minutes)
    if len(keys) <= 3:
        return None
    floors = np.array([rss[minutes == m].min() for m in keys])
    return _slope_per_hour(keys * 60.0, floors)


def _by_kind_trend(sampler: RssSampler, settle_s: float) -> dict:
    """RSS by kind of mapping at each smaps reading, its slope per kind from `settle_s` on, and what
    grew between the first and last reading."""
    if len(sampler.smaps) < 2:
        return {}
    rows = sampler.smaps
    fitted = [(t, by_kind) for t, by_kind in rows if t >= settle_s]
    kinds = sorted({k for _, by_kind in rows for k in by_kind})
    times = np.array([t for t, _ in fitted])
    slopes = {k: round(s, 2) for k in kinds
              if (s := _slope_per_hour(times, np.array([by_kind.get(k, 0.0) for _, by_kind in fitted]))) is not None}
    return {"rss_by_kind_slope_mb_per_hour": slopes,
            "rss_rise_by_kind": rise_by_kind(sampler.smaps_first, sampler.smaps_latest),
            "rss_by_kind_series": [{"t_s": round(t, 1), **{k: round(v, 2) for k, v in by_kind.items()}}
                                   for t, by_kind in rows]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", help="an exported artifact (default: export the bundled model to a tmp folder)")
    p.add_argument("--backend", default="openvino")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--recording", help="play this video file as a looping 15 fps camera instead of the synthetic "
                                       "one (a camera with no ground-truth timeline growing beside the run)")
    p.add_argument("--fit-from-minute", type=float,
                   help="fit the slopes from this minute on (default: after the first minute); the latency "
                        "histories (4096 windows a stream) fill in about 18 minutes at 3.75 windows a second")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="tubelet-rss-") as tmp:
        artifact = args.artifact or export_bundled(Path(tmp) / "videomae-motion")
        out = live_rss(artifact, args.backend, args.precision, args.threads, args.minutes * 60, args.recording,
                       None if args.fit_from_minute is None else args.fit_from_minute * 60)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
