"""A window's cost on the live path: the clip buffer's views against a copy of each window, as the ring made.

    python bench/bench_clip_buffer.py --artifact build/videomae-motion --windows 150 --rounds 6 --live-seconds 45

`runtime.clips.ClipBuffer` hands each window out as a read-only view of its frames' rows. Before,
it wrote frames into a fixed ring and copied each window out of it in time order: at 8x3x192x192,
3.5 MB a window. `CopiedWindows` below is the buffer with that copy put back, nothing else changed.

1. Per window: the same preprocessed frames of the synthetic camera (the artifact's own
   `Preprocessor`) through both, every window run on the artifact's ONNX Runtime session at batch 1
   as the recognizer does; timed per window: the buffer's work (the frames' `add` calls and the
   window's creation) and the inference. Both must give the same logits.
2. Live (`--live-seconds`): bench/bench_stream.py's live run (a 640x480 synthetic camera at 15 fps
   through `StreamRunner`, capture thread, recognizer, inference thread), once with each buffer:
   the latency from the newest frame's capture to the result's emission, minus the inference.

The two alternate within each round (A B, then B A), so machine noise hits both alike; figures
are medians over all windows of all rounds, and the live run's p50 / p95 per pass.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from runtime.clips import ClipBuffer  # noqa: E402


class CopiedWindows(ClipBuffer):
    """The clip buffer with each window copied out of it, as the ring did before windows were views."""

    def _clip(self):
        clip = super()._clip()
        clip.array = clip.array.copy()
        return clip


def _adder(buffer_class, frames: int, window_stride: int):
    buffer = buffer_class(frames, window_stride)
    count = itertools.count()

    def add(frame):
        i = next(count)
        clip = buffer.add(frame, i / 15.0, i)
        return None if clip is None else clip.array

    return add


def run_pass(add, frames: list[np.ndarray], infer) -> tuple[list[float], list[float], list[np.ndarray]]:
    buffer_ms, infer_ms, logits = [], [], []
    spent = 0.0
    for frame in frames:
        start = time.perf_counter()
        window = add(frame)
        spent += time.perf_counter() - start
        if window is None:
            continue
        start = time.perf_counter()
        out = infer(window[None])
        infer_ms.append((time.perf_counter() - start) * 1000.0)
        buffer_ms.append(spent * 1000.0)
        spent = 0.0
        logits.append(out)
    return buffer_ms, infer_ms, logits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", default=str(ROOT / "build" / "videomae-motion"),
                        help="an exported NTCHW artifact (default build/videomae-motion: python export/build_engine.py)")
    parser.add_argument("--windows", type=int, default=150, help="windows per pass (default 150)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each one pass of both (default 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=808, help="synthetic camera seed (default 808)")
    parser.add_argument("--live-seconds", type=float, default=0.0,
                        help="also time the live path for this long per buffer and round (default 0: not)")
    args = parser.parse_args(argv)
    if args.windows < 1 or args.rounds < 1 or args.live_seconds < 0:
        parser.error("--windows and --rounds must be at least 1, --live-seconds at least 0")

    from runtime.artifact import load_artifact
    from runtime.backends import open_backend
    from runtime.preprocess import Preprocessor
    from runtime.world import SyntheticStream

    artifact = load_artifact(args.artifact)
    m = artifact.manifest
    if m.input.layout != "NTCHW":
        parser.error(f"{args.artifact} takes {m.input.layout}; its windows are a transposed copy either way")
    backend = open_backend(artifact, "onnxruntime", threads=args.threads)
    stride = m.sampling.window_stride
    pre = Preprocessor(m.preprocessing)
    count = m.input.frames + stride * (args.windows - 1)
    frames = [pre(frame.image) for frame in SyntheticStream(seed=args.seed, num_frames=count)]

    def infer(batch):
        return backend.infer({m.input.name: batch})[m.outputs[0]]

    classes = {"views": ClipBuffer, "copied windows": CopiedWindows}
    results = {name: ([], []) for name in classes}
    live = {name: [] for name in classes}
    largest = 0.0
    for round_ in range(args.rounds):
        order = list(classes) if round_ % 2 == 0 else list(classes)[::-1]
        passes = {}
        for name in order:
            buffer_ms, infer_ms, logits = run_pass(_adder(classes[name], m.input.frames, stride), frames, infer)
            results[name][0].extend(buffer_ms)
            results[name][1].extend(infer_ms)
            passes[name] = logits
        largest = max(largest, max(float(np.abs(a - b).max()) for a, b in zip(*passes.values())))
        if args.live_seconds > 0 and round_ < 2:
            for name in order:
                live[name].append(_live(artifact, classes[name], args.threads, args.live_seconds))
    shape = "x".join(str(d) for d in (m.input.frames, m.input.channels, m.input.height, m.input.width))
    print(f"Artifact `{args.artifact}` ({shape} a window, window stride {stride}), ONNX Runtime batch 1, "
          f"{args.threads} threads, {args.rounds} rounds x {args.windows} windows, {os.cpu_count()} CPUs; "
          f"medians per window.\n")
    print("| clip buffer | buffer work | inference | total |")
    print("|---|---|---|---|")
    totals = {}
    for name, (buffer_ms, infer_ms) in results.items():
        total = [b + i for b, i in zip(buffer_ms, infer_ms)]
        totals[name] = statistics.median(total)
        print(f"| {name} | {statistics.median(buffer_ms):.3f} ms | {statistics.median(infer_ms):.2f} ms "
              f"| {totals[name]:.2f} ms |")
    print(f"\nviews / copied windows, total per window: {totals['views'] / totals['copied windows']:.3f}x; "
          f"largest logit difference {largest:.2e}")
    if any(live.values()):
        print(f"\nLive, {args.live_seconds:g} s a pass (the first two rounds): (emission - newest capture) "
              "- inference per result, p50 / p95 of each pass\n")
        print("| clip buffer | passes | results | load average |")
        print("|---|---|---|---|")
        for name, runs in live.items():
            passes = ", ".join(f"{r['overhead_p50_ms']:.2f} / {r['overhead_p95_ms']:.2f} ms" for r in runs)
            counts = ", ".join(str(r["results"]) for r in runs)
            loads = ", ".join(f"{r['load_average']:.2f}" for r in runs)
            print(f"| {name} | {passes} | {counts} | {loads} |")
    if largest > 1e-4:
        print("the two buffers' windows disagree", file=sys.stderr)
        return 1
    return 0


def _live(artifact, buffer_class, threads: int, seconds: float) -> dict:
    import runtime.recognizer
    from bench_stream import bench_live

    kept = runtime.recognizer.ClipBuffer
    runtime.recognizer.ClipBuffer = buffer_class  # the recognizer makes each stream's buffer from this name
    try:
        return bench_live(artifact, threads, seconds)
    finally:
        runtime.recognizer.ClipBuffer = kept


if __name__ == "__main__":
    sys.exit(main())
