"""A window's cost on the live path: the clip buffer's views against the ring copy they replaced.

    python bench/bench_clip_buffer.py --artifact build/videomae-motion --windows 150 --rounds 5

`runtime.clips.ClipBuffer` hands each window out as a read-only view of its frames' rows. Before,
it wrote frames into a fixed ring and copied each window out of it in time order (`RingCopy`
below, the same code): at 8x3x192x192 that is 3.5 MB a window. This feeds the same preprocessed
frames of the synthetic camera (the artifact's own `Preprocessor`) through both and runs every
window on the artifact's ONNX Runtime session at batch 1, as the recognizer does, and times per
window the buffer's work (the frames' `add` calls, the window's creation) and the inference. The
two alternate within each round (A B, then B A), so machine noise hits both alike; figures are
medians over all windows of all rounds. Both must give the same logits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class RingCopy:
    """The ring `ClipBuffer` used before its windows were views: each window copied out in time order."""

    def __init__(self, frames: int, window_stride: int):
        self.frames, self.window_stride = frames, window_stride
        self._ring = None
        self._count = 0

    def add(self, frame: np.ndarray):
        if self._ring is None:
            self._ring = np.empty((self.frames,) + frame.shape, dtype=frame.dtype)
        self._ring[self._count % self.frames] = frame
        self._count += 1
        if self._count < self.frames or (self._count - self.frames) % self.window_stride:
            return None
        return self._ring[(np.arange(self.frames) + self._count) % self.frames]


def _views(frames: int, window_stride: int):
    from runtime.clips import ClipBuffer

    buffer = ClipBuffer(frames, window_stride)
    count = iter(range(1 << 62))

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
    args = parser.parse_args(argv)
    if args.windows < 1 or args.rounds < 1:
        parser.error("--windows and --rounds must be at least 1")

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

    results = {"views": ([], []), "ring copy": ([], [])}
    largest = 0.0
    for round_ in range(args.rounds):
        order = ("views", "ring copy") if round_ % 2 == 0 else ("ring copy", "views")
        passes = {}
        for name in order:
            add = _views(m.input.frames, stride) if name == "views" else RingCopy(m.input.frames, stride).add
            buffer_ms, infer_ms, logits = run_pass(add, frames, infer)
            results[name][0].extend(buffer_ms)
            results[name][1].extend(infer_ms)
            passes[name] = logits
        largest = max(largest, max(float(np.abs(a - b).max()) for a, b in zip(passes["views"], passes["ring copy"])))
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
    print(f"\nviews / ring copy, total per window: {totals['views'] / totals['ring copy']:.3f}x; "
          f"largest logit difference {largest:.2e}")
    if largest > 1e-4:
        print("the two buffers' windows disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
