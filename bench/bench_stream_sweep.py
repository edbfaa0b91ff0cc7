"""Where the bundled model fails on the demo stream, over many stream seeds.

Runs an artifact on the synthetic camera (320x240, 15 fps, offline: every window, no smoothing)
once per stream seed and scores each run with the stream CLI's own scorer
(`runtime.outputs.accuracy.GroundTruthRecorder`): online accuracy, accuracy on windows inside one
action, mean detection delay against the goal the CLI prints (half the window span plus one
inference). It then pools the windows that lie inside one action (the background "no action"
included) over all seeds and splits their accuracy by what the world varies: the action, the
actor's radius in model pixels and where it is against the model's view (the central crop, or the
whole frame for a model that squeezes it), the action's
speed, the actor's shape, and the scene's distractor count, sensor noise and camera shake. The
windows that straddle a change are pooled apart, by whether the newest segment is a pause or an
action and how many of the window's frames it fills: how often each is named as the scorer asks,
and how often as the segment it began in.

The default seeds are used by no test, benchmark or training run, so the figures are what a
stream the model never saw gets:

    nice python bench/bench_stream_sweep.py --artifact build/videomae-motion --frames 1500
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stream_gap import _Windows  # noqa: E402
from runtime.api import RunLimits, StreamRunner  # noqa: E402
from runtime.artifact import load_artifact  # noqa: E402
from runtime.outputs.accuracy import GroundTruthRecorder  # noqa: E402
from runtime.postprocess import PostprocessConfig  # noqa: E402
from runtime.cli.errors import OptionValueError  # noqa: E402
from runtime.recognizer import RecognizerConfig  # noqa: E402
from runtime.sources.window_truth import Segments  # noqa: E402
from runtime.stream import read_prompts  # noqa: E402
from runtime.world import REVERSED  # noqa: E402
from testbed.view import crop_box  # noqa: E402

UNSEEN_SEEDS = (31, 42, 57, 63, 88, 123, 256, 314)
# Each action's speed in thirds of the range clips draw it from (runtime.world):
# short sides/s for moves, degrees/s for turns, log scale/s for approach and recession.
_RATE = {"moving": ("speed", 0.25, 0.5), "rotating": ("spin", 90.0, 180.0),
         "approaching": ("grow", 0.45, 0.8), "receding": ("grow", 0.45, 0.8)}


def _speed_bucket(action: str, motion: dict) -> str | None:
    for prefix, (key, low, high) in _RATE.items():
        if action.startswith(prefix):
            third = min(2, int(3 * (motion[key] - low) / (high - low)))
            return ("slowest", "middle", "fastest")[max(0, third)] + " third of its speed range"
    return None


def _place(x: float, y: float, radius: float, box: tuple) -> str:
    left, top, right, bottom = box
    if left <= x - radius and x + radius <= right and top <= y - radius and y + radius <= bottom:
        return "wholly inside the view"
    if x + radius < left or x - radius > right or y + radius < top or y - radius > bottom:
        return "wholly outside the view"
    return "partly outside the view"


def _radius_bucket(pixels: float) -> str:
    for limit, name in ((3, "< 3 px"), (4, "3–4 px"), (6, "4–6 px"), (8, "6–8 px"), (12, "8–12 px")):
        if pixels < limit:
            return name
    return "≥ 12 px"


def window_factors(world, first: int, newest: int, truth: str, box: tuple, pixels: float) -> dict:
    """The factors of one window inside one action, read at its newest frame."""
    scene = world.scene()
    factors = {"action": truth, "distractors": f"{scene['distractors']} distractor(s)",
               "noise": "sensor noise std < 3" if scene["noise"] < 3 else "sensor noise std ≥ 3",
               "shake": f"camera shake {'≤ 2' if scene['shake'] <= 2 else '> 2'} px"}
    place = world.actor_at(newest)
    if place is None:
        factors["position"] = "no actor in view"
        return factors
    x, y, radius = place
    factors["position"] = _place(x, y, radius, box)
    factors["radius"] = _radius_bucket(radius * pixels)
    motion = world.motion_at(newest)
    factors["shape"] = motion["shape"]
    speed = _speed_bucket(truth, motion)
    if speed is not None:
        factors["speed"] = speed
    return factors


def run_seed(artifact, seed: int, frames: int, threads: int, width: int = 320, height: int = 240,
             prompts: list[str] | None = None) -> dict:
    background = tuple(b for b in ("no action",) if b in (prompts or artifact.manifest.labels))
    recorder, windows = GroundTruthRecorder(), _Windows()
    config = RecognizerConfig(offline_queue=1, postprocess=PostprocessConfig(smoothing="none", background=background))
    url = f"synthetic://?realtime=false&seed={seed}&width={width}&height={height}"
    runner = StreamRunner(artifact, [url], backend="cpu", threads=threads, mode="offline", config=config,
                          sinks=[recorder, windows], limits=RunLimits(max_frames=frames), prompts=prompts)
    with runner:
        runner.run()
        world = runner.feeds[0].source.ground_truth()
        score = recorder.score(runner.feeds[0].stream_id, world, background)
        state = runner.recognizer.streams.get(runner.feeds[0].stream_id)
        times = sorted(state.stats.inference_ms) if state is not None else []
        rec = runner.recognizer
    inference = times[len(times) // 2] / 1000 if times else 0.0
    span = rec.manifest.input.frames / rec.target_fps if rec.target_fps else rec.manifest.input.frames * rec.frame_stride / world.fps
    spec = artifact.manifest.preprocessing
    box = crop_box(spec, height, width)
    # model pixels per short side; a squeezed full frame scales the two axes apart: their geometric mean
    pixels = (spec.crop_height / (box[3] - box[1]) * spec.crop_width / (box[2] - box[0])) ** 0.5
    segments = Segments(world.timeline)
    tallies = collections.defaultdict(lambda: [0, 0])
    mistakes = collections.Counter()  # (truth, what was named) over windows inside one action
    straddling = collections.defaultdict(lambda: [0, 0, 0])  # straddle_key -> [named newest, named oldest, all]
    for (first, newest, label), seen in zip(windows.rows, windows.frames):
        at = segments.index(newest)
        truth = world.timeline[at].label
        predicted = world.action_of(label) or label
        if segments.straddles((first, newest)):
            tally = straddling[straddle_key(world, seen, at)]
            tally[0] += predicted == truth
            tally[1] += predicted == world.timeline[segments.index(first)].label != truth
            tally[2] += 1
            continue
        if predicted != truth:
            mistakes[(truth, predicted)] += 1
        if REVERSED.get(truth, truth) != truth:  # an action with a time-reversed twin
            tallies[("twin", "predicted as its time-reversed twin")][0] += predicted == REVERSED[truth]
            tallies[("twin", "predicted as its time-reversed twin")][1] += 1
        for factor, value in window_factors(world, first, newest, truth, box, pixels).items():
            tallies[(factor, value)][0] += predicted == truth
            tallies[(factor, value)][1] += 1
    return {"seed": seed, "score": score, "goal_s": span / 2 + inference, "tallies": dict(tallies),
            "mistakes": dict(mistakes), "straddling": dict(straddling), "scene": world.scene()}


def straddle_key(world, seen, newest_segment: int) -> tuple[str, int]:
    """A window across a change: whether its newest segment is a pause (the truth's background) or
    an action, and how many of the frames it saw that segment fills."""
    segment = world.timeline[newest_segment]
    kind = "a pause" if segment.label in world.background else "an action"
    return kind, sum(int(frame) >= segment.start for frame in seen)


def _pct(pair) -> str:
    right, total = pair
    return f"{100 * right / total:.1f}% ({right}/{total})" if total else "-"


def _spread(values: list[float], unit: str = "%", scale: float = 100.0, digits: int = 1) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = statistics.fmean(values) * scale
    sd = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    low, high = min(values) * scale, max(values) * scale
    return f"{mean:.{digits}f}{unit} ± {sd:.{digits}f} (min {low:.{digits}f}, max {high:.{digits}f})"


MISTAKES_SHOWN = 8
_ORDER = ("action", "radius", "position", "speed", "shape", "distractors", "noise", "shake")


def _pooled(runs: list[dict]) -> dict:
    pooled = collections.defaultdict(lambda: [0, 0])
    for r in runs:
        for key, (right, total) in r["tallies"].items():
            pooled[key][0] += right
            pooled[key][1] += total
    return pooled


def markdown(runs: list[dict], frames: int, artifact: Path) -> str:
    goal = max(r["goal_s"] for r in runs)
    lines = [f"Artifact `{artifact}`; synthetic camera 320x240 at 15 fps, {frames} frames per seed, offline "
             "(every window), no smoothing; the stream CLI's scorer.", "",
             "| stream seed | distractors | online accuracy | inside one action | mean detection delay (onsets detected) |",
             "|---|---|---|---|---|"]
    for r in runs:
        s = r["score"]
        delay = "-" if s.mean_delay_s is None else f"{s.mean_delay_s:.2f} s"
        lines.append(f"| {r['seed']} | {r['scene']['distractors']} | {_pct((s.correct, s.windows))} | "
                     f"{_pct((s.settled_correct, s.settled_windows))} | {delay} ({s.detected}/{s.segments}) |")
    scores = [r["score"] for r in runs]
    lines += ["", f"Over {len(runs)} seeds (mean ± sd across seeds):", "",
              f"- online accuracy: {_spread([s.accuracy for s in scores])}",
              f"- online accuracy a model naming exactly what fills most of each window would reach (the "
              f"ceiling of majority labels): {_spread([s.majority_ceiling for s in scores])}",
              f"- inside one action: {_spread([s.settled_accuracy for s in scores])}",
              f"- mean detection delay: {_spread([s.mean_delay_s for s in scores], ' s', 1.0, 2)}; "
              f"goal ≤ {goal:.2f} s (half the window span + one inference)",
              "- mean detection delay a model naming exactly what fills most of each window would reach "
              f"(the first window each new action mostly fills, at the model's own latency): "
              f"{_spread([s.majority_mean_delay_s for s in scores], ' s', 1.0, 2)} "
              f"({sum(len(s.majority_delays_s) for s in scores)} onsets)",
              f"- onsets detected: {sum(s.detected for s in scores)}/{sum(s.segments for s in scores)}",
              "- twin confusion (windows inside one action of an action with a time-reversed twin, named as "
              f"that twin): {_pct(_pooled(runs)[('twin', 'predicted as its time-reversed twin')])}", "",
              "Windows inside one action, pooled over the seeds, by what the world varies "
              "(radius and position at the newest frame; radius in model pixels):", "",
              "| factor | value | accuracy |", "|---|---|---|"]
    pooled = _pooled(runs)
    for factor in _ORDER:
        for key in sorted(k for k in pooled if k[0] == factor):
            lines.append(f"| {factor} | {key[1]} | {_pct(pooled[key])} |")
    return "\n".join(lines + _mistake_lines(runs, pooled) + _straddle_lines(runs))


def _straddle_lines(runs: list[dict]) -> list[str]:
    """Windows across a change, pooled: how often each is named as the scorer asks (the newest
    segment), as the segment it began in, or otherwise, by how much of it the newest segment fills."""
    pooled = collections.defaultdict(lambda: [0, 0, 0])
    for r in runs:
        for key, counts in r.get("straddling", {}).items():
            for i, count in enumerate(counts):
                pooled[key][i] += count
    if not pooled:
        return []
    total = sum(counts[2] for counts in pooled.values())
    lines = ["", f"The {total} windows that straddle a change, pooled, by what the newest segment is and how many "
             "of the window's frames it fills (the scorer asks for the newest segment's label):", "",
             "| newest segment | its frames | windows | named as the newest segment | named as the oldest frame's "
             "segment | other |", "|---|---|---|---|---|---|"]
    for (kind, held), (newest, oldest, count) in sorted(pooled.items()):
        lines.append(f"| {kind} | {held} | {count} | {_pct((newest, count))} | {_pct((oldest, count))} | "
                     f"{_pct((count - newest - oldest, count))} |")
    return lines


def _mistake_lines(runs: list[dict], pooled: dict, top: int = MISTAKES_SHOWN) -> list[str]:
    """The commonest wrong answers on windows inside one action, pooled: what each action is taken for."""
    mistakes = collections.Counter()
    for r in runs:
        mistakes.update(r.get("mistakes", {}))
    if not mistakes:
        return []
    wrong = sum(mistakes.values())
    lines = ["", f"The {min(top, len(mistakes))} commonest mistakes of the {wrong} wrong windows inside one action "
             "(share of that action's windows):", "", "| action | named as | windows |", "|---|---|---|"]
    for (truth, named), count in sorted(mistakes.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        total = pooled[("action", truth)][1]
        lines.append(f"| {truth} | {named} | {count} ({100 * count / total:.1f}%) |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=Path("build/videomae-motion"),
                        help="exported artifact (default build/videomae-motion: python export/build_engine.py)")
    parser.add_argument("--frames", type=int, default=1500, help="frames per stream seed (default 1500)")
    parser.add_argument("--seeds", default=",".join(map(str, UNSEEN_SEEDS)),
                        help="comma-separated stream seeds (default: seeds no test, benchmark or training uses)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", metavar="FILE", default=None,
                        help="video-text artifacts: zero-shot prompts, one per line, instead of the artifact's own "
                             "(as python -m runtime.stream --prompts)")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not seeds or min(seeds) < 0:
        parser.error(f"--seeds must name at least one seed >= 0, got {args.seeds!r}")
    if args.frames < 100:
        parser.error("--frames must be at least 100")
    if not (args.artifact / "manifest.json").is_file():
        parser.error(f"{args.artifact} is not an artifact folder; run python export/build_engine.py first")
    artifact = load_artifact(args.artifact)
    try:
        prompts = read_prompts(args.prompts, None)
    except (OSError, OptionValueError) as exc:
        parser.error(str(exc))
    if prompts is not None and artifact.manifest.task != "video_text":
        parser.error(f"--prompts needs a video-text artifact; {args.artifact} is {artifact.manifest.task}")
    runs = [run_seed(artifact, seed, args.frames, args.threads, prompts=prompts) for seed in seeds]
    print(markdown(runs, args.frames, args.artifact))
    return 0


if __name__ == "__main__":
    sys.exit(main())
