"""Memory over a live run on a CPU engine: the bundled model, a live synthetic camera, RSS every second.

    nice -n 10 python bench/bench_cpu_rss.py --backend openvino --minutes 10 --json rss-openvino.json

Exports models/videomae-motion into a temporary folder (or uses --artifact), then streams a live
640x480 synthetic camera at 15 fps through StreamRunner with the given backend. Reports RSS after
the first minute (warm-up: the engine's arenas, the first compiled shapes) and at the end, the
least-squares slope over the rest, and the windows published and dropped.

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
from testbed.smaps import rise_by_kind, rss_by_kind, smaps_regions  # noqa: E402


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


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler(Sink):
    """on_stats comes about once a second from the runner's thread: sample RSS there."""

    def __init__(self, warmup_s: float = 60.0, smaps_every_s: float = 60.0):
        self.warmup_s = warmup_s
        self.smaps_every_s = smaps_every_s
        # Read while the stream runs (after it stops, its buffers are gone and the reading lies): the
        # first reading after the warm-up and the latest in full, and every reading's RSS by kind.
        # Keeping every full reading would itself grow the heap by ~0.3 MB a minute.
        self.smaps_first: list[dict] | None = None
        self.smaps_latest: list[dict] | None = None
        self.smaps: list[tuple[float, dict[str, float]]] = []
        self.samples: list[tuple[float, float]] = []
        self.heap: list[dict] = []
        self.published = 0

    def on_result(self, result) -> None:
        self.published += 1

    def on_stats(self, streams, sources) -> None:
        self.samples.append((time.monotonic(), rss_mb()))
        self.heap.append(heap_mb())
        elapsed = self.samples[-1][0] - self.samples[0][0]
        if elapsed >= self.warmup_s and (not self.smaps or elapsed - self.smaps[-1][0] >= self.smaps_every_s):
            regions = smaps_regions()
            self.smaps_first = self.smaps_first or regions
            self.smaps_latest = regions
            self.smaps.append((elapsed, rss_by_kind(regions)))


def export_bundled(out: Path) -> Path:
    from export.pipeline import ExportOptions, build_artifact

    return build_artifact(ExportOptions(model=str(ROOT / "models" / "videomae-motion"), output=out), log=lambda _: None)


def live_rss(artifact, backend: str, precision: str, threads: int, seconds: float) -> dict:
    sampler = RssSampler(warmup_s=min(60.0, 0.2 * seconds))
    runner = StreamRunner(artifact, ["synthetic://?width=640&height=480&fps=15"], backend=backend, threads=threads,
                          mode="live", sinks=[sampler], limits=RunLimits(seconds=seconds), precision=precision)
    with runner:
        name = runner.backend.name
        report = runner.run()
    t0 = sampler.samples[0][0]
    tail = [(t - t0, mb) for t, mb in sampler.samples if t - t0 >= min(60.0, 0.2 * seconds)]
    slope = float(np.polyfit([t for t, _ in tail], [mb for _, mb in tail], 1)[0]) * 3600 if len(tail) > 3 else None
    s = report.summaries[0]
    heap = _heap_trend(sampler, t0, tail[0][0] if tail else 0.0)
    series = [{"t_s": round(t - t0, 1), "rss_mb": round(mb, 2), **{k: round(v, 2) for k, v in h.items()}}
              for (t, mb), h in zip(sampler.samples, sampler.heap)][::10]
    return {"backend": name, "precision": precision, "threads": threads, "seconds": round(report.elapsed_s, 1),
            "windows": s.windows, "published": sampler.published, "dropped_windows": s.dropped_windows,
            "inference_p50_ms": s.inference_p50_ms, "rss_first_mb": sampler.samples[0][1],
            "rss_after_warmup_mb": tail[0][1] if tail else None, "rss_end_mb": tail[-1][1] if tail else None,
            "rss_max_mb": max(mb for _, mb in sampler.samples), "rss_slope_mb_per_hour": slope,
            "rss_floor_slope_mb_per_hour": _floor_slope(sampler, t0, tail[0][0] if tail else 0.0),
            **heap, **_by_kind_trend(sampler),
            "series_every_10_s": series}


def _floor_slope(sampler: RssSampler, t0: float, after_s: float) -> float | None:
    """Slope (MB/h) of each minute's lowest RSS: what stays once the transient buffers (a batch in
    flight, frames being converted) are freed, so a few peaks near the end cannot pass for growth."""
    minutes: dict[int, float] = {}
    for t, mb in sampler.samples:
        if t - t0 >= after_s:
            minute = int((t - t0) // 60)
            minutes[minute] = min(mb, minutes.get(minute, mb))
    if len(minutes) <= 3:
        return None
    return float(np.polyfit([m * 60.0 for m in minutes], list(minutes.values()), 1)[0]) * 3600


def _by_kind_trend(sampler: RssSampler) -> dict:
    """RSS by kind of mapping at each smaps reading, its slope per kind, and what grew between the first and last."""
    if len(sampler.smaps) < 2:
        return {}
    rows = sampler.smaps
    kinds = sorted({k for _, by_kind in rows for k in by_kind})
    times = [t for t, _ in rows]
    slopes = {k: round(float(np.polyfit(times, [by_kind.get(k, 0.0) for _, by_kind in rows], 1)[0]) * 3600, 2)
              for k in kinds} if len(rows) > 2 else {}
    return {"rss_by_kind_slope_mb_per_hour": slopes,
            "rss_rise_by_kind": rise_by_kind(sampler.smaps_first, sampler.smaps_latest),
            "rss_by_kind_series": [{"t_s": round(t, 1), **{k: round(v, 2) for k, v in by_kind.items()}}
                                   for t, by_kind in rows]}


def _heap_trend(sampler: RssSampler, t0: float, after_s: float) -> dict:
    """Slopes per hour of glibc's in-use and freed-but-kept MB and of Python's live blocks (thousands), over the
    same samples as the RSS slope."""
    rows = [(t - t0, h) for (t, _), h in zip(sampler.samples, sampler.heap) if t - t0 >= after_s]
    if len(rows) <= 3:
        return {}
    times = [t for t, _ in rows]
    return {f"heap_{key}_slope_per_hour": float(np.polyfit(times, [h[key] for _, h in rows], 1)[0]) * 3600
            for key in ("in_use_mb", "free_kept_mb", "python_blocks_k") if key in rows[0][1]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", help="an exported artifact (default: export the bundled model to a tmp folder)")
    p.add_argument("--backend", default="openvino")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="tubelet-rss-") as tmp:
        artifact = args.artifact or export_bundled(Path(tmp) / "videomae-motion")
        out = live_rss(artifact, args.backend, args.precision, args.threads, args.minutes * 60)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
