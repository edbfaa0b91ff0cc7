"""Why the stream scores below the held-out clips: accuracy on the synthetic camera, split by what
the model's view holds.

Held-out clips are square and show the actor at its clip scale; the demo camera is 4:3, the
runtime's preprocessing (like the HF image processor) keeps its central square, and the actor keeps
the scale its last approach or recession left it at. This benchmark scores the bundled artifact on
the stream and splits the windows that lie inside one action by (a) whether the actor is wholly
inside the model's crop at the window's newest frame and (b) the actor's radius in model pixels;
it repeats the run on a square camera, where nothing is cropped.

    python bench/bench_stream_gap.py --frames 3000
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.api import RunLimits, StreamRunner  # noqa: E402
from runtime.artifact import load_artifact  # noqa: E402
from runtime.outputs.accuracy import GroundTruthRecorder  # noqa: E402
from runtime.outputs.base import Sink  # noqa: E402
from runtime.postprocess import PostprocessConfig  # noqa: E402
from runtime.recognizer import RecognizerConfig  # noqa: E402
from runtime.sources.window_truth import Segments  # noqa: E402
from testbed.view import crop_box  # noqa: E402


class _Windows(Sink):
    def __init__(self):
        self.rows: list[tuple[int, int, str]] = []
        self.frames: list[tuple[int, ...]] = []  # the source indices each window saw, row by row

    def on_result(self, result) -> None:
        self.rows.append((result.first_index, result.newest_index, result.label))
        self.frames.append(tuple(result.frame_indices or range(result.first_index, result.newest_index + 1)))


def run(artifact, width: int, height: int, frames: int, seed: int, threads: int) -> dict:
    background = tuple(b for b in ("no action",) if b in artifact.manifest.labels)
    recorder, windows = GroundTruthRecorder(), _Windows()
    config = RecognizerConfig(offline_queue=1, postprocess=PostprocessConfig(smoothing="none", background=background))
    url = f"synthetic://?realtime=false&seed={seed}&width={width}&height={height}"
    runner = StreamRunner(artifact, [url], backend="cpu", threads=threads, mode="offline", config=config,
                          sinks=[recorder, windows], limits=RunLimits(max_frames=frames))
    with runner:
        runner.run()
        world = runner.feeds[0].source.ground_truth()
        score = recorder.score(runner.feeds[0].stream_id, world, background)
    spec = artifact.manifest.preprocessing
    left, top, right, bottom = crop_box(spec, height, width)
    pixels = spec.crop_height / (bottom - top)  # model pixels per short side
    segments = Segments(world.timeline)
    view = collections.defaultdict(lambda: [0, 0])
    size = collections.defaultdict(lambda: [0, 0])
    for first, newest, label in windows.rows:
        truth = world.timeline[segments.index(newest)].label
        if segments.straddles((first, newest)) or truth in background:
            continue  # straddles a change, or nothing to recognize
        place = world.actor_at(newest)
        if place is None:
            continue
        x, y, radius = place
        inside = left <= x - radius and x + radius <= right and top <= y - radius and y + radius <= bottom
        view["wholly inside the crop" if inside else "partly or wholly outside"][0] += label == truth
        view["wholly inside the crop" if inside else "partly or wholly outside"][1] += 1
        if inside:
            r = radius * pixels
            bucket = "< 4 px" if r < 4 else "4–8 px" if r < 8 else "≥ 8 px"
            size[bucket][0] += label == truth
            size[bucket][1] += 1
    return {"camera": f"{width}x{height}", "score": score, "view": dict(view), "size": dict(size),
            "crop": (left, top, right, bottom)}


def _pct(pair) -> str:
    right, total = pair
    return f"{100 * right / total:.1f}% ({right}/{total})" if total else "-"


def markdown(runs: list[dict], frames: int, seed: int) -> str:
    lines = [f"Synthetic camera, seed {seed}, {frames} frames at 15 fps, offline (every window), no smoothing.", "",
             "| camera | online accuracy | inside one action | mean detection delay (onsets detected) |",
             "|---|---|---|---|"]
    for r in runs:
        s = r["score"]
        lines.append(f"| {r['camera']} | {_pct((s.correct, s.windows))} | {_pct((s.settled_correct, s.settled_windows))} "
                     f"| {s.mean_delay_s:.2f} s ({s.detected}/{s.segments}) |")
    for r in runs:
        left, top, right, bottom = r["crop"]
        lines += ["", f"{r['camera']} camera, windows inside one action with the actor in view (model's crop: "
                      f"x {left:.3f}–{right:.3f}, y {top:.3f}–{bottom:.3f} short sides):", "",
                  "| actor at the newest frame | accuracy |", "|---|---|"]
        for key in ("wholly inside the crop", "partly or wholly outside"):
            if key in r["view"]:
                lines.append(f"| {key} | {_pct(r['view'][key])} |")
        for key in ("< 4 px", "4–8 px", "≥ 8 px"):
            if key in r["size"]:
                lines.append(f"| inside the crop, radius {key} in model pixels | {_pct(r['size'][key])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=Path("build/videomae-motion"),
                        help="exported artifact (default build/videomae-motion: python export/build_engine.py)")
    parser.add_argument("--frames", type=int, default=3000, help="stream length in frames (default 3000)")
    parser.add_argument("--seed", type=int, default=7, help="the stream's seed (default 7, as bench_stream.py)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.frames < 100:
        parser.error("--frames must be at least 100")
    if not (args.artifact / "manifest.json").is_file():
        parser.error(f"{args.artifact} is not an artifact folder; run python export/build_engine.py first")
    artifact = load_artifact(args.artifact)
    runs = [run(artifact, width, height, args.frames, args.seed, args.threads) for width, height in ((320, 240), (240, 240))]
    print(markdown(runs, args.frames, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
