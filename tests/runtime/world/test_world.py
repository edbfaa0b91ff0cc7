"""The procedural motion world: determinism, time-reversed twins, motion direction, the stream."""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from runtime.sources.base import Frame
from runtime.world import actions, render, stream as world_stream
from runtime.world import (
    ACTIONS, REVERSED, Segment, SyntheticStream, make_clips, render_clip)

MOVES = [a for a in ACTIONS if a != "no action"]


def actor_mask(frame: np.ndarray) -> np.ndarray:
    """Pixels of the actor in a clean clip (flat grey 128 background, no noise)."""
    return np.abs(frame.astype(np.int16) - 128).max(axis=-1) > 40


def centroid(frame: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(actor_mask(frame))
    return np.array([xs.mean(), ys.mean()])


def test_actions_come_in_reversed_pairs():
    assert ACTIONS[0] == "no action" and len(ACTIONS) >= 11 and len(set(ACTIONS)) == len(ACTIONS)
    assert set(REVERSED) == set(ACTIONS)
    for action, twin in REVERSED.items():
        assert REVERSED[twin] == action
        assert (twin == action) == (action == "no action")


def test_render_clip_is_deterministic_and_seeded():
    a = render_clip("moving left", seed=7)
    assert np.array_equal(a, render_clip("moving left", seed=7))
    assert not np.array_equal(a, render_clip("moving left", seed=8))
    assert not np.array_equal(a, render_clip("moving right", seed=7))


@pytest.mark.parametrize("frames,height,width,fps", [
    (16, 64, 64, 15.0), (8, 48, 80, 30.0), (4, 240, 320, 10.0), (1, 17, 33, 7.5)])
def test_clip_shape_and_dtype(frames, height, width, fps):
    for action in ("no action", "approaching", "disappearing"):
        clip = render_clip(action, frames, height, width, seed=3, fps=fps)
        assert clip.shape == (frames, height, width, 3) and clip.dtype == np.uint8
        assert clip.flags.c_contiguous


def test_make_clips_labels_and_determinism():
    clips, labels = make_clips(2, num_frames=4, height=32, width=40, seed=1)
    assert clips.shape == (2 * len(ACTIONS), 4, 32, 40, 3) and clips.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels), [2] * len(ACTIONS))
    again, labels_again = make_clips(2, num_frames=4, height=32, width=40, seed=1)
    assert np.array_equal(clips, again) and np.array_equal(labels, labels_again)
    other, _ = make_clips(2, num_frames=4, height=32, width=40, seed=2)
    assert not np.array_equal(clips, other)
    # every clip is its own scene, not a copy of another
    assert len({clip.tobytes() for clip in clips}) == len(clips)

    subset, sub_labels = make_clips(3, num_frames=2, actions=["appearing", "moving up"])
    assert subset.shape[0] == 6
    assert sorted(set(sub_labels.tolist())) == [ACTIONS.index("moving up"),
                                                ACTIONS.index("appearing")]


@pytest.mark.parametrize("fps,frames,aspect", [(15.0, 16, 1.0), (30.0, 16, 4 / 3),
                                                (10.0, 45, 0.75), (15.0, 2, 1.0)])
