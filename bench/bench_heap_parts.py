"""Bytes glibc's heap keeps in use per call, one part of the streaming path at a time.

    python bench/bench_heap_parts.py --artifact /tmp/rss/artifact openvino preprocess world

Each part is warmed up, then called in a loop between two `mallinfo2` readings (bench_cpu_rss.heap_mb):
bytes still allocated per call after the loop, and RSS per call. A part that leaks shows a steady
positive figure; a few bytes per call over thousands of calls is noise of the allocator's bookkeeping.
Parts: openvino and cpu (one inference of a random clip on the artifact), preprocess (a 640x480
frame through the artifact's Preprocessor), world (one frame of the endless 640x480 synthetic stream).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_cpu_rss import heap_mb, rss_mb  # noqa: E402
from runtime.artifact import load_artifact  # noqa: E402

PARTS = ("openvino", "cpu", "preprocess", "world")


def per_call(fn, warm: int, calls: int) -> dict:
    for _ in range(warm):
        fn()
    gc.collect()
    heap0, rss0, t0 = heap_mb()["in_use_mb"], rss_mb(), time.perf_counter()
    for _ in range(calls):
        fn()
    gc.collect()
    heap1, rss1 = heap_mb()["in_use_mb"], rss_mb()
    return {"calls": calls, "seconds": round(time.perf_counter() - t0, 1),
            "heap_in_use_bytes_per_call": round((heap1 - heap0) * 2**20 / calls, 2),
            "rss_bytes_per_call": round((rss1 - rss0) * 2**20 / calls, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", required=True, help="an exported artifact (python export/build_engine.py)")
    p.add_argument("--calls", type=int, default=20000, help="calls per part (the world: a third of it)")
    p.add_argument("parts", nargs="+", choices=PARTS)
    args = p.parse_args()
    if not heap_mb():
        p.error("needs glibc 2.33 or newer (mallinfo2)")
    artifact = load_artifact(args.artifact)
    m = artifact.manifest
    clip = {m.input.name: np.random.default_rng(0).standard_normal(
        (1, m.input.frames, 3, m.input.height, m.input.width)).astype(np.float32)}
    for part in args.parts:
        if part in ("openvino", "cpu"):
            from runtime.backends import open_backend

            backend = open_backend(artifact, part, threads=2)
            out = per_call(lambda: backend.infer(clip), 2000, args.calls)
            backend.close()
        elif part == "preprocess":
            from runtime.preprocess import Preprocessor

            pre = Preprocessor(m.preprocessing)
            frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8)
            out = per_call(lambda: pre(frame), 2000, args.calls)
        else:
            from runtime.world import SyntheticStream

            # Endless, as the live camera is: a bounded stream plans its whole timeline up front and
            # would hide what planning keeps per segment.
            frames = iter(SyntheticStream(3, 480, 640, 15.0, num_frames=None))
            out = per_call(lambda: next(frames), 1000, max(1, args.calls // 3))
        print(f"{part:>10s}: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
