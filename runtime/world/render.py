"""Rendering the procedural motion world: labelled training clips, drawn from a seed.

A clip is one actor doing one action (runtime.world.actions) over a smooth textured background,
with up to two slow distractor shapes, camera shake and sensor noise. Everything is drawn from a
seed: same arguments, same pixels; a clip rendered at 15 fps and one at 30 fps show the same
motion over the same time.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np

from runtime.cli.errors import OptionValueError
from runtime.common.cv import cv2
from runtime.world.actions import (
    ACTIONS, ACTOR_SCALES, BORDER, PALETTE, SHAPE_NAMES, SHAPES, Actor, check_action, sample_actor, trajectory)

__all__ = ["MAX_SIDE", "World", "clip_actor", "make_clips", "render_clip"]

_MARKER = (0.5, 0.25)       # marker dot: distance from the centre and radius, in actor radii

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
    pts = SHAPES[shape] @ (radius * np.array([[cos, sin], [-sin, cos]])) + center
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


class World:
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
        color = (np.array(PALETTE[rng.integers(len(PALETTE))]) + 128) // 2
        heading, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.08)
        return (SHAPE_NAMES[rng.integers(len(SHAPE_NAMES))], tuple(int(v) for v in color),
                float(rng.uniform(0.04, 0.08)), rng.random(2) * self.extent,
                speed * np.array([np.cos(heading), np.sin(heading)]), float(rng.uniform(0, 360)))

    def render(self, out: np.ndarray, t: float, actor: Actor | None, pose: np.ndarray | None,
               rng: np.random.Generator) -> None:
        """Draw the world at time t (seconds) into out (H, W, 3) uint8, without noise."""
        jx, jy = rng.integers(-self.shake, self.shake + 1, 2) if self.shake else (0, 0)
        s = self.shake
        out[...] = self.background[s + jy:s + jy + self.height, s + jx:s + jx + self.width]
        # The camera moved by +j, so the scene moves by -j; -0.5 puts pixel centres on integers.
        shift = np.array([jx, jy], float) + 0.5
        for shape, color, size, start, velocity, angle in self.distractors:
            center = [_bounce(p, size + BORDER, e - size - BORDER)
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


def check_args(fps: float, **counts: tuple) -> None:
    """Raise ValueError naming the first bad argument; counts are name=(value, minimum[, maximum])."""
    for name, (value, low, *high) in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise OptionValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if high and value > high[0]:
            raise OptionValueError(f"{name} must be at most {high[0]}, got {value}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not MIN_FPS <= fps <= MAX_FPS:
        raise OptionValueError(f"fps must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {fps!r}")


def _seeds(entropy) -> tuple[np.random.SeedSequence, np.random.SeedSequence, np.random.SeedSequence]:
    """Separate generators for world, actor and per-frame randomness: the same seed gives the same
    scene, actor, shake and noise to every action."""
    world_seq, actor_seq, frame_seq = np.random.SeedSequence(entropy).spawn(3)
    return world_seq, actor_seq, frame_seq


def clip_actor(seed: int) -> Actor:
    """The actor `render_clip(..., seed=seed)` draws, at scale 1: its shape, colour (BGR, PALETTE
    jittered by up to 20 per channel), size and speeds. The same for every action of that seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionValueError(f"seed must be an integer >= 0, got {seed!r}")
    return sample_actor(np.random.default_rng(_seeds(seed)[1]))


def _render(action: str, num_frames: int, height: int, width: int, fps: float, entropy,
            clean: bool = False, out: np.ndarray | None = None, noise: bool = True,
            actor_scale: float = 1.0) -> np.ndarray:
    world_seq, actor_seq, frame_seq = _seeds(entropy)
    world = World(np.random.default_rng(world_seq), height, width, clean)
    actor = sample_actor(np.random.default_rng(actor_seq))
    if actor_scale != 1.0:
        actor = replace(actor, size=actor.size * actor_scale)
    poses = trajectory(action, num_frames, fps, actor, width / height)
    rng = np.random.default_rng(frame_seq)
    clip = np.empty((num_frames, height, width, 3), np.uint8) if out is None else out
    for index, pose in enumerate(poses):
        world.render(clip[index], index / fps, actor, pose, rng)
    if noise:  # last, so a noiseless render is the same clip without its grain
        world.add_noise(clip, rng)
    return clip


def render_clip(action: str, num_frames: int = 16, height: int = 64, width: int = 64,
                seed: int = 0, fps: float = 15.0, *, actor_scale: float = 1.0, clean: bool = False) -> np.ndarray:
    """One clip of `action`: uint8 (num_frames, height, width, 3) BGR, determined by the args.

    actor_scale resizes the actor (ACTOR_SCALES: the range the demo stream leaves it at after an
    approach or a recession), so clips can show every action at every scale the stream reaches.
    clean=True draws the same actor and motion on a flat grey background (128) without distractors,
    shake or noise: a training curriculum, and a scene where the actor is found by its colour."""
    check_action(action)
    check_args(fps, num_frames=(num_frames, 1), height=(height, 8, MAX_SIDE), width=(width, 8, MAX_SIDE),
                seed=(seed, 0))
    if isinstance(actor_scale, bool) or not isinstance(actor_scale, (int, float)) or not \
            ACTOR_SCALES[0] <= actor_scale <= ACTOR_SCALES[1]:
        raise OptionValueError(f"actor_scale must be a number from {ACTOR_SCALES[0]:g} to {ACTOR_SCALES[1]:g}, "
                         f"got {actor_scale!r}")
    return _render(action, num_frames, height, width, fps, seed, bool(clean), actor_scale=float(actor_scale))


def make_clips(n_per_class: int, num_frames: int = 16, height: int = 64, width: int = 64,
               seed: int = 0, fps: float = 15.0, actions: Sequence[str] | None = None,
               noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """n_per_class clips of each action: uint8 (N, T, H, W, 3) BGR and int64 labels (N,).

    Labels index ACTIONS. Classes are interleaved so any prefix stays balanced. noise=False renders
    the very same clips without sensor grain (to measure how much of a loss is unpredictable noise).
    """
    check_args(fps, n_per_class=(n_per_class, 0), num_frames=(num_frames, 1),
                height=(height, 8), width=(width, 8), seed=(seed, 0))
    names = list(ACTIONS if actions is None else actions)
    for name in names:
        check_action(name)
    labels = np.array([ACTIONS.index(name) for name in names] * n_per_class, np.int64)
    clips = np.empty((len(labels), num_frames, height, width, 3), np.uint8)
    for index, label in enumerate(labels):
        _render(ACTIONS[label], num_frames, height, width, fps,
                [seed, int(label), index // len(names)], out=clips[index], noise=noise)
    return clips, labels