def test_twin_trajectory_is_the_action_played_backwards(fps, frames, aspect):
    for seed in range(5):
        actor = actions.sample_actor(np.random.default_rng(seed))
        for action, twin in REVERSED.items():
            forward = actions.trajectory(action, frames, fps, actor, aspect)
            backward = actions.trajectory(twin, frames, fps, actor, aspect)
            assert forward.shape == (frames, 5)
            assert np.array_equal(backward, forward[::-1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_twin_clip_is_the_clip_reversed_in_pixels(seed):
    for action in ("moving left", "moving up", "approaching", "rotating clockwise", "appearing"):
        clip = render_clip(action, seed=seed, clean=True)
        twin = render_clip(REVERSED[action], seed=seed, clean=True)
        assert np.array_equal(twin, clip[::-1]), action


@pytest.mark.parametrize("seed", range(6))
def test_actor_moves_the_way_its_label_says(seed):
    def clean(action):
        return render_clip(action, 16, 64, 64, seed=seed, fps=15.0, clean=True)

    # 15 frames at 15 fps is one second: at least a quarter of the short side, i.e. 16 px
    left = clean("moving left")
    assert centroid(left[-1])[0] - centroid(left[0])[0] < -12
    up = clean("moving up")
    assert centroid(up[-1])[1] - centroid(up[0])[1] < -12
    approach = clean("approaching")
    assert actor_mask(approach[-1]).sum() > 1.5 * actor_mask(approach[0]).sum()
    assert centroid(approach[-1])[1] > centroid(approach[0])[1]  # nearer sits lower
    appear = clean("appearing")
    assert actor_mask(appear[0]).sum() == 0 and actor_mask(appear[-1]).sum() > 20
    turn = clean("rotating clockwise")
    assert abs(centroid(turn[-1]) - centroid(turn[0])).max() < 4  # turns in place
    assert not np.array_equal(turn[0], turn[-1])


def test_positive_angles_turn_clockwise_on_screen():
    base = actions.sample_actor(np.random.default_rng(0))
    actor = dataclasses.replace(base, shape="circle", color=(40, 40, 220), marker=(235, 235, 235),
                                size=0.3)
    world = render.World(np.random.default_rng(0), 64, 64, clean=True)
    rng = np.random.default_rng(0)
    frames = []
    for angle in (0.0, 90.0):
        frame = np.empty((64, 64, 3), np.uint8)
        world.render(frame, 0.0, actor, np.array([0.5, 0.5, 1.0, angle, 1.0]), rng)
        frames.append(frame)
    white = [np.argwhere(f.min(axis=-1) > 200).mean(axis=0) - 31.5 for f in frames]  # (y, x)
    assert white[0][1] > 5 and abs(white[0][0]) < 2  # angle 0: the marker is to the right
    assert white[1][0] > 5 and abs(white[1][1]) < 2  # angle 90: below, a clockwise quarter turn
    spin = actions.trajectory("rotating clockwise", 16, 15.0, actor)[:, 3]
    assert np.all(np.diff(spin) > 0)


@pytest.mark.parametrize("seed", range(6))
def test_every_action_changes_more_than_no_action(seed):
    # Clean clips: with camera shake over a textured background, a small actor turning in
    # place can change fewer pixels than the shake does where the actor hides the texture.
    def change(clip):
        return np.abs(clip[-1].astype(np.int16) - clip[0]).mean()

    assert change(render_clip("no action", seed=seed, clean=True)) == 0
    for action in MOVES:
        assert change(render_clip(action, seed=seed, clean=True)) > 0.3, action


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="moving left"):
        render_clip("jumping")
    with pytest.raises(ValueError, match="height"):
        render_clip("moving left", height=4)
    with pytest.raises(ValueError, match="fps"):
        render_clip("moving left", fps=0)
    with pytest.raises(ValueError, match="unknown action"):
        make_clips(1, actions=["no action", "waving"])
    with pytest.raises(ValueError, match="min_action_s"):
        SyntheticStream(min_action_s=3.0, max_action_s=2.0)


def test_stream_frames_timestamps_and_timeline():
    fps, n = 15.0, 400
    stream = SyntheticStream(seed=3, height=48, width=64, fps=fps, num_frames=n,
                             min_action_s=1.0, max_action_s=2.0, stream_id="cam")
    started = time.monotonic()
    frames = list(stream)
    assert time.monotonic() - started < 10  # never sleeps: 400 frames are 26 s of video
    assert [f.index for f in frames] == list(range(n))
    assert all(isinstance(f, Frame) and f.stream_id == "cam" for f in frames)
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    stamps = np.array([f.timestamp for f in frames])
    assert np.allclose(np.diff(stamps), 1 / fps) and np.all(np.diff(stamps) > 0)

    timeline = stream.timeline
    assert timeline[0].start == 0 and timeline[-1].end == n
    assert all(a.end == b.start for a, b in zip(timeline, timeline[1:]))
    assert all(isinstance(s, Segment) and s.label in ACTIONS for s in timeline)
    assert all(15 <= s.end - s.start <= 30 for s in timeline[:-1])
    assert 1 <= timeline[-1].end - timeline[-1].start <= 30
    assert len({s.label for s in timeline}) >= 4
    for segment in timeline:
        assert {stream.label_at(i) for i in range(segment.start, segment.end)} == {segment.label}
    with pytest.raises(IndexError):
        stream.label_at(n)
    # a second pass replays the same video
    again = list(itertools.islice(stream, 5))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, again))
    other = next(iter(SyntheticStream(seed=4, height=48, width=64, num_frames=n)))
    assert not np.array_equal(other.image, frames[0].image)


