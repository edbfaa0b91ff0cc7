"""Clips of the synthetic world, turned into pixel values exactly as the robot's runtime would.

The bundled model ships a `VideoMAEImageProcessor` config; export reads it into the artifact's
manifest and the runtime preprocesses every camera frame with `runtime.preprocess.Preprocessor`.
Training calls that same Preprocessor on the same settings: BGR -> RGB (the world renders in
OpenCV order), resize the shortest edge to `size` (OpenCV, area filter when shrinking), center crop
`size` x `size` (or, with `full_frame`, the whole frame resized to `size` x `size`), rescale by
1/255, normalize with ImageNet mean/std. A square clip comes out the same either way. ImageNet statistics are also
what `VideoMAEForPreTraining` assumes when it un-normalizes frames to build its targets.
"""

from __future__ import annotations

import functools
from typing import Iterator

import numpy as np
import torch

from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

IMAGE_MEAN = tuple(float(v) for v in IMAGENET_DEFAULT_MEAN)
IMAGE_STD = tuple(float(v) for v in IMAGENET_DEFAULT_STD)


def make_processor(size: int, full_frame: bool = False):
    """The image processor saved beside the model: the one source of truth for preprocessing."""
    from transformers import VideoMAEImageProcessor

    resize = {"height": size, "width": size} if full_frame else {"shortest_edge": size}
    return VideoMAEImageProcessor(
        do_resize=True, size=resize, do_center_crop=not full_frame,
        crop_size={"height": size, "width": size}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=list(IMAGE_MEAN), image_std=list(IMAGE_STD))


def runtime_preprocessing(size: int, full_frame: bool = False):
    """The `runtime.artifact.Preprocessing` export writes for `make_processor(size, full_frame)`'s config,
    read by export's own reader, so training's pixels cannot drift from the robot's."""
    from export.models.videomae import preprocessing_from_processor_config

    return preprocessing_from_processor_config(make_processor(size, full_frame).to_dict(), size, size)


@functools.lru_cache(maxsize=8)
def preprocessor(size: int, full_frame: bool = False):
    """The runtime's own frame preprocessor, as the robot runs it for a model of input `size`."""
    from runtime.preprocess import Preprocessor

    return Preprocessor(runtime_preprocessing(size, full_frame))


def pixel_values(clips_bgr: np.ndarray, size: int, full_frame: bool = False,
                 out: np.ndarray | None = None) -> torch.Tensor:
    """uint8 (N, T, H, W, 3) BGR clips -> float32 (N, T, 3, size, size), the model's input; written
    into `out` where given (a slice of a larger array, so a caller joining parts needs no second copy)."""
    if clips_bgr.dtype != np.uint8 or clips_bgr.ndim != 5 or clips_bgr.shape[-1] != 3:
        raise ValueError(f"expected uint8 (N, T, H, W, 3) BGR clips, got {clips_bgr.dtype} "
                         f"{clips_bgr.shape}")
    pre = preprocessor(size, full_frame)
    shape = (*clips_bgr.shape[:2], 3, size, size)
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {shape}, got {out.dtype} {out.shape}")
    for n, clip in enumerate(clips_bgr):
        for t, frame in enumerate(clip):
            out[n, t] = pre(frame)
    return torch.from_numpy(out)


