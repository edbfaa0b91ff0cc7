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

from dataclasses import dataclass

import numpy as np

from runtime.sources.window_truth import Segments
from training.data import preprocessor

STREAM_SIZE = (240, 320)  # height, width: the demo camera's default
STREAM_FPS = 15.0


def stream_windows(seed: int, num_frames: int, size: int, clip_fps: float, frames: int = 1000,
                   every: int = 3, actions: tuple[str, ...] | None = None,
                   height: int = STREAM_SIZE[0], width: int = STREAM_SIZE[1],
                   full_frame: bool = False, onset_frames: int | None = None,
                   straddling_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """float32 pixel values (N, num_frames, 3, size, size) and int64 labels (index into ACTIONS) of the
    windows of one stream of `frames` frames, a window starting every `every` stream frames, each
    labelled by `window_label` (with `onset_frames`). `straddling_only`: only the windows that see a
    change (`straddles`)."""
    from runtime.world import ACTIONS

    names = ACTIONS if actions is None else actions
    windows = stream_clips(seed, num_frames, clip_fps, preprocessor(size, full_frame), frames, every, height, width,
                           straddling_only)
    segments = Segments(windows.stream.timeline)
    labels = np.array([names.index(segments.label(f, onset_frames)) for f in windows.frames], np.int64)
    return windows.values, labels


@dataclass(frozen=True)
class StreamClips:
    values: np.ndarray  # (N, num_frames, ...) what `preprocess` made of each window's frames
    frames: np.ndarray  # (N, num_frames) int: the stream frame index of each, oldest first
    stream: object  # the runtime.world.SyntheticStream they came from (its timeline, actor_at, motion_at)


def stream_clips(seed: int, num_frames: int, clip_fps: float, preprocess, frames: int = 1000, every: int = 3,
                 height: int = STREAM_SIZE[0], width: int = STREAM_SIZE[1],
                 straddling_only: bool = False) -> StreamClips:
    """The windows of one demo-camera stream as the runtime samples them, each frame through
    `preprocess` (a runtime `Preprocessor`: BGR frame -> array): every `every`-th stream frame starts
    a window of `num_frames` frames taken at `clip_fps`; with `straddling_only`, only the windows
    whose frames see a change of the stream's timeline."""
    from runtime.world import SyntheticStream

    stream = SyntheticStream(seed, height, width, STREAM_FPS, num_frames=frames)
    values = np.stack([preprocess(frame.image) for frame in stream])
    step = max(1, round(STREAM_FPS / clip_fps))  # the runtime takes every step-th frame at this rate
    offsets = step * np.arange(num_frames)
    if frames <= offsets[-1]:
        raise ValueError(f"a stream of {frames} frames holds no window of {num_frames} frames at {clip_fps:g} fps")
    index = np.arange(0, frames - offsets[-1], every)[:, None] + offsets[None, :]
    if straddling_only:  # chosen before the copy: every window of a stream at 192 px is gigabytes
        segments = Segments(stream.timeline)
        index = index[np.array([segments.straddles(row) for row in index], bool)]
    return StreamClips(values[index], index, stream)
