"""Captioned clips of the synthetic world: colour, shape and motion in words.

Every clip is rendered from one seed, and the same seed fixes the actor's look, so its caption is
known exactly. Training captions use one set of templates and motion phrases; held-out captions
use paraphrases (other templates, other verbs) the training never sees, so retrieval on them
measures whether the tower learned the meaning rather than the strings.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# runtime.world.PALETTE order (BGR), named by what a person would call them.
COLOR_NAMES = ("red", "green", "blue", "yellow", "pink", "cyan", "orange", "white", "purple")
EMPTY = "empty"

# Seven wordings per action, so the tower learns where the meaning lies in the text encoder's space
# rather than where three strings do (with three, an unseen paraphrase of "approaching" could sit
# nearer another action's strings than the clip's embedding). None of them shares its distinctive
# words with the held-out wordings below, which measure exactly that generalisation.
TRAIN_MOTION = {
    "no action": ("staying still", "not moving", "standing still", "at rest", "keeping still",
                  "frozen in place", "not going anywhere"),
    "moving left": ("moving left", "moving to the left", "going left", "going leftwards", "shifting left",
                    "crossing to the left", "passing left"),
    "moving right": ("moving right", "moving to the right", "going right", "going rightwards", "shifting right",
                     "crossing to the right", "passing right"),
    "moving up": ("moving up", "moving upwards", "going up", "climbing", "ascending", "lifting upwards",
                  "floating up"),
    "moving down": ("moving down", "moving downwards", "going down", "descending", "dropping", "falling",
                    "moving lower"),
    "approaching": ("approaching", "getting bigger", "coming closer", "moving closer", "getting larger",
                    "coming towards the camera", "zooming in"),
    "receding": ("receding", "getting smaller", "moving away", "moving back", "backing away", "retreating",
                 "zooming out"),
    "rotating clockwise": ("rotating clockwise", "turning clockwise", "spinning clockwise", "circling clockwise",
                           "whirling clockwise", "turning round clockwise", "rotating the way a clock's hands go"),
    "rotating anticlockwise": ("rotating anticlockwise", "turning anticlockwise", "spinning anticlockwise",
                               "circling anticlockwise", "whirling anticlockwise", "turning round anticlockwise",
                               "rotating against a clock's hands"),
    "appearing": ("appearing", "fading in", "showing up", "coming into the picture", "emerging", "fading into sight",
                  "turning up"),
    "disappearing": ("disappearing", "fading out", "going away", "going out of sight", "dissolving",
                     "fading to nothing", "melting away"),
}
HELDOUT_MOTION = {
    "no action": ("remaining motionless", "holding its position"),
    "moving left": ("sliding leftward", "heading towards the left side"),
    "moving right": ("sliding rightward", "heading towards the right side"),
    "moving up": ("rising towards the top", "travelling upward"),
    "moving down": ("sinking towards the bottom", "travelling downward"),
    "approaching": ("growing larger as it nears the camera", "drawing nearer"),
    "receding": ("shrinking into the distance", "drifting further off"),
    "rotating clockwise": ("revolving in the clockwise direction", "twirling clockwise"),
    "rotating anticlockwise": ("revolving counterclockwise", "twirling counter-clockwise"),
    "appearing": ("gradually becoming visible", "materialising"),
    "disappearing": ("vanishing from view", "gradually fading away"),
}
TRAIN_TEMPLATES = ("a {color} {shape} {motion}", "the {color} {shape} is {motion}", "{motion}, a {color} {shape}")
HELDOUT_TEMPLATES = ("in this clip one {color} {shape} is {motion}", "we see a {shape} in {color}, {motion}")
TRAIN_EMPTY = ("an empty scene", "nothing is there", "no object in view")
HELDOUT_EMPTY = ("a background without any objects",)
# The zero-shot label prompts shipped with the bundled model, one per action (in ACTIONS order).
LABEL_PROMPTS = {
    "no action": "nothing is moving", "moving left": "a shape moving left",
    "moving right": "a shape moving right", "moving up": "a shape moving up",
    "moving down": "a shape moving down", "approaching": "a shape approaching",
    "receding": "a shape receding", "rotating clockwise": "a shape rotating clockwise",
    "rotating anticlockwise": "a shape rotating anticlockwise", "appearing": "a shape appearing",
    "disappearing": "a shape disappearing",
}


@dataclass(frozen=True)
class Attributes:
    action: str
    color: str | None  # None: the caption does not say (or the scene is empty)
    shape: str | None

    def matches(self, clip: "Attributes") -> bool:
        """Does this caption describe that clip? Unsaid attributes match anything."""
        return (self.action == clip.action and (self.color is None or self.color == clip.color)
                and (self.shape is None or self.shape == clip.shape))


def clip_attributes(action: str, seed: int) -> Attributes:
    """The actor of `render_clip(action, seed=seed)`: drawn exactly as the world draws it."""
    from runtime.world import clip_actor

    actor = clip_actor(seed)
    if action == "no action" and actor.empty:
        return Attributes(action, EMPTY, EMPTY)
    return Attributes(action, color_name(actor.color), actor.shape)


def caption(attrs: Attributes, rng: np.random.Generator, heldout: bool = False,
            partial: float = 0.0) -> tuple[str, Attributes]:
    """A caption of a clip and the attributes it states (fewer than the clip's when partial)."""
    if attrs.color == EMPTY:
        pool = HELDOUT_EMPTY if heldout else TRAIN_EMPTY
        return pool[rng.integers(len(pool))], attrs
    motion = (HELDOUT_MOTION if heldout else TRAIN_MOTION)[attrs.action]
    motion = motion[rng.integers(len(motion))]
    color, shape = attrs.color, attrs.shape
    if partial and rng.random() < partial:  # sometimes leave out the look: "something moving left"
        drop = rng.integers(3)
        color = None if drop in (0, 2) else color
        shape = None if drop in (1, 2) else shape
    templates = HELDOUT_TEMPLATES if heldout else TRAIN_TEMPLATES
    text = templates[rng.integers(len(templates))].format(
        color=color or "", shape=shape or ("shape" if color else "something"), motion=motion)
    return " ".join(text.split()), Attributes(attrs.action, color, shape)


def all_train_captions() -> list[str]:
    """Every caption training can draw (so their embeddings are computed once, up front)."""
    from runtime.world import ACTIONS, SHAPE_NAMES

    out = set(TRAIN_EMPTY)
    for action in ACTIONS:
        for motion in TRAIN_MOTION[action]:
            for template in TRAIN_TEMPLATES:
                for color in COLOR_NAMES + (None,):
                    for shape in SHAPE_NAMES + (None,):
                        text = template.format(color=color or "", motion=motion,
                                               shape=shape or ("shape" if color else "something"))
                        out.add(" ".join(text.split()))
    return sorted(out)


def render_batch(actions: list[str], seeds: list[int], num_frames: int, size: int) -> np.ndarray:
    """uint8 (N, T, size, size, 3) BGR clips, one per (action, seed)."""
    from runtime.world import render_clip

    return np.stack([render_clip(a, num_frames, size, size, seed=int(s)) for a, s in zip(actions, seeds)])


def to_pixels(clips_bgr: np.ndarray, config) -> np.ndarray:
    """uint8 (N, T, H, W, 3) BGR → float32 (N, 3, T, S, S), S the tower's `config.image_size`, through the
    runtime's own `Preprocessor` on the settings export writes for the tower
    (export.models.videotext_motion.tower_preprocessing), so the tower trains on exactly what the
    robot feeds it."""
    if clips_bgr.dtype != np.uint8 or clips_bgr.ndim != 5 or clips_bgr.shape[-1] != 3:
        raise ValueError(f"expected uint8 (N, T, H, W, 3) BGR clips, got {clips_bgr.dtype} {clips_bgr.shape}")
    pre = tower_preprocessor(config)
    size = config.image_size
    out = np.empty((clips_bgr.shape[0], 3, clips_bgr.shape[1], size, size), np.float32)
    for n, clip in enumerate(clips_bgr):
        for t, frame in enumerate(clip):
            out[n, :, t] = pre(frame)
    return out


@functools.lru_cache(maxsize=8)
def tower_preprocessor(config):
    from export.models.videotext_motion import tower_preprocessing
    from runtime.preprocess import Preprocessor

    return Preprocessor(tower_preprocessing(config))


@dataclass(frozen=True)
class CaptionedWindows:
    pixels: np.ndarray  # float32 (N, 3, T, S, S), the tower's input
    attributes: list  # one Attributes per window: what a caption of it may say


def stream_captioned_windows(seed: int, config, frames: int = 1000, every: int = 3,
                             reversed_too: bool = True) -> CaptionedWindows:
    """Windows of one demo-camera stream (training.stream_data) through the tower's preprocessing, each
    with the attributes of the action filling most of it and of the actor doing it at its newest
    such frame. reversed_too: each window also played backwards, as the twin of what the reversed
    frames mostly show (in this world a twin is its action's poses in reverse)."""
    from runtime.world import REVERSED
    from training.stream_data import STREAM_FPS, stream_clips

    windows = stream_clips(seed, config.num_frames, STREAM_FPS, tower_preprocessor(config), frames, every)
    pixels = windows.values.transpose(0, 2, 1, 3, 4)  # (N, T, 3, S, S) -> (N, 3, T, S, S)
    attrs = [window_attributes(windows.stream, f) for f in windows.frames]
    if reversed_too:
        back = [window_attributes(windows.stream, f[::-1]) for f in windows.frames]
        pixels = np.concatenate([pixels, pixels[:, :, ::-1]])
        attrs += [Attributes(REVERSED[a.action], a.color, a.shape) for a in back]
    return CaptionedWindows(np.ascontiguousarray(pixels), attrs)


def window_attributes(stream, frames: np.ndarray) -> Attributes:
    """The action filling most of `frames` (stream frame indices, in the order the window shows them)
    and the look of the actor doing it at the last of those frames that shows it."""
    from runtime.sources.window_truth import window_label

    action = window_label(stream.timeline, frames)
    last = next(int(f) for f in frames[::-1] if stream.label_at(int(f)) == action)
    look = stream.motion_at(last)
    if look is None:
        return Attributes(action, EMPTY, EMPTY)
    return Attributes(action, color_name(look["color"]), look["shape"])


def color_name(bgr) -> str:
    """The name of the palette entry nearest `bgr` (actors' colours are jittered ±20 around it)."""
    from runtime.world import PALETTE

    palette = np.array(PALETTE, dtype=np.float64)
    return COLOR_NAMES[int(np.abs(palette - np.array(bgr, dtype=np.float64)).sum(1).argmin())]
