"""Training windows cut from the demo camera itself, as the runtime samples and preprocesses it.

Clips show the actor at its clip scale, wholly in a square frame, and one action per clip. The
stream (`runtime.world.SyntheticStream`) shows what a robot's camera does: the actor
at whatever scale its last approach or recession left it, moving left at a third of its clip size
or half outside the model's central crop, and windows that straddle the change from one action to
the next. So training also takes windows from streams rendered with seeds of its own: every frame
through the runtime's `Preprocessor` (the same resize and crop the robot runs), frames taken at the
model's clip rate, each window labelled with the action that fills most of its frames (ties go to
the action at its newest frame, the one the stream scorer asks for), so the model names a new
action as soon as the window mostly holds it.
"""

from __future__ import annotations

import bisect

import numpy as np

from training.data import preprocessor

STREAM_SIZE = (240, 320)  # height, width: the demo camera's default
STREAM_FPS = 15.0


def window_label(timeline, frames: np.ndarray) -> str:
    """The action that covers most of `frames` (frame indices, oldest first); ties to the newest."""
    starts = [segment.start for segment in timeline]
    labels = [timeline[bisect.bisect_right(starts, int(f)) - 1].label for f in frames]
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    best = max(counts.values())
    return labels[-1] if counts[labels[-1]] == best else next(lb for lb in reversed(labels) if counts[lb] == best)


def stream_windows(seed: int, num_frames: int, size: int, clip_fps: float, frames: int = 1000,
                   every: int = 3, actions: tuple[str, ...] | None = None,
                   height: int = STREAM_SIZE[0], width: int = STREAM_SIZE[1],
                   full_frame: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """float32 pixel values (N, num_frames, 3, size, size) and int64 labels (index into ACTIONS) of the
    windows of one stream of `frames` frames, a window starting every `every` stream frames."""
    from runtime.world import ACTIONS, SyntheticStream

    names = ACTIONS if actions is None else actions
    stream = SyntheticStream(seed, height, width, STREAM_FPS, num_frames=frames)
    pre = preprocessor(size, full_frame)
    values = np.stack([pre(frame.image) for frame in stream])
    step = max(1, round(STREAM_FPS / clip_fps))  # the runtime takes every step-th frame at this rate
    offsets = step * np.arange(num_frames)
    starts = np.arange(0, frames - offsets[-1], every)
    labels = np.array([names.index(window_label(stream.timeline, start + offsets)) for start in starts], np.int64)
    return values[starts[:, None] + offsets[None, :]], labels
