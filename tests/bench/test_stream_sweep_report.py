"""bench_stream_sweep's report: the commonest mistakes pooled over seeds, as shares of each action's windows."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

spec = importlib.util.spec_from_file_location(
    "bench_stream_sweep", Path(__file__).resolve().parents[2] / "bench" / "bench_stream_sweep.py")
sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sweep)


def _run(seed, tallies, mistakes):
    score = SimpleNamespace(correct=1, windows=2, settled_correct=1, settled_windows=2, mean_delay_s=0.5,
                            detected=1, segments=2, accuracy=0.5, settled_accuracy=0.5, majority_ceiling=0.8,
                            majority_mean_delay_s=0.55, majority_delays_s=[0.55])
    return {"seed": seed, "score": score, "goal_s": 0.6, "tallies": tallies, "mistakes": mistakes,
            "scene": {"distractors": 0}}


def test_mistakes_are_pooled_over_seeds_and_ranked():
    runs = [_run(1, {("action", "no action"): [6, 10], ("action", "rotating clockwise"): [1, 4]},
                 {("no action", "appearing"): 3, ("rotating clockwise", "rotating anticlockwise"): 3}),
            _run(2, {("action", "no action"): [8, 10], ("action", "rotating clockwise"): [2, 4]},
                 {("no action", "appearing"): 1, ("no action", "moving left"): 1,
                  ("rotating clockwise", "rotating anticlockwise"): 2})]
    text = sweep.markdown(runs, 100, Path("art"))
    rows = text.split("| action | named as | windows |")[1].strip().splitlines()[1:]
    assert rows == ["| rotating clockwise | rotating anticlockwise | 5 (62.5%) |",
                    "| no action | appearing | 4 (20.0%) |",
                    "| no action | moving left | 1 (5.0%) |"]
    assert "The 3 commonest mistakes of the 10 wrong windows" in text


def test_no_mistakes_no_table():
    runs = [_run(1, {("action", "no action"): [10, 10]}, {})]
    assert "commonest mistakes" not in sweep.markdown(runs, 100, Path("art"))


def test_straddling_windows_are_pooled_by_the_newest_segment_and_its_frames():
    first = _run(1, {("action", "no action"): [1, 1]}, {})
    first["straddling"] = {("an action", 3): [1, 2, 4], ("a pause", 1): [0, 3, 3]}
    second = _run(2, {("action", "no action"): [1, 1]}, {})
    second["straddling"] = {("an action", 3): [2, 1, 4]}
    text = sweep.markdown([first, second], 100, Path("art"))
    assert "The 11 windows that straddle a change" in text
    rows = text.split("| newest segment | its frames |")[1].strip().splitlines()[2:]
    assert rows == ["| a pause | 1 | 3 | 0.0% (0/3) | 100.0% (3/3) | 0.0% (0/3) |",
                    "| an action | 3 | 8 | 37.5% (3/8) | 37.5% (3/8) | 25.0% (2/8) |"]


def test_straddle_key_counts_the_frames_the_newest_segment_fills():
    timeline = [SimpleNamespace(start=0, label="no action"), SimpleNamespace(start=10, label="moving left"),
                SimpleNamespace(start=20, label="no action")]
    world = SimpleNamespace(timeline=timeline, background=("no action",))
    assert sweep.straddle_key(world, (4, 6, 8, 10, 12, 14, 16, 18), 1) == ("an action", 5)
    assert sweep.straddle_key(world, (14, 16, 18, 20), 2) == ("a pause", 1)
