"""A procedural motion world: training clips, a demo camera, and ground truth for streaming.

One actor (a shape with a marker dot that shows which way it faces) performs an action over a
smooth textured background, with up to two slow distractor shapes, camera shake and sensor
noise. Actions come in time-reversed pairs ("moving left" is "moving right" played backwards),
so a model that ignores temporal order cannot tell the twins apart. Only the first action of
each pair is modelled; its twin is the same poses in reverse, which makes reversal exact.

Everything is measured in short sides of the frame (x, y from the top left; speeds per
second), so clips look alike at any resolution and a clip rendered at 15 fps and one at 30 fps
show the same motion over the same time. Everything is drawn from a seed: same arguments,
same pixels.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np

__all__ = ["ACTIONS", "ACTOR_SCALES", "REVERSED", "Segment", "SyntheticStream", "action_of", "make_clips", "render_clip"]
# SyntheticStream (the continuous demo camera) lives in runtime.sources.synthetic_stream and is
# re-exported lazily below: it builds on this module, so a plain import would be circular.

ACTIONS: tuple[str, ...] = (
    "no action", "moving left", "moving right", "moving up", "moving down", "approaching",
    "receding", "rotating clockwise", "rotating anticlockwise", "appearing", "disappearing")
# (modelled action, its twin = the same poses played backwards)
_PAIRS = (("moving right", "moving left"), ("moving down", "moving up"),
          ("approaching", "receding"), ("rotating clockwise", "rotating anticlockwise"),
          ("appearing", "disappearing"))
_TWIN_OF = {twin: action for action, twin in _PAIRS}
REVERSED: dict[str, str] = {"no action": "no action", **dict(_PAIRS), **_TWIN_OF}

# Ranges are in short sides, seconds and degrees. The slowest values still move a 16-frame
# clip at 15 fps by a quarter of the frame, a factor of 1.6 in size, or a quarter turn.
_SPEED = (0.25, 0.5)        # short sides per second
_SPIN = (90.0, 180.0)       # degrees per second; positive angles turn clockwise on screen
_GROW = (0.45, 0.8)         # natural log of the scale per second
_SCALE = (0.45, 2.0)        # approach/recede stay inside: never a speck, never fills the view
ACTOR_SCALES = _SCALE       # public: the scales the actor takes in the stream, for render_clip
_SIZE = (0.09, 0.15)        # actor radius at scale 1
_FADE = (0.6, 1.0)          # how much of its clip a fade takes
_SINK = 0.1                 # an approaching actor moves down this much per unit of log scale
_BORDER = 0.02              # the actor keeps this far from the frame edge
_MARKER = (0.5, 0.25)       # marker dot: distance from the centre and radius, in actor radii
_PALETTE = ((40, 40, 220), (40, 180, 40), (220, 90, 30), (30, 210, 230), (200, 50, 200),
            (210, 200, 40), (20, 130, 250), (240, 240, 240), (120, 30, 130))


# Words that mark a prompt for "no action" when it names no action (e.g. "a shape staying still").
_STILL_WORDS = ("still", "nothing", "idle", "static", "empty", "no action")


def action_of(label: str) -> str | None:
    """The action a label means: an action name itself, or the one action a zero-shot prompt names
    ("a shape moving left" -> "moving left"; "a shape staying still" -> "no action"). None when it
    names no action, or more than one, so a scorer counts it wrong rather than guessing."""
    text = " ".join(str(label).lower().split())
    if text in ACTIONS:
        return text
    # Whole words only: "rotating anticlockwise" must not also match "rotating clockwise".
    named = [name for name in ACTIONS[1:] if re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", text)]
    if len(named) == 1:
        return named[0]
    if not named and any(re.search(rf"(?<![a-z]){word}(?![a-z])", text) for word in _STILL_WORDS):
        return "no action"
    return None


def _regular(n: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


_H = 0.33  # half the width of a cross arm
# Unit polygons (radius about 1); the marker dot sits along angle 0.
_SHAPES = {
    "circle": _regular(32),
    "square": _regular(4, 1.15, np.pi / 4),
    "triangle": _regular(3, 1.2),
    "star": _regular(10, 1.2) * np.where(np.arange(10) % 2, 0.45, 1.0)[:, None],
    "cross": np.array([[1, -_H], [1, _H], [_H, _H], [_H, 1], [-_H, 1], [-_H, _H], [-1, _H],
                       [-1, -_H], [-_H, -_H], [-_H, -1], [_H, -1], [_H, -_H]], float),
}
_SHAPE_NAMES = tuple(_SHAPES)


@dataclass(frozen=True)
class Segment:
    """Ground truth: frames [start, end) of a stream show `label`."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class _Actor:
    """How the actor looks and how fast it would do each action (short sides, seconds)."""

    shape: str
    color: tuple[int, int, int]
    marker: tuple[int, int, int]
    size: float
    place: tuple[float, float]  # where the path sits in the room it has, 0..1 per axis
    angle: float
    speed: float
    spin: float
    grow: float
    zoom: float                 # where an approach sits in the scale range, 0..1
    fade: tuple[float, float]   # fade length as a fraction of the clip, and where it sits 0..1
    empty: bool                 # a "no action" clip with nothing in it