def world_clips(n_per_class: int, num_frames: int, size: int, seed: int,
                actions: tuple[str, ...] | None = None, fps: float = 15.0,
                clean_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 BGR clips and int64 labels (index into ACTIONS) from the synthetic world.

    `clean_fraction` of the clips are rendered on a flat background with no noise, shake or
    distractors: a curriculum. A ViT trained from scratch on the full world sits at chance for
    thousands of steps (the actor is a few patches among textured ones); on clean clips it finds
    the motion cues within a few hundred, and keeps them as the clutter is brought in.
    """
    from runtime.world import ACTIONS, make_clips, render_clip

    if clean_fraction <= 0:
        return make_clips(n_per_class, num_frames=num_frames, height=size, width=size, seed=seed,
                          fps=fps, actions=actions)
    names = list(ACTIONS if actions is None else actions)
    labels = np.array([ACTIONS.index(name) for name in names] * n_per_class, np.int64)
    pick = np.random.default_rng([seed, 7]).random(len(labels)) < clean_fraction
    clips = np.stack([render_clip(ACTIONS[label], num_frames, size, size, seed=seed * 100_000 + i, fps=fps,
                                  clean=bool(clean)) for i, (label, clean) in enumerate(zip(labels, pick))])
    return clips, labels


def scaled_clips(n_per_class: int, num_frames: int, size: int, seed: int, fps: float,
                 height: int = 240, width: int = 320, full_frame: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """float32 pixel values and int64 labels of clips rendered at a camera's size (4:3 by default, so
    the actor is often partly outside the model's central crop, or squeezed with `full_frame`), each with the actor resized by a
    log-uniform draw from ACTOR_SCALES: every action at every scale the demo stream reaches (approach
    and recession span the scales by themselves, so they keep scale 1)."""
    from runtime.world import ACTIONS, ACTOR_SCALES, render_clip

    labels = np.array(list(range(len(ACTIONS))) * n_per_class, np.int64)
    rng = np.random.default_rng([seed, 11])
    scales = np.exp(rng.uniform(np.log(ACTOR_SCALES[0]), np.log(ACTOR_SCALES[1]), len(labels)))
    out = np.empty((len(labels), num_frames, 3, size, size), np.float32)
    pre = preprocessor(size, full_frame)
    for i, (label, scale) in enumerate(zip(labels, scales)):
        action = ACTIONS[label]
        scale = 1.0 if action in ("approaching", "receding") else float(scale)
        clip = render_clip(action, num_frames, height, width, seed=seed * 100_000 + i, fps=fps, actor_scale=scale)
        out[i] = np.stack([pre(frame) for frame in clip])
    return out, labels


def with_reversed(clips: np.ndarray, labels: np.ndarray, twin_of: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each clip followed by itself played backwards, labelled as its time-reversed twin.

    In this world a twin is exactly its action's poses in reverse, so the reversed clip is a true
    example of the twin. A clip and its reversal differ only in temporal order: seeing both in
    one batch leaves order as the only cue that lowers the loss for the pair, which is what tells
    "rotating clockwise" from "anticlockwise" (without it, the model learned "rotating" and then
    guessed the direction).
    """
    out = np.empty((2 * len(clips), *clips.shape[1:]), clips.dtype)
    out[0::2], out[1::2] = clips, clips[:, ::-1]
    twins = np.array([twin_of[int(label)] for label in labels], np.int64)
    return out, np.stack([labels, twins], axis=1).reshape(-1)


def batches(clips: np.ndarray, labels: np.ndarray, batch_size: int, size: int,
            generator: torch.Generator | None = None, shuffle: bool = True, group: int = 1,
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (pixel_values, labels) batches; uint8 BGR clips stay uint8 until their batch is due, float32
    (N, T, 3, size, size) arrays are taken as pixel values already made.

    group=2 shuffles consecutive pairs as units (see `with_reversed`), so a pair shares a batch.
    """
    if shuffle and group > 1:
        units = torch.randperm(len(clips) // group, generator=generator).numpy()
        order = (units[:, None] * group + np.arange(group)).reshape(-1)
        # items past the last whole group (a part of the epoch that is not pairs) still train
        order = np.concatenate([order, np.arange(len(order), len(clips))])
    else:
        order = (torch.randperm(len(clips), generator=generator).numpy() if shuffle
                 else np.arange(len(clips)))
    for start in range(0, len(order), batch_size):
        index = np.sort(order[start:start + batch_size])
        values = (torch.from_numpy(clips[index]) if clips.dtype == np.float32 else pixel_values(clips[index], size))
        yield values, torch.from_numpy(labels[index]).long()
