"""The continuous demo camera of the motion world: random actions on a ground-truth timeline.

`SyntheticStream` strings the world's actions (runtime.world.actions) into one scene whose true
label is known at every frame: the demo camera (`--source synthetic`) and the yardstick for
streaming accuracy and detection delay. Its ground truth is the `GroundTruth` interface of
runtime.sources.base (`timeline`, `label_at`, `action_of`, `fps`), which the scorer asks through
`Source.ground_truth()`. `python -m runtime.world` writes the stream to a video.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import math
import sys
import time
from typing import Iterator, Sequence

import numpy as np

from runtime.cli.errors import OptionValueError
from runtime.common.cv import cv2
from runtime.sources.base import Frame
from runtime.world.actions import (
    ACTIONS, GROW, SPEED, SPIN, Actor, action_of, continue_from, fits, sample_actor, trajectory)
from runtime.world.render import MAX_SIDE, World, check_args

__all__ = ["Segment", "SyntheticStream", "main"]

# An endless stream (num_frames None, a live synthetic camera) keeps how its last this many segments
# are drawn (actor, start pose: about 1.5 kB each), about 20 minutes at the default action lengths,
# so a run of hours keeps flat memory; its timeline (the ground truth, a few dozen bytes a segment)
# is kept whole for the scorer.
RECIPE_HISTORY = 512


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """Ground truth: frames [start, end) of a stream show `label`."""

    start: int
    end: int
    label: str


class SyntheticStream:
    """A demo camera: one continuous scene in which the actor performs random actions.

    Actions last min_action_s..max_action_s (so do the "no action" pauses between them) and
    move at the speeds `render_clip` uses. The actor keeps its look and pose from one action to
    the next; only after it disappears does a new one appear. `timeline` is the ground truth,
    planned ahead lazily (all at once when num_frames is given).
    """

    def __init__(self, seed: int = 0, height: int = 240, width: int = 320, fps: float = 15.0,
                 num_frames: int | None = None, realtime: bool = False,
                 min_action_s: float = 1.5, max_action_s: float = 4.0,
                 stream_id: str = "synthetic"):
        check_args(fps, num_frames=(0 if num_frames is None else num_frames, 0),
                    height=(height, 8, MAX_SIDE), width=(width, 8, MAX_SIDE), seed=(seed, 0))
        if not 0 < min_action_s <= max_action_s < math.inf:
            raise OptionValueError("need 0 < min_action_s <= max_action_s, got "
                             f"min_action_s={min_action_s!r}, max_action_s={max_action_s!r}")
        self.height, self.width, self.fps = height, width, float(fps)
        self.num_frames, self.realtime, self.stream_id = num_frames, realtime, stream_id
        self._shortest = max(1, math.ceil(min_action_s * fps - 1e-9))
        self._longest = max(self._shortest, math.floor(max_action_s * fps + 1e-9))
        # A fade takes most of its segment; capping fade segments near two seconds keeps fades
        # about as quick as in clips instead of a long, nearly still dissolve.
        self._longest_fade = max(self._shortest, min(self._longest, round(2.0 * fps)))
        world_seq, plan_seq, self._frame_seq = np.random.SeedSequence(seed).spawn(3)
        self._world = World(np.random.default_rng(world_seq), height, width)
        self._plan = np.random.default_rng(plan_seq)
        self.timeline: list[Segment] = []
        self._recipes: dict[int, tuple] = {}  # segment index → (action, actor, frames, start pose)
        self._actor: Actor | None = None
        self._pose: np.ndarray | None = None
        if self._plan.random() < 0.7:  # usually open on a visible actor, else on an empty scene
            self._actor = dataclasses.replace(sample_actor(self._plan), empty=False)
            self._pose = self._poses(("no action", self._actor, 1, None))[0]
        if num_frames is not None:
            while self._end() < num_frames:
                self._plan_next()
            if self.timeline:
                self.timeline[-1] = dataclasses.replace(self.timeline[-1], end=num_frames)

    def _end(self) -> int:
        return self.timeline[-1].end if self.timeline else 0

    def _poses(self, recipe: tuple) -> np.ndarray | None:
        action, actor, frames, start = recipe
        if actor is None:
            return None  # an empty scene
        if action == "no action" and start is not None:
            return np.repeat(start[None], frames, axis=0)
        poses = trajectory(action, frames, self.fps, actor, self.width / self.height)
        return poses if start is None else continue_from(poses, start)

    def _plan_next(self) -> None:
        rng = self._plan
        frames = int(rng.integers(self._shortest, self._longest + 1))
        last = self.timeline[-1].label if self.timeline else None
        if last != "no action" and rng.random() < 0.5:  # a pause between actions
            action, actor, poses = "no action", self._actor, None
        else:
            action, actor, frames, poses = self._next_action(rng, frames)
        segment = len(self.timeline)
        self._recipes[segment] = (action, actor, frames, self._pose)
        if self.num_frames is None:
            self._recipes.pop(segment - RECIPE_HISTORY, None)
        self.timeline.append(Segment(self._end(), self._end() + frames, action))
        if action == "disappearing":
            self._actor, self._pose = None, None
        elif poses is not None:
            # A copy: a view would keep the segment's whole trajectory alive with the next recipe.
            self._actor, self._pose = actor, poses[-1].copy()

    def _next_action(self, rng: np.random.Generator, frames: int) -> tuple:
        if self._actor is None:  # only a new actor fading in may follow an empty scene
            actor = dataclasses.replace(sample_actor(rng), empty=False)
            frames = min(frames, self._longest_fade)
            return "appearing", actor, frames, self._poses(("appearing", actor, frames, None))
        now = self._actor  # new speeds for this action; the same look
        actor = dataclasses.replace(sample_actor(rng), shape=now.shape, color=now.color,
                                    marker=now.marker, size=now.size, empty=False)
        slowest = dataclasses.replace(actor, speed=SPEED[0], spin=SPIN[0], grow=GROW[0])
        choices = [name for name in ACTIONS[1:] if name != "appearing"]
        for index in rng.permutation(len(choices)):
            action = choices[index]
            longest = min(frames, self._longest_fade) if action == "disappearing" else frames
            lengths = sorted({int(n) for n in np.linspace(longest, self._shortest, 6).round()},
                             reverse=True)
            # Near an edge or at an extreme scale a motion may not fit: try it shorter, then
            # at the slowest speed clips use, before choosing another action.
            for variant in (actor, slowest):
                for n in lengths:
                    poses = self._poses((action, variant, n, self._pose))
                    if fits(poses, variant, self._world.extent):
                        return action, variant, n, poses
        raise RuntimeError("no action fits the scene")  # unreachable: turning in place fits

    # How the ground-truth scorer reads a result's label: zero-shot prompts name actions in words.
    action_of = staticmethod(action_of)
    background = ("no action",)  # the pauses and empty scenes: no onset the scorer waits for

    def label_at(self, index: int) -> str:
        """The ground-truth action at frame `index`."""
        if index < 0 or (self.num_frames is not None and index >= self.num_frames):
            raise IndexError(f"frame {index} is outside this stream of {self.num_frames} frames")
        while self._end() <= index:
            self._plan_next()
        at = bisect.bisect_right(self.timeline, index, key=lambda segment: segment.start)
        return self.timeline[at - 1].label

    def actor_at(self, index: int) -> tuple[float, float, float] | None:
        """Where the actor is at frame `index`: (x, y, radius) in short sides from the top left, or
        None when the scene is empty or the actor fully faded. For analysing what a model's crop sees."""
        self.label_at(index)  # plans that far, and checks the index
        at = bisect.bisect_right(self.timeline, index, key=lambda segment: segment.start) - 1
        recipe = self._recipe(at)
        poses = self._poses(recipe)
        if poses is None:
            return None
        x, y, scale, _, alpha = poses[index - self.timeline[at].start]
        return None if alpha <= 0 else (float(x), float(y), float(recipe[1].size * scale))

    def motion_at(self, index: int) -> dict | None:
        """How the actor looks and how fast it does the action holding frame `index`: shape, colour
        (BGR), radius at scale 1 and the speed in each action's own unit (short sides, degrees and
        natural log of the scale per second), or None on an empty scene. For analysing failures."""
        self.label_at(index)
        at = bisect.bisect_right(self.timeline, index, key=lambda segment: segment.start) - 1
        actor = self._recipe(at)[1]
        if actor is None:
            return None
        return {"shape": actor.shape, "color": actor.color, "size": actor.size, "speed": actor.speed,
                "spin": actor.spin, "grow": actor.grow}

    def _recipe(self, segment: int) -> tuple:
        try:
            return self._recipes[segment]
        except KeyError:
            span = self.timeline[segment]
            raise IndexError(f"frames {span.start}-{span.end - 1} are too old: an endless stream keeps how its last "
                             f"{RECIPE_HISTORY} segments are drawn (their labels stay in the timeline); give the "
                             "stream a num_frames to keep them all") from None

    def scene(self) -> dict:
        """What the scene holds besides the actor, for the whole stream: the number of distractor
        shapes, the sensor-noise std in grey levels and the camera shake in pixels."""
        return {"distractors": len(self._world.distractors), "noise": self._world.noise,
                "shake": self._world.shake}

    def __iter__(self) -> Iterator[Frame]:
        rng = np.random.default_rng(self._frame_seq)  # every pass replays the same video
        segment, poses, t0, index = -1, None, None, 0
        while self.num_frames is None or index < self.num_frames:
            while self._end() <= index:
                self._plan_next()
            if segment < 0 or index == self.timeline[segment].end:
                segment += 1
                recipe = self._recipe(segment)
                poses = self._poses(recipe)
            pose = None if poses is None else poses[index - self.timeline[segment].start]
            t0 = time.monotonic() if t0 is None else t0
            stamp = t0 + index / self.fps
            if self.realtime:  # pace to the clock, stamp when the frame is "captured"
                time.sleep(max(0.0, stamp - time.monotonic()))
                stamp = time.monotonic()
            image = np.empty((self.height, self.width, 3), np.uint8)
            self._world.render(image, index / self.fps, recipe[1], pose, rng)
            self._world.add_noise(image, rng)
            yield Frame(image, stamp, index, self.stream_id)
            index += 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.world",
        description="Write a video of the procedural motion world (mp4v) and its ground truth, "
                    "<out>.timeline.json: a list of {start, end, label} in frame indices, "
                    "end exclusive.")
    parser.add_argument("--out", required=True, help="video file to write, e.g. demo.mp4")
    for flag, kind, default, meaning in (
            ("--seconds", float, 20.0, "length"), ("--width", int, 320, "pixels"),
            ("--height", int, 240, "pixels"), ("--fps", float, 15.0, "frames per second"),
            ("--seed", int, 0, "same seed, same video"),
            ("--min-action-s", float, 1.5, "shortest action or pause, seconds"),
            ("--max-action-s", float, 4.0, "longest action or pause, seconds")):
        parser.add_argument(flag, type=kind, default=default, help=f"{meaning} ({default})")
    args = parser.parse_args(argv)
    if not 0 < args.seconds < math.inf:
        parser.error(f"--seconds must be a positive number, got {args.seconds}")
    try:
        check_args(args.fps)  # before it multiplies the seconds
        frames = max(1, round(args.seconds * args.fps))
        stream = SyntheticStream(args.seed, args.height, args.width, args.fps, frames,
                                 min_action_s=args.min_action_s, max_action_s=args.max_action_s)
    except ValueError as error:
        parser.error(str(error))
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), args.fps,
                             (args.width, args.height))
    if not writer.isOpened():
        print(f"error: cannot write a video to {args.out!r} (does its folder exist, and does "
              "the name end in .mp4?)", file=sys.stderr)
        return 1
    try:
        for frame in stream:
            writer.write(frame.image)
    finally:
        writer.release()
    timeline_path = f"{args.out}.timeline.json"
    with open(timeline_path, "w") as file:
        json.dump([dataclasses.asdict(segment) for segment in stream.timeline], file, indent=1)
    print(f"wrote {frames} frames to {args.out} and the ground truth to {timeline_path}")
    return 0