def _sample_actor(rng: np.random.Generator) -> _Actor:
    # Every field is always drawn, in a fixed order, so one seed gives the same actor to every
    # action: clips of different actions with the same seed differ only in the motion.
    base = np.array(_PALETTE[rng.integers(len(_PALETTE))])
    color = np.clip(base + rng.integers(-20, 21, 3), 0, 255)
    bright = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2] > 110
    return _Actor(
        shape=_SHAPE_NAMES[rng.integers(len(_SHAPE_NAMES))],
        color=tuple(int(v) for v in color), marker=(25, 25, 25) if bright else (235, 235, 235),
        size=float(rng.uniform(*_SIZE)), place=(float(rng.random()), float(rng.random())),
        angle=float(rng.uniform(0, 360)), speed=float(rng.uniform(*_SPEED)),
        spin=float(rng.uniform(*_SPIN)), grow=float(rng.uniform(*_GROW)),
        zoom=float(rng.random()), fade=(float(rng.uniform(*_FADE)), float(rng.random())),
        empty=bool(rng.random() < 0.1))


def _check_action(action: str) -> None:
    if action not in REVERSED:
        raise ValueError(f"unknown action {action!r}; valid actions: {', '.join(ACTIONS)}")


def _trajectory(action: str, num_frames: int, fps: float, actor: _Actor,
                aspect: float = 1.0) -> np.ndarray:
    """Per-frame poses (x, y, scale, angle, alpha), float64 (num_frames, 5).

    x, y are in short sides from the top left of a frame `aspect` (width / height) wide; the
    path is placed so the actor stays in view.
    """
    _check_action(action)
    if action in _TWIN_OF:
        return _trajectory(_TWIN_OF[action], num_frames, fps, actor, aspect)[::-1].copy()
    frac = np.linspace(0.0, 1.0, num_frames)
    duration = (num_frames - 1) / fps
    scale, alpha = np.ones(num_frames), np.ones(num_frames)
    angle = np.full(num_frames, actor.angle)
    dx, dy = np.zeros(num_frames), np.zeros(num_frames)
    if action == "approaching":
        low, high = np.log(_SCALE)
        rise = min(actor.grow * duration, high - low)
        log_scale = low + actor.zoom * (high - low - rise) + rise * frac
        scale = np.exp(log_scale)
        dy = _SINK * (log_scale - log_scale[0])  # perspective: nearer things sit lower
    elif action == "appearing":
        length, where = actor.fade
        ramp = np.clip((frac - where * (1.0 - length)) / length, 0.0, 1.0)
        alpha = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep: no visible kink at either end
        scale = 0.8 + 0.2 * alpha
    elif action == "rotating clockwise":
        angle = actor.angle + actor.spin * duration * frac
    elif action == "no action" and actor.empty:
        alpha = np.zeros(num_frames)
    extent = np.array([max(aspect, 1.0), max(1.0 / aspect, 1.0)])
    reach = actor.size * scale.max() + _BORDER
    travel = np.maximum(extent - 2 * reach, 0.0)
    if action == "moving right":
        dx = frac * min(actor.speed * duration, travel[0])
    elif action == "moving down":
        dy = frac * min(actor.speed * duration, travel[1])
    room = np.maximum(travel - [dx.max(), dy.max()], 0.0)
    x = reach + actor.place[0] * room[0] + dx
    y = reach + actor.place[1] * room[1] + dy
    return np.stack([x, y, scale, angle, alpha], axis=1)


