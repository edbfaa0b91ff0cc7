"""Open-vocabulary actions on the robot: a zero-shot classifier and CLIP mean-pool's frame cache.

`ZeroShotClassifier` is a `Backend`: `infer({input: clips})` returns logits over the current
prompt set (labels = prompts), so it plugs in where a classifier backend goes. Prompts can be
swapped while a stream runs: the new set is encoded first (a bad prompt raises and leaves the old
set in place), then swapped in one step under a lock, so every call sees one whole prompt set.
A recognizer does not score over "the current set", though: its labels are fixed when it is built,
so it runs on `pinned()`, the classifier over the one set those labels name. Windows still in
flight on the old recognizer after a swap are scored over its own prompts, never the new
embeddings under the old labels.

`FrameCachedEncoder` is the streaming path for models whose video embedding is a mean over
per-frame embeddings (CLIP mean-pool): each preprocessed frame is encoded once as it arrives and
kept in a ring, so a window costs one frame's encode plus a mean, and equals recomputing the clip.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from runtime.backends.base import Backend, TensorMeta
from runtime.cli.errors import OptionValueError
from runtime.postprocess import softmax
from runtime.videotext.model import VideoFeatures, VideoTextError, VideoTextModel, l2_normalize
from runtime.videotext.tokenizer import check_prompts


# eq=False: a set is one encoding (its version), so sets compare by identity; the generated __eq__
# would compare the embeddings arrays, and raise
@dataclass(frozen=True, eq=False)
class PromptSet:
    prompts: tuple[str, ...]
    embeddings: np.ndarray  # (K, D) as the text graph gives them
    version: int


class ZeroShotClassifier(Backend):
    """Clips → logits (logit_scale × cosine) over the current prompts."""

    name = "zeroshot"

    def __init__(self, model: VideoTextModel, prompts: Sequence[str] | None = None):
        self.model = model
        m = model.artifact.manifest
        video = model.video.inputs[0]
        self.inputs = [TensorMeta(video.name, video.shape, video.dtype)]
        self.outputs = [TensorMeta("logits", (None, None), np.dtype(np.float32))]
        self._lock = threading.Lock()
        self._versions = 0  # the last version handed out: every encoded set gets its own
        if prompts is None:
            if not m.labels:
                raise VideoTextError(f"{model.artifact.folder} ships no label prompts; pass prompts")
            self._set = PromptSet(tuple(m.labels), model.label_embeddings(), 0)
        else:
            self._set = PromptSet(tuple(check_prompts(prompts)), model.encode_text(prompts), 0)

    @property
    def labels(self) -> list[str]:
        return list(self._set.prompts)

    @property
    def prompt_set(self) -> PromptSet:
        return self._set

    def encode_prompts(self, prompts: Sequence[str]) -> PromptSet:
        """A new prompt set, checked and encoded, not yet in use (`adopt` swaps it in)."""
        prompts = check_prompts(prompts)
        embeddings = self.model.encode_text(prompts)  # outside the lock: inference keeps running meanwhile
        with self._lock:
            self._versions += 1
            return PromptSet(tuple(prompts), embeddings, self._versions)

    def adopt(self, prompt_set: PromptSet) -> PromptSet:
        """Make `prompt_set` (from `encode_prompts`) the current one, in one step."""
        with self._lock:
            self._set = prompt_set
            return prompt_set

    def set_prompts(self, prompts: Sequence[str]) -> PromptSet:
        """Encode a new prompt set, then swap it in; on any error the current set stays."""
        return self.adopt(self.encode_prompts(prompts))

    def pinned(self, prompt_set: PromptSet | None = None) -> "PinnedPrompts":
        """This classifier over one prompt set (default: the current one), whatever is swapped in later."""
        return PinnedPrompts(self, prompt_set or self._set)

    def _infer(self, feeds):
        clips = feeds[self.inputs[0].name]
        return {"logits": self.logits(self.model.encode_video(clips))[0]}

    @property
    def frame_encoder(self):
        """The per-frame graph when the video embedding is a mean over frames (the recognizer's frame
        cache, runtime/framecache.py, then encodes each frame once), else None."""
        return self.model.frame_encoder

    @property
    def frame_graph_name(self) -> str | None:
        return self.model.config.frame_graph

    def logits_from_embeddings(self, embeds: np.ndarray) -> np.ndarray:
        """(B, K) logits for (B, D) video embeddings (means of frame embeddings), over the current prompts."""
        return self.logits(VideoFeatures(np.asarray(embeds, dtype=np.float32)))[0]

    def logits(self, video: VideoFeatures, prompt_set: PromptSet | None = None) -> tuple[np.ndarray, PromptSet]:
        """(B, K) logits for video features, and the prompt set they are over."""
        current = prompt_set or self._set  # one read: a concurrent swap cannot mix two sets
        return self.model.logit_scale * self.model.similarity(video, current.embeddings), current

    def classify(self, clips: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
        """Top-k (prompt, probability) per clip."""
        logits, current = self.logits(self.model.encode_video(clips))
        out = []
        for row in logits:
            probs = softmax(row)
            order = np.argsort(-probs)[:k]
            out.append([(current.prompts[i], float(probs[i])) for i in order])
        return out

    def close(self) -> None:
        pass  # the model belongs to the caller


class PinnedPrompts(Backend):
    """A `ZeroShotClassifier` held to one prompt set: what a recognizer, whose labels are that set's
    prompts, runs on. It shares the classifier's graphs; closing it closes nothing."""

    name = "zeroshot"

    def __init__(self, classifier: ZeroShotClassifier, prompt_set: PromptSet):
        self.classifier, self.prompt_set = classifier, prompt_set
        self.inputs, self.outputs = classifier.inputs, classifier.outputs

    @property
    def labels(self) -> list[str]:
        return list(self.prompt_set.prompts)

    def pinned(self, prompt_set: PromptSet | None = None) -> "PinnedPrompts":
        # by identity: a PromptSet holds an array, which == cannot compare to one truth value
        same = prompt_set is None or prompt_set is self.prompt_set
        return self if same else PinnedPrompts(self.classifier, prompt_set)

    def _infer(self, feeds):
        clips = feeds[self.inputs[0].name]
        video = self.classifier.model.encode_video(clips)
        return {"logits": self.classifier.logits(video, self.prompt_set)[0]}

    @property
    def frame_encoder(self):
        return self.classifier.frame_encoder

    @property
    def frame_graph_name(self) -> str | None:
        return self.classifier.frame_graph_name

    def logits_from_embeddings(self, embeds: np.ndarray) -> np.ndarray:
        video = VideoFeatures(np.asarray(embeds, dtype=np.float32))
        return self.classifier.logits(video, self.prompt_set)[0]