def test_stream_moves_like_clips_and_continues_the_actor():
    fps = 15.0
    stream = SyntheticStream(seed=5, height=240, width=320, fps=fps, num_frames=3000)
    extent = np.array([320 / 240, 1.0])
    previous = None
    for segment, recipe in zip(stream.timeline, stream._recipes.values()):
        poses = stream._poses(recipe)
        actor = recipe[1]
        if poses is None:  # an empty scene: nothing to continue
            assert segment.label in ("no action", "appearing") or previous is None
            previous = None
            continue
        assert actions.fits(poses, actor, extent)
        if previous is not None and segment.label != "appearing":
            assert np.allclose(poses[0], previous)  # no jump between actions
        seconds = (len(poses) - 1) / fps
        if segment.label.startswith("moving"):
            speed = np.abs(poses[-1, :2] - poses[0, :2]).max() / seconds
            assert actions.SPEED[0] - 1e-9 <= speed <= actions.SPEED[1] + 1e-9
            axis, sign = {"left": (0, -1), "right": (0, 1), "up": (1, -1),
                          "down": (1, 1)}[segment.label.split()[1]]
            assert np.all(sign * np.diff(poses[:, axis]) > 0)
        if segment.label.startswith("rotating"):
            spin = abs(poses[-1, 3] - poses[0, 3]) / seconds
            assert actions.SPIN[0] - 1e-9 <= spin <= actions.SPIN[1] + 1e-9
        previous = None if segment.label == "disappearing" else poses[-1]
    assert {s.label for s in stream.timeline} == set(ACTIONS)


def test_actor_at_follows_the_timeline():
    stream = SyntheticStream(seed=5, height=240, width=320, fps=15.0, num_frames=3000)
    seen = set()
    for segment in stream.timeline:
        places = [stream.actor_at(i) for i in range(segment.start, segment.end)]
        if segment.label.startswith("moving") and places[0] is not None:
            axis, sign = {"left": (0, -1), "right": (0, 1), "up": (1, -1),
                          "down": (1, 1)}[segment.label.split()[1]]
            assert all(sign * (b[axis] - a[axis]) > 0 for a, b in zip(places, places[1:]))
            assert len({round(p[2], 9) for p in places}) == 1  # same size while it moves
            seen.add("moving")
        if segment.label in ("approaching", "receding"):
            grows = np.diff([p[2] for p in places])
            assert np.all(grows > 0) if segment.label == "approaching" else np.all(grows < 0)
            seen.add("zoom")
        if segment.label == "disappearing":
            assert places[0] is not None and places[-1] is None  # fully faded at its end
            seen.add("disappearing")
        for place in places:
            if place is not None:
                x, y, radius = place
                assert radius <= x <= 320 / 240 - radius and radius <= y <= 1.0 - radius  # in view
    assert seen == {"moving", "zoom", "disappearing"}
    with pytest.raises(IndexError):
        stream.actor_at(3000)


