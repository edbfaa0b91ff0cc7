"""Video-text models at run time: ONNX graphs + tokenizer from the artifact, no torch, no transformers.

`VideoTextModel` opens the graphs a video-text artifact holds (video encoder; text encoder; X-CLIP's
prompt-conditioned head or CLIP mean-pool's per-frame encoder) after checking their hashes, and
offers encode_text / encode_video / similarity. `retrieve` is the clips × texts matrix.
The zero-shot classifier and the frame cache live in runtime/videotext/zeroshot.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from runtime.artifact import Artifact, ArtifactError, load_artifact
from runtime.backends.base import BackendError, check_against_manifest


class VideoTextError(ArtifactError):
    """The artifact is not a usable video-text artifact, or inputs do not fit it."""


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


@dataclass
class VideoFeatures:
    """What the video graph gives per clip: the embedding, plus X-CLIP's visual tokens for its head."""

    embeds: np.ndarray  # (B, D), not necessarily normalised
    tokens: np.ndarray | None = None  # (B, P, D) X-CLIP img_features

    def __len__(self) -> int:
        return len(self.embeds)


class VideoTextModel:
    """The graphs of one video-text artifact. Text graph and tokenizer open on first use."""

    def __init__(self, artifact: Artifact | str, device: str = "cpu", threads: int | None = None):
        self.artifact = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
        m = self.artifact.manifest
        if m.task != "video_text":
            raise VideoTextError(f"{self.artifact.folder} is a {m.task!r} artifact; zero-shot and retrieval need a "
                                 "video_text artifact (export an X-CLIP, CLIP or videotext-motion model)")
        self.config = m.video_text  # typed and checked when the manifest was read
        self.device, self.threads = device, threads
        self.logit_scale = float(self.config.logit_scale)
        self.max_length = self.config.max_length
        self.head = self._text = self._tokenizer = self._frame = None
        self.video = self._open(self.config.video_graph)
        try:
            check_against_manifest(self.video, m, self.config.video_graph, classifier=False)
            self.head = self._open(self.config.head_graph) if self.config.head_graph else None
        except BaseException:
            self.close()
            raise

    def _open(self, name: str):
        from runtime.backends.onnxruntime import OnnxRuntimeBackend

        if name not in self.artifact.manifest.files:
            raise VideoTextError(f"the manifest names graph {name!r} in video_text but not in files")
        if self.device == "tensorrt-engine":  # the graph's own TensorRT engine (tubelet-engine builds one per graph)
            from runtime.backends.tensorrt.runner import TensorRTBackend, engine_for_graph

            return TensorRTBackend(self.artifact, engine_for_graph(self.artifact.manifest, name))
        return OnnxRuntimeBackend(self.artifact.path(name), device=self.device, threads=self.threads)

    # -- text -----------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from runtime.videotext.tokenizer import TextTokenizer

            self._tokenizer = TextTokenizer(self.artifact.path(self.config.tokenizer), self.max_length,
                                            self.config.pad_id)
        return self._tokenizer

    def encode_text(self, prompts: Sequence[str], batch: int = 64) -> np.ndarray:
        """(K, D) text embeddings as the text graph gives them (X-CLIP's are not normalised)."""
        ids, mask = self.tokenizer.encode(prompts)  # checks every prompt before any work
        if self._text is None:
            self._text = self._open(self.config.text_graph)
        out = []
        for start in range(0, len(ids), batch):
            rows = slice(start, start + batch)
            width = int(mask[rows].sum(1).max())  # drop columns that are padding for the whole chunk
            feeds = {"input_ids": ids[rows, :width], "attention_mask": mask[rows, :width]}
            out.append(self._text.infer(feeds)[self._text.outputs[0].name])
        return np.concatenate(out).astype(np.float32)

    def label_embeddings(self) -> np.ndarray:
        """The label prompts' embeddings computed at export (text_embeddings.npy), hash-checked."""
        name = self.config.embeddings
        labels = self.artifact.manifest.labels
        if not name:
            raise VideoTextError(f"{self.artifact.folder} has no label prompt embeddings; re-export with --prompts FILE "
                                 "or give prompts to encode")
        try:
            array = np.load(self.artifact.path(name), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # e.g. a pickled object array: refused, never unpickled
            raise VideoTextError(f"{name} is not a plain .npy array ({exc}); re-export the artifact") from None
        if array.ndim != 2 or array.shape[0] != len(labels) or array.dtype != np.float32:
            raise VideoTextError(f"{name} holds {array.dtype} {array.shape}, expected float32 ({len(labels)}, D)")
        return array

    # -- video ----------------------------------------------------------------------------------
    def encode_video(self, clips: np.ndarray) -> VideoFeatures:
        """Clips (B, ...) in the manifest's layout → features; batches above the profile are split."""
        clips = np.asarray(clips, dtype=np.float32)
        spec = self.artifact.manifest.input
        if clips.ndim == 4:
            clips = clips[None]
        if clips.shape[1:] != spec.shape(1)[1:]:
            raise VideoTextError(f"clips must be (B, {', '.join(map(str, spec.shape(1)[1:]))}) {spec.layout}, "
                                 f"got {clips.shape}")
        limit = self._max_batch()
        parts = [self.video.infer({spec.name: clips[i:i + limit]}) for i in range(0, len(clips), limit)]
        names = [o.name for o in self.video.outputs]
        embeds = np.concatenate([p[names[0]] for p in parts])
        tokens = np.concatenate([p["img_features"] for p in parts]) if "img_features" in names else None
        return VideoFeatures(embeds, tokens)

    def _max_batch(self) -> int:
        profile = self.artifact.manifest.files[self.config.video_graph].batch_profile or (1, 1, 8)
        return profile[2]

    @property
    def frame_encoder(self):
        """The per-frame graph (CLIP mean-pool), or None for models that do not decompose by frame."""
        if self._frame is None and self.config.frame_graph:
            self._frame = self._open(self.config.frame_graph)
        return self._frame

    # -- both -----------------------------------------------------------------------------------
    def similarity(self, video: VideoFeatures, text: np.ndarray) -> np.ndarray:
        """(B, K) cosine similarity; for X-CLIP the head conditions each text on each clip first."""
        text = np.asarray(text, dtype=np.float32)
        if text.ndim != 2 or text.shape[0] == 0:
            raise VideoTextError(f"text embeddings must be (K, D) with K >= 1, got {text.shape}")
        if self.head is None:
            return l2_normalize(video.embeds) @ l2_normalize(text).T
        if video.tokens is None:
            raise VideoTextError("this model's head needs the video graph's img_features; use encode_video")
        return self.head.infer({"video_embeds": video.embeds.astype(np.float32),
                                "img_features": video.tokens.astype(np.float32), "text_embeds": text})["similarity"]

    def close(self) -> None:
        for backend in (self.video, self.head, self._text, self._frame):
            if backend is not None:
                backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class RetrievalResult:
    similarity: np.ndarray  # (clips, texts) cosine
    texts: list[str]

    @property
    def best_text(self) -> np.ndarray:
        """For each clip, the index of its most similar text."""
        return self.similarity.argmax(axis=1)

    @property
    def best_clip(self) -> np.ndarray:
        """For each text, the index of its most similar clip."""
        return self.similarity.argmax(axis=0)


def retrieve(model: VideoTextModel, clips: np.ndarray, texts: Sequence[str]) -> RetrievalResult:
    """Embed clips and texts and compare every pair: the similarity matrix, clips × texts."""
    texts = list(texts)
    try:
        text = model.encode_text(texts)
        video = model.encode_video(clips)
    except BackendError as exc:
        raise VideoTextError(f"retrieval failed: {exc}") from exc
    return RetrievalResult(model.similarity(video, text), texts)
