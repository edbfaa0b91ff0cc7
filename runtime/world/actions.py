"""The actions of the procedural motion world, their time-reversed twins, and the actor that does them.

One actor (a shape with a marker dot that shows which way it faces) performs an action. Actions
come in time-reversed pairs ("moving left" is "moving right" played backwards), so a model that
ignores temporal order cannot tell the twins apart. Only the first action of each pair is
modelled; its twin is the same poses in reverse, which makes reversal exact.

Everything is measured in short sides of the frame (x, y from the top left; speeds per second),
so motion looks alike at any resolution and frame rate. `runtime.world.render` draws the poses
planned here; `runtime.world.stream` strings actions into a continuous scene.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from runtime.cli.errors import OptionValueError

__all__ = ["ACTIONS", "ACTOR_SCALES", "PALETTE", "REVERSED", "SHAPE_NAMES", "Actor", "action_of", "sample_actor"]

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
SPEED = (0.25, 0.5)        # short sides per second
SPIN = (90.0, 180.0)       # degrees per second; positive angles turn clockwise on screen
GROW = (0.45, 0.8)         # natural log of the scale per second
_SCALE = (0.45, 2.0)        # approach/recede stay inside: never a speck, never fills the view
ACTOR_SCALES = _SCALE       # the scales the actor takes in the stream, for render_clip
_SIZE = (0.09, 0.15)        # actor radius at scale 1
_FADE = (0.6, 1.0)          # how much of its clip a fade takes
_SINK = 0.1                 # an approaching actor moves down this much per unit of log scale
BORDER = 0.02              # the actor keeps this far from the frame edge
PALETTE = ((40, 40, 220), (40, 180, 40), (220, 90, 30), (30, 210, 230), (200, 50, 200),
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
SHAPES = {
    "circle": _regular(32),
    "square": _regular(4, 1.15, np.pi / 4),
    "triangle": _regular(3, 1.2),
    "star": _regular(10, 1.2) * np.where(np.arange(10) % 2, 0.45, 1.0)[:, None],
    "cross": np.array([[1, -_H], [1, _H], [_H, _H], [_H, 1], [-_H, 1], [-_H, _H], [-1, _H],
                       [-1, -_H], [-_H, -_H], [-_H, -1], [_H, -1], [_H, -_H]], float),
}
SHAPE_NAMES = tuple(SHAPES)

@dataclass(frozen=True)
class Actor:
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


def sample_actor(rng: np.random.Generator) -> Actor:
    # Every field is always drawn, in a fixed order, so one seed gives the same actor to every
    # action: clips of different actions with the same seed differ only in the motion.
    base = np.array(PALETTE[rng.integers(len(PALETTE))])
    color = np.clip(base + rng.integers(-20, 21, 3), 0, 255)
    bright = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2] > 110
    return Actor(
        shape=SHAPE_NAMES[rng.integers(len(SHAPE_NAMES))],
        color=tuple(int(v) for v in color), marker=(25, 25, 25) if bright else (235, 235, 235),
        size=float(rng.uniform(*_SIZE)), place=(float(rng.random()), float(rng.random())),
        angle=float(rng.uniform(0, 360)), speed=float(rng.uniform(*SPEED)),
        spin=float(rng.uniform(*SPIN)), grow=float(rng.uniform(*GROW)),
        zoom=float(rng.random()), fade=(float(rng.uniform(*_FADE)), float(rng.random())),
        empty=bool(rng.random() < 0.1))


def check_action(action: str) -> None:
    if action not in REVERSED:
        raise OptionValueError(f"unknown action {action!r}; valid actions: {', '.join(ACTIONS)}")


def trajectory(action: str, num_frames: int, fps: float, actor: Actor,
                aspect: float = 1.0) -> np.ndarray:
    """Per-frame poses (x, y, scale, angle, alpha), float64 (num_frames, 5).

    x, y are in short sides from the top left of a frame `aspect` (width / height) wide; the
    path is placed so the actor stays in view.
    """
    check_action(action)
    if action in _TWIN_OF:
        return trajectory(_TWIN_OF[action], num_frames, fps, actor, aspect)[::-1].copy()
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
    reach = actor.size * scale.max() + BORDER
    travel = np.maximum(extent - 2 * reach, 0.0)
    if action == "moving right":
        dx = frac * min(actor.speed * duration, travel[0])
    elif action == "moving down":
        dy = frac * min(actor.speed * duration, travel[1])
    room = np.maximum(travel - [dx.max(), dy.max()], 0.0)
    x = reach + actor.place[0] * room[0] + dx
    y = reach + actor.place[1] * room[1] + dy
    return np.stack([x, y, scale, angle, alpha], axis=1)


def continue_from(poses: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The same motion moved, resized and turned so that it begins at pose `start`."""
    out = poses.copy()
    out[:, :2] += start[:2] - poses[0, :2]
    out[:, 2] *= start[2] / poses[0, 2]
    out[:, 3] += start[3] - poses[0, 3]
    return out


def fits(poses: np.ndarray, actor: Actor, extent: np.ndarray) -> bool:
    reach = actor.size * poses[:, 2] + BORDER - 1e-9
    inside = ((poses[:, :2] >= reach[:, None]) & (poses[:, :2] <= extent - reach[:, None])).all()
    scales = poses[:, 2]
    return bool(inside and scales.min() >= _SCALE[0] - 1e-9 and scales.max() <= _SCALE[1] + 1e-9)