def _continue(poses: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The same motion moved, resized and turned so that it begins at pose `start`."""
    out = poses.copy()
    out[:, :2] += start[:2] - poses[0, :2]
    out[:, 2] *= start[2] / poses[0, 2]
    out[:, 3] += start[3] - poses[0, 3]
    return out


def _fits(poses: np.ndarray, actor: _Actor, extent: np.ndarray) -> bool:
    reach = actor.size * poses[:, 2] + _BORDER - 1e-9
    inside = ((poses[:, :2] >= reach[:, None]) & (poses[:, :2] <= extent - reach[:, None])).all()
    scales = poses[:, 2]
    return bool(inside and scales.min() >= _SCALE[0] - 1e-9 and scales.max() <= _SCALE[1] + 1e-9)


def _bounce(position: float, low: float, high: float) -> float:
    """Where a point moving freely would be if it bounced between low and high."""
    span = high - low
    if span <= 0:
        return (low + high) / 2
    folded = (position - low) % (2 * span)
    return low + (folded if folded <= span else 2 * span - folded)


def _draw(img: np.ndarray, shape: str, color: tuple, center: np.ndarray, radius: float,
          angle: float, alpha: float = 1.0, marker: tuple | None = None) -> None:
    """Fill a shape, in pixels, antialiased at 1/16 pixel precision; blend it if alpha < 1."""
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    pts = _SHAPES[shape] @ (radius * np.array([[cos, sin], [-sin, cos]])) + center
    spot = center + _MARKER[0] * radius * np.array([cos, sin])
    origin = np.zeros(2)
    target = img
    if alpha < 1.0:  # blend only the patch the shape covers: a full-frame blend costs 10x more
        height, width = img.shape[:2]
        x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 2, [width, height])
        if x0 >= x1 or y0 >= y1:
            return
        origin = np.array([x0, y0], float)
        target = img[y0:y1, x0:x1].copy()
    cv2.fillPoly(target, [np.round((pts - origin) * 16).astype(np.int32)], color, cv2.LINE_AA, 4)
    if marker is not None:
        dot = tuple(int(v) for v in np.round((spot - origin) * 16))
        cv2.circle(target, dot, int(round(radius * _MARKER[1] * 16)), marker, -1, cv2.LINE_AA, 4)
    if alpha < 1.0:
        patch = img[y0:y1, x0:x1]
        img[y0:y1, x0:x1] = cv2.addWeighted(target, alpha, patch, 1.0 - alpha, 0.0)


def _background(rng: np.random.Generator, height: int, width: int, unit: int) -> np.ndarray:
    """Muted colour blobs, a finer texture and a lighting ramp; sized in short sides."""
    def field(cells: float, amplitude: float) -> np.ndarray:
        grid = (max(2, round(cells * height / unit)), max(2, round(cells * width / unit)), 3)
        coarse = rng.uniform(-amplitude, amplitude, grid).astype(np.float32)
        return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)

    image = field(rng.uniform(1.5, 4.0), 40.0) + field(rng.uniform(8.0, 14.0), 12.0)
    ramp = rng.uniform(-30.0, 30.0, 2).astype(np.float32)
    image += ramp[0] * np.linspace(-1, 1, width, dtype=np.float32)[None, :, None]
    image += ramp[1] * np.linspace(-1, 1, height, dtype=np.float32)[:, None, None]
    image += (rng.uniform(70.0, 170.0) + rng.uniform(-20.0, 20.0, 3)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


class _World:
    """Everything but the actor: background, distractors, camera shake and sensor noise."""

    def __init__(self, rng: np.random.Generator, height: int, width: int, clean: bool = False):
        self.height, self.width = height, width
        self.unit = min(height, width)  # pixels per short side
        self.extent = np.array([width / self.unit, height / self.unit])
        # clean: flat grey, still and noiseless, so tests can find the actor by its colour
        self.shake = 0 if clean else int(rng.integers(0, max(1, round(0.015 * self.unit)) + 1))
        self.noise = 0.0 if clean else float(rng.uniform(1.5, 5.0))  # grey levels, std
        pad = 2 * self.shake
        self.background = (np.full((height, width, 3), 128, np.uint8) if clean else
                           _background(rng, height + pad, width + pad, self.unit))
        self.distractors = [] if clean else [self._distractor(rng)
                                             for _ in range(rng.integers(0, 3))]

    def _distractor(self, rng: np.random.Generator) -> tuple:
        # Small, muted, slow and without a marker: present in every class, so never the cue.
        color = (np.array(_PALETTE[rng.integers(len(_PALETTE))]) + 128) // 2
        heading, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.08)
        return (_SHAPE_NAMES[rng.integers(len(_SHAPE_NAMES))], tuple(int(v) for v in color),
                float(rng.uniform(0.04, 0.08)), rng.random(2) * self.extent,
                speed * np.array([np.cos(heading), np.sin(heading)]), float(rng.uniform(0, 360)))

    def render(self, out: np.ndarray, t: float, actor: _Actor | None, pose: np.ndarray | None,
               rng: np.random.Generator) -> None:
        """Draw the world at time t (seconds) into out (H, W, 3) uint8, without noise."""
        jx, jy = rng.integers(-self.shake, self.shake + 1, 2) if self.shake else (0, 0)
        s = self.shake
        out[...] = self.background[s + jy:s + jy + self.height, s + jx:s + jx + self.width]
        # The camera moved by +j, so the scene moves by -j; -0.5 puts pixel centres on integers.
        shift = np.array([jx, jy], float) + 0.5
        for shape, color, size, start, velocity, angle in self.distractors:
            center = [_bounce(p, size + _BORDER, e - size - _BORDER)
                      for p, e in zip(start + velocity * t, self.extent)]
            _draw(out, shape, color, np.array(center) * self.unit - shift, size * self.unit, angle)
        if actor is not None and pose is not None and pose[4] > 0:
            _draw(out, actor.shape, actor.color, pose[:2] * self.unit - shift,
                  actor.size * pose[2] * self.unit, pose[3], pose[4], actor.marker)

    def add_noise(self, frames: np.ndarray, rng: np.random.Generator) -> None:
        if self.noise <= 0:
            return
        flat = frames.reshape(-1, frames.shape[-2] * frames.shape[-1])  # 2-D for OpenCV
        # Random bytes as int8 are uniform on [-128, 127] (std 73.9): scaling them costs a
        # tenth of drawing Gaussian samples, and sensor grain needs no particular shape.
        grain = np.frombuffer(rng.bytes(flat.size), np.int8).reshape(flat.shape)
        mixed = cv2.addWeighted(flat, 1.0, grain, self.noise / 73.9, 0.0, dtype=cv2.CV_8U)
        frames[...] = mixed.reshape(frames.shape)


MAX_SIDE = 8192  # pixels: an 8K frame; a larger world is a typo that would ask for gigabytes
MIN_FPS, MAX_FPS = 0.01, 1000.0  # a frame every 100 s .. a high-speed camera; beyond, timing means nothing


def _check_args(fps: float, **counts: tuple) -> None:
    """Raise ValueError naming the first bad argument; counts are name=(value, minimum[, maximum])."""
    for name, (value, low, *high) in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if high and value > high[0]:
            raise ValueError(f"{name} must be at most {high[0]}, got {value}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not MIN_FPS <= fps <= MAX_FPS:
        raise ValueError(f"fps must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {fps!r}")


def _render(action: str, num_frames: int, height: int, width: int, fps: float, entropy,
            clean: bool = False, out: np.ndarray | None = None, noise: bool = True,
            actor_scale: float = 1.0) -> np.ndarray:
    # Separate generators for world, actor and per-frame randomness: the same seed gives the
    # same scene, actor, shake and noise to every action.
    world_seq, actor_seq, frame_seq = np.random.SeedSequence(entropy).spawn(3)
    world = _World(np.random.default_rng(world_seq), height, width, clean)
    actor = _sample_actor(np.random.default_rng(actor_seq))
    if actor_scale != 1.0:
        actor = replace(actor, size=actor.size * actor_scale)
    poses = _trajectory(action, num_frames, fps, actor, width / height)
    rng = np.random.default_rng(frame_seq)
    clip = np.empty((num_frames, height, width, 3), np.uint8) if out is None else out
    for index, pose in enumerate(poses):
        world.render(clip[index], index / fps, actor, pose, rng)
    if noise:  # last, so a noiseless render is the same clip without its grain
        world.add_noise(clip, rng)
    return clip


def render_clip(action: str, num_frames: int = 16, height: int = 64, width: int = 64,
                seed: int = 0, fps: float = 15.0, *, actor_scale: float = 1.0, _clean: bool = False) -> np.ndarray:
    """One clip of `action`: uint8 (num_frames, height, width, 3) BGR, determined by the args.

    actor_scale resizes the actor (ACTOR_SCALES: the range the demo stream leaves it at after an
    approach or a recession), so clips can show every action at every scale the stream reaches."""
    _check_action(action)
    _check_args(fps, num_frames=(num_frames, 1), height=(height, 8, MAX_SIDE), width=(width, 8, MAX_SIDE),
                seed=(seed, 0))
    if isinstance(actor_scale, bool) or not isinstance(actor_scale, (int, float)) or not \
            ACTOR_SCALES[0] <= actor_scale <= ACTOR_SCALES[1]:
        raise ValueError(f"actor_scale must be a number from {ACTOR_SCALES[0]:g} to {ACTOR_SCALES[1]:g}, "
                         f"got {actor_scale!r}")
    return _render(action, num_frames, height, width, fps, seed, _clean, actor_scale=float(actor_scale))


def make_clips(n_per_class: int, num_frames: int = 16, height: int = 64, width: int = 64,
               seed: int = 0, fps: float = 15.0, actions: Sequence[str] | None = None,
               noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """n_per_class clips of each action: uint8 (N, T, H, W, 3) BGR and int64 labels (N,).

    Labels index ACTIONS. Classes are interleaved so any prefix stays balanced. noise=False renders
    the very same clips without sensor grain (to measure how much of a loss is unpredictable noise).
    """
    _check_args(fps, n_per_class=(n_per_class, 0), num_frames=(num_frames, 1),
                height=(height, 8), width=(width, 8), seed=(seed, 0))
    names = list(ACTIONS if actions is None else actions)
    for name in names:
        _check_action(name)
    labels = np.array([ACTIONS.index(name) for name in names] * n_per_class, np.int64)
    clips = np.empty((len(labels), num_frames, height, width, 3), np.uint8)
    for index, label in enumerate(labels):
        _render(ACTIONS[label], num_frames, height, width, fps,
                [seed, int(label), index // len(names)], out=clips[index], noise=noise)
    return clips, labels


def __getattr__(name: str):
    if name in ("SyntheticStream", "main"):
        from runtime.sources import synthetic_stream

        return getattr(synthetic_stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # python -m runtime.sources.synthetic: write a demo video
    from runtime.sources.synthetic_stream import main

    sys.exit(main())