class FrameCachedEncoder:
    """Preprocessed frames in, window embeddings out, one frame encode per frame.

    push(frame) takes one (C, H, W) float32 frame as the Preprocessor makes it and returns the
    window's (D,) video embedding (the mean of the last `frames` per-frame embeddings, exactly
    what the video graph computes) when a window is due, else None.
    """

    def __init__(self, model: VideoTextModel, frames: int | None = None, window_stride: int = 1):
        if model.frame_encoder is None:
            raise VideoTextError(f"{model.artifact.manifest.family} has no per-frame encoder (frame graph); the frame "
                                 "cache needs a model whose video embedding is a mean over frames (clip-meanpool)")
        if window_stride < 1:
            raise OptionValueError(f"window_stride must be >= 1, got {window_stride}")
        spec = model.artifact.manifest.input
        self.model, self.frames, self.window_stride = model, int(frames or spec.frames), window_stride
        self._graph = model.frame_encoder
        self._ring: np.ndarray | None = None
        self._count = 0

    def push(self, frame: np.ndarray) -> np.ndarray | None:
        embed = self.encode_frames(np.asarray(frame, dtype=np.float32)[None])[0]
        if self._ring is None:
            self._ring = np.zeros((self.frames, embed.shape[0]), dtype=np.float32)
        self._ring[self._count % self.frames] = embed
        self._count += 1
        if self._count < self.frames or (self._count - self.frames) % self.window_stride:
            return None
        return self.window()

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        return self._graph.infer({self._graph.inputs[0].name: frames})[self._graph.outputs[0].name]

    def window(self) -> np.ndarray:
        """The current window's embedding; oldest-first order as the clip buffer keeps it."""
        if self._count < self.frames:
            raise VideoTextError(f"only {self._count} of {self.frames} frames buffered")
        order = (np.arange(self.frames) + self._count) % self.frames
        return self._ring[order].mean(axis=0)

    def features(self) -> VideoFeatures:
        return VideoFeatures(self.window()[None])

    def reset(self) -> None:
        self._count = 0


@dataclass
class ZeroShotResult:
    window: int
    first_index: int
    newest_index: int
    newest_timestamp: float
    top_k: list  # [(prompt, probability), ...] best first
    prompt_version: int


def zero_shot_frames(classifier: ZeroShotClassifier, frames: Iterable, k: int = 3, window_stride: int | None = None,
                     use_cache: bool = True) -> Iterator[ZeroShotResult]:
    """Frames (runtime.sources Frame) → one result per due window, over the prompts current at that window.

    Models with a per-frame graph (CLIP mean-pool) go through the frame cache: one frame encode per
    sampled frame. Others buffer preprocessed frames into clips and encode each clip whole.
    """
    from runtime.clips import ClipBuffer
    from runtime.preprocess import Preprocessor

    model = classifier.model
    m = model.artifact.manifest
    stride = window_stride or m.sampling.window_stride
    pre = Preprocessor(m.preprocessing)
    buffer = ClipBuffer(m.input.frames, stride, m.input.layout, m.sampling.frame_stride, m.sampling.target_fps)
    cache = FrameCachedEncoder(model, window_stride=stride) if use_cache and model.frame_encoder is not None else None
    for frame in frames:
        if not buffer.sampler.accept(frame.timestamp):
            continue
        pixels = pre(frame.image)
        # The buffer keeps window bookkeeping (indices, stamps) for both paths; the cache its embeddings.
        clip = buffer.add(pixels, frame.timestamp, frame.index)
        embedding = cache.push(pixels) if cache is not None else None
        if clip is None:
            continue
        video = VideoFeatures(embedding[None]) if cache is not None else model.encode_video(clip.array[None])
        logits, used = classifier.logits(video)
        probs = softmax(logits[0])
        order = np.argsort(-probs)[:k]
        yield ZeroShotResult(clip.window_index, clip.first_index, clip.newest_index, clip.newest_timestamp,
                             [(used.prompts[i], float(probs[i])) for i in order], used.version)


__all__ = ["FrameCachedEncoder", "PinnedPrompts", "PromptSet", "ZeroShotClassifier", "ZeroShotResult", "l2_normalize", "zero_shot_frames"]