def test_endless_stream_plans_lazily():
    stream = SyntheticStream(seed=1, height=32, width=32)
    frames = list(itertools.islice(stream, 30))
    assert len(frames) == 30 and stream.timeline[-1].end >= 30
    assert stream.label_at(2000) in ACTIONS and stream.timeline[-1].end > 2000
    assert all(a.end == b.start for a, b in zip(stream.timeline, stream.timeline[1:]))


def test_realtime_stream_paces_frames():
    stream = SyntheticStream(seed=0, height=32, width=32, fps=50.0, num_frames=5, realtime=True)
    started = time.monotonic()
    stamps = [f.timestamp for f in stream]
    assert time.monotonic() - started >= 4 / 50 - 1e-3
    assert np.all(np.diff(stamps) > 0.01)


def test_cli_writes_a_readable_video_and_timeline(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    code = world_stream.main(["--out", str(out), "--seconds", "2", "--fps", "10", "--width", "64",
                           "--height", "48", "--seed", "2"])
    assert code == 0
    capture = cv2.VideoCapture(str(out))
    assert capture.isOpened()
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    read = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        assert image.shape == (48, 64, 3)
        read += 1
    capture.release()
    assert read == 20
    timeline = json.loads((tmp_path / "demo.mp4.timeline.json").read_text())
    assert timeline[0]["start"] == 0 and timeline[-1]["end"] == 20
    assert all(a["end"] == b["start"] for a, b in zip(timeline, timeline[1:]))
    assert all(s["label"] in ACTIONS for s in timeline)

    assert world_stream.main(["--out", str(tmp_path / "missing" / "x.mp4"), "--seconds", "1"]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_cli_rejects_bad_arguments_with_a_message(tmp_path):
    for bad in (["--seconds", "-1"], ["--width", "3"], ["--fps", "abc"]):
        done = subprocess.run(
            [sys.executable, "-m", "runtime.world", "--out",
             str(tmp_path / "x.mp4"), *bad], capture_output=True, text=True)
        assert done.returncode == 2, bad
        assert "error:" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.mp4").exists()
    shown = subprocess.run([sys.executable, "-m", "runtime.world", "--help"],
                           capture_output=True, text=True)
    assert shown.returncode == 0 and "timeline.json" in shown.stdout


def test_endless_stream_keeps_flat_memory_and_its_ground_truth():
    # A live synthetic camera plans a segment every couple of seconds for as long as it runs: what it
    # keeps per segment must be only the timeline (it kept every actor and a view pinning each whole
    # trajectory, about 1.6 kB a segment, the rise of an hour's live run).
    import tracemalloc

    from runtime.world.stream import RECIPE_HISTORY

    stream = SyntheticStream(seed=11, height=48, width=64, num_frames=None)
    for _ in range(RECIPE_HISTORY):  # the kept drawings fill up first
        stream._plan_next()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        planned = 3000
        for _ in range(planned):
            stream._plan_next()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    kept = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert kept / planned < 200, f"{kept / planned:.0f} bytes kept per segment"
    assert len(stream.timeline) == RECIPE_HISTORY + planned
    last = stream.timeline[-1]
    assert stream.label_at(last.start) == last.label  # the ground truth stays whole
    assert stream.label_at(0) == stream.timeline[0].label
    assert stream.motion_at(last.start) == stream.motion_at(last.end - 1)
    with pytest.raises(IndexError, match="too old"):
        stream.actor_at(stream.timeline[0].start)


def test_bounded_stream_keeps_every_segment_drawing():
    from runtime.world.stream import RECIPE_HISTORY

    stream = SyntheticStream(seed=11, height=48, width=64, num_frames=15 * 60 * 60)  # an hour
    assert len(stream._recipes) == len(stream.timeline) > RECIPE_HISTORY
    stream.actor_at(0)  # the first segment's drawing is still there
