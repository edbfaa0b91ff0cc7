"""Clips → backend → results: per-stream clip buffers, batching across streams, latency stamps.

Work is split the simple way: each source's thread (or the caller) preprocesses its frames on
arrival and cuts due windows (`Recognizer.prepare`); one worker thread (`runtime.scheduler`) runs the
backend on the due windows of all streams at once, batched along the dynamic batch axis, then
post-processes and publishes. Live mode is latest-wins: each stream has one slot, and a due window
that finds the slot still occupied (inference busy) replaces the older window, which is counted as
dropped. Offline mode queues every window (bounded; the producer waits) and drops nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from runtime.artifact import Artifact
from runtime.backends import Backend, TransientBackendError
from runtime.cli.errors import TubeletError
from runtime.clips import MAX_TARGET_FPS, Clip, ClipBuffer, FrameSampler
from runtime.framecache import frame_cache_for
from runtime.postprocess import (
    Event,
    NonFiniteScores,
    PostprocessConfig,
    PostProcessor,
    default_background,
)
from runtime.preprocess import FrameError, Preprocessor
from runtime.sources.base import Frame

MODES = ("live", "offline")
DEFAULT_MAX_BATCH = 8
LATENCY_HISTORY = 4096  # per stream; bounded so a long run keeps flat memory
LOG = logging.getLogger("tubelet")


class RecognizerError(TubeletError, RuntimeError):
    """The recognizer was misconfigured or its worker failed."""


@dataclass
class RecognizerConfig:
    """Overrides of the manifest's sampling, the mode, batching and post-processing."""

    mode: str = "live"  # live: latest-wins; offline: every window
    frame_stride: int | None = None  # None: the manifest's
    target_fps: float | None = None
    window_stride: int | None = None
    max_batch: int | None = None  # None: the artifact's batch profile maximum (default 8)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    offline_queue: int = 16  # offline: windows queued per stream before its producer waits
    gap_seconds: float = 1.0  # a longer silence (or a clock going back) restarts the clip
    frame_cache: bool = True  # per-frame models (CLIP mean-pool): encode each frame once (runtime/framecache.py)


@dataclass
class Result:
    """One published window: what was seen, when, and how long it took."""

    stream_id: str
    window: int
    label: str
    score: float
    top_k: list[tuple[str, float]]
    raw_label: str
    active: str | None
    events: list[Event]
    first_index: int
    newest_index: int
    first_timestamp: float  # capture time of the clip's first frame (the source's clock)
    newest_timestamp: float  # ... and of its newest frame
    emitted_at: float  # time.monotonic() when the result was published
    latency_ms: float  # emitted_at − newest frame's capture (or arrival, for offline sources)
    inference_ms: float  # the backend call for the batch this window rode in
    batch: int
    clock: str  # "capture": latency from the capture stamp; "arrival": from when the frame reached us
    arrived_at: float | None = None  # time.monotonic() when the newest frame reached the recognizer
    # Source index of each frame the model saw, oldest first (what scoring against a truth reads).
    frame_indices: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        return {
            "stream_id": self.stream_id, "window": self.window, "label": self.label, "score": round(self.score, 5),
            "top_k": [[label, round(score, 5)] for label, score in self.top_k], "raw_label": self.raw_label,
            "active": self.active,
            "events": [{"kind": e.kind, "label": e.label, "window": e.window, "timestamp": e.timestamp} for e in self.events],
            "first_index": self.first_index, "newest_index": self.newest_index,
            "first_timestamp": self.first_timestamp, "newest_timestamp": self.newest_timestamp,
            "emitted_at": self.emitted_at, "latency_ms": round(self.latency_ms, 3),
            "inference_ms": round(self.inference_ms, 3), "batch": self.batch, "clock": self.clock,
            "arrived_at": self.arrived_at,
        }


@dataclass
class StreamStats:
    frames: int = 0  # frames offered
    bad_frames: int = 0  # frames the preprocessor refused
    windows: int = 0  # windows that fell due
    published: int = 0
    dropped_windows: int = 0  # live: replaced before inference could take them
    nonfinite: int = 0  # windows whose outputs held NaN/Inf: nothing published
    restarts: int = 0  # clip restarted after a gap in the stream
    sampled: int = 0  # frames the sampler took into a clip
    clip_frames: int = 0  # sampled frames a window needs (the model's frame count)
    rejected: dict = field(default_factory=dict)  # why frames were refused → how many (bounded)
    restart_reasons: dict = field(default_factory=dict)  # "gap" / "clock went back" → how many
    failed_windows: int = 0  # the backend call failed transiently (a remote server down): nothing published
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_HISTORY))
    inference_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_HISTORY))


@dataclass
class Pending:
    """A due window waiting for inference."""

    stream: "StreamState"
    clip: Clip
    arrived_at: float  # time.monotonic() when its newest frame reached the recognizer


class StreamState:
    def __init__(self, stream_id: str, buffer: ClipBuffer, post: PostProcessor, live: bool):
        self.stream_id, self.buffer, self.post, self.live = stream_id, buffer, post, live
        self.stats = StreamStats()
        self.last_timestamp: float | None = None
        self.last_period: float = 0.0
        self.lock = threading.Lock()  # post-processing order per stream


class Recognizer:
    """Owns the preprocessor, one clip buffer and post-processor per stream, and the batched call."""

    def __init__(self, artifact: Artifact, backend: Backend, config: RecognizerConfig | None = None):
        self.config = config or RecognizerConfig()
        if self.config.mode not in MODES:
            raise RecognizerError(f"mode {self.config.mode!r} unknown; choose live or offline")
        self.config.postprocess.check()
        m = artifact.manifest
        if callable(getattr(backend, "pinned", None)):
            # A backend whose labels can change (zero-shot prompts): this recognizer's labels are fixed,
            # so it runs on the backend held to the prompts those labels are, whatever is swapped in later.
            backend = backend.pinned()
            if list(backend.labels) != list(m.labels):
                raise RecognizerError(f"the artifact's labels {list(m.labels)} are not the backend's current prompts "
                                      f"{list(backend.labels)}: build the recognizer from the Model whose prompts "
                                      "they are (runtime.model.Model.recognizer)")
        self.artifact, self.backend, self.manifest = artifact, backend, m
        self.preprocess = Preprocessor(m.preprocessing)
        self.frame_stride, self.target_fps, self.window_stride = _sampling(self.config, m)
        # once, here: its checks (e.g. background labels) run now, and every stream gets the same settings
        self.post_config = self._post_config()
        PostProcessor(m.labels, self.post_config)
        self.input_name, self.output_name = m.input.name, m.outputs[0]
        self.max_batch, self.fixed_batch = _batch_limits(artifact, backend, self.config.max_batch)
        self.frame_cache = frame_cache_for(backend, m) if self.config.frame_cache else None
        self.streams: dict[str, StreamState] = {}
        self._lock = threading.Lock()

    def stream(self, stream_id: str, live: bool | None = None) -> StreamState:
        with self._lock:
            state = self.streams.get(stream_id)
            if state is None:
                m = self.manifest
                buffer = ClipBuffer(m.input.frames, self.window_stride, m.input.layout, self.frame_stride,
                                    self.target_fps, stream_id=stream_id)
                post = PostProcessor(m.labels, self.post_config)
                live = self.config.mode == "live" if live is None else live
                state = self.streams[stream_id] = StreamState(stream_id, buffer, post, live)
                state.stats.clip_frames = m.input.frames
            return state

    def _post_config(self) -> PostprocessConfig:
        config = self.config.postprocess
        if config.temperature == 1.0 and self.manifest.temperature != 1.0:
            # The manifest's calibrated temperature applies unless the caller set one.
            config = PostprocessConfig(**{**config.__dict__, "temperature": self.manifest.temperature})
        if config.background is None:
            # ... and so does its background: the labels it declares, and "no action", among the labels.
            background = default_background(self.manifest.labels, self.manifest.background)
            config = PostprocessConfig(**{**config.__dict__, "background": background})
        return config

    @property
    def background(self) -> tuple[str, ...]:
        """The labels this recognizer raises no action events for (what scoring leaves out too)."""
        return tuple(self.post_config.background)

    def prepare(self, frame: Frame, stream_id: str | None = None, live: bool | None = None) -> Pending | None:
        """Preprocess one frame into its stream's clip (sampled frames only); return a due window.

        A frame that cannot be used (wrong dtype or shape, empty, no finite timestamp) is dropped and
        counted by reason; the first one per stream is logged with its reason. The stream goes on."""
        if not isinstance(frame, Frame):
            raise TypeError(f"prepare() takes a runtime.sources.Frame, got {type(frame).__name__}; wrap raw images "
                            "with Frame(image, timestamp, index) or pass them to StreamRunner as a source")
        arrived = time.monotonic()
        state = self.stream(stream_id or frame.stream_id, live)
        stats = state.stats
        stats.frames += 1
        try:
            if not isinstance(frame.timestamp, (int, float)) or not math.isfinite(frame.timestamp):
                raise FrameError(f"timestamp {frame.timestamp!r} is not a finite number of seconds")
            self._check_gap(state, frame.timestamp)
            taken = state.buffer.sampler.accept(frame.timestamp)
            clip = state.buffer.add(self.preprocess(frame.image), frame.timestamp, frame.index) if taken else None
        except FrameError as exc:
            self._reject(state, frame, str(exc))
            return None
        if taken:
            stats.sampled += 1
        if clip is None:
            return None
        stats.windows += 1
        return Pending(state, clip, arrived)

    def _reject(self, state: StreamState, frame: Frame, reason: str) -> None:
        stats = state.stats
        stats.bad_frames += 1
        if stats.bad_frames == 1:
            LOG.warning("stream %s: frame %s refused: %s (further refused frames are counted in the summary)",
                        state.stream_id, frame.index, reason)
        _count(stats.rejected, reason)

    def _check_gap(self, state: StreamState, timestamp: float) -> None:
        last = state.last_timestamp
        state.last_timestamp = timestamp
        if last is None:
            return
        step = timestamp - last
        # A silence much longer than the stream's own frame period (a stall, a reconnect) or a
        # clock that went back must not produce a clip that spans it: start the clip over. The
        # period is learnt from the stream (its first step sets it), so a 0.5 fps source is not
        # one long series of gaps.
        if step < 0:
            reason = "clock went back"
        elif state.last_period == 0:
            state.last_period = step
            return
        elif step > max(self.config.gap_seconds, 8 * state.last_period):
            reason = "gap"
        else:
            state.last_period = 0.9 * state.last_period + 0.1 * step
            return
        state.buffer.reset()
        with state.lock:
            state.post.reset()
        state.stats.restarts += 1
        _count(state.stats.restart_reasons, reason)

    def run(self, pending: list[Pending]) -> list[Result]:
        """Infer due windows (any streams) in batches of at most max_batch; publish the finite ones."""
        results = []
        for start in range(0, len(pending), self.max_batch):
            chunk = pending[start:start + self.max_batch]
            try:
                results.extend(self._run_batch(chunk))
            except TransientBackendError:
                # A remote backend that is down or slow reconnects by itself: these windows are counted
                # as failed, nothing is published for them, and the stream goes on.
                for item in chunk:
                    item.stream.stats.failed_windows += 1
        return results

    def _run_batch(self, batch: list[Pending]) -> list[Result]:
        if self.frame_cache is not None:  # only the windows' new frames are encoded, all streams in one call
            start = time.perf_counter()
            logits = self.frame_cache.logits([(p.stream.stream_id, p.clip) for p in batch])
        else:
            arrays = [p.clip.array for p in batch]
            if self.fixed_batch is not None and len(arrays) < self.fixed_batch:
                # A static-batch model (e.g. an engine built for exactly N): pad with copies, discard their rows.
                arrays += [arrays[-1]] * (self.fixed_batch - len(arrays))
            # A window alone goes as a view of its clip: a stacked copy is a fresh input-sized array
            # every window, which at 8x3x192x192 cost 2.2 ms of the live path (docs/BENCHMARKS.md).
            stacked = arrays[0][None] if len(arrays) == 1 else np.stack(arrays)
            start = time.perf_counter()
            logits = self.backend.infer({self.input_name: stacked})[self.output_name]
        inference_ms = (time.perf_counter() - start) * 1000.0
        results = []
        for row, item in enumerate(batch):
            result = self._publish(item, logits[row], inference_ms, len(batch))
            if result is not None:
                results.append(result)
        return results

    def _publish(self, item: Pending, logits: np.ndarray, inference_ms: float, batch: int) -> Result | None:
        state, clip, stats = item.stream, item.clip, item.stream.stats
        if not np.all(np.isfinite(logits)):
            stats.nonfinite += 1  # nothing published; the smoother never sees it, the next clean clip recovers
            return None
        try:
            with state.lock:
                decision = state.post(logits, clip.window_index, clip.newest_timestamp)
        except NonFiniteScores:
            stats.nonfinite += 1  # finite logits, but no finite scores: never published either
            return None
        emitted = time.monotonic()
        clock, since = "arrival", item.arrived_at
        if state.live and 0 <= emitted - clip.newest_timestamp < 3600:
            clock, since = "capture", clip.newest_timestamp  # live sources stamp frames with time.monotonic()
        latency = (emitted - since) * 1000.0
        stats.published += 1
        stats.latencies_ms.append(latency)
        stats.inference_ms.append(inference_ms)
        return Result(state.stream_id, clip.window_index, decision.label, decision.score, decision.top_k,
                      decision.raw_label, decision.active, decision.events, clip.first_index, clip.newest_index,
                      clip.first_timestamp, clip.newest_timestamp, emitted, latency, inference_ms, batch, clock,
                      item.arrived_at, clip.frame_indices)


def _count(counts: dict, key: str, limit: int = 16) -> None:
    """counts[key] += 1, with at most `limit` distinct keys (the rest as "other"): memory stays flat."""
    if key not in counts and len(counts) >= limit:
        key = "other"
    counts[key] = counts.get(key, 0) + 1


def _sampling(config: RecognizerConfig, m) -> tuple[int, float | None, int]:
    """(frame stride, target fps, window stride): the caller's, else the manifest's, checked here, at
    start-up, rather than in a source's thread at the first frame."""
    if config.frame_stride is not None and config.target_fps is not None:
        raise RecognizerError(f"frame_stride {config.frame_stride} and target_fps {config.target_fps} both given: "
                              "sample by one of them (every n-th frame, or by timestamp)")
    frame_stride = config.frame_stride if config.frame_stride is not None else m.sampling.frame_stride
    target_fps = config.target_fps if config.target_fps is not None else m.sampling.target_fps
    if config.frame_stride is not None:
        target_fps = None  # the caller's stride replaces the manifest's rate, which would otherwise win
    window_stride = config.window_stride if config.window_stride is not None else m.sampling.window_stride
    if config.target_fps is not None and not config.target_fps <= MAX_TARGET_FPS:
        raise RecognizerError(f"target_fps must be at most {MAX_TARGET_FPS:g} (above a camera's rate every frame is "
                              f"taken anyway), got {config.target_fps}")
    try:
        FrameSampler(frame_stride, target_fps)
    except (TypeError, ValueError) as exc:
        raise RecognizerError(f"sampling: {exc}") from None
    if not (isinstance(window_stride, int) and window_stride >= 1):
        raise RecognizerError(f"sampling: window_stride must be an integer >= 1, got {window_stride!r}")
    return frame_stride, target_fps, window_stride


def _batch_limits(artifact: Artifact, backend: Backend, wanted: int | None) -> tuple[int, int | None]:
    """(largest batch to send, fixed batch size or None) from the backend's input and the manifest."""
    axis = backend.inputs[0].shape[0] if backend.inputs and backend.inputs[0].shape else None
    if isinstance(axis, int):
        if axis < 1:
            raise RecognizerError(f"the model's batch axis is fixed at {axis}; it can take no window")
        return axis, (axis if axis > 1 else None)
    profile_max = DEFAULT_MAX_BATCH
    m = artifact.manifest
    for name in (m.file_of_kind("onnx", "fp32"), m.file_of_kind("engine")):
        profile = m.files[name].details.get("batch_profile") if name else None
        if isinstance(profile, (list, tuple)) and len(profile) == 3:
            profile_max = _profile_max(name, profile)
            break
    if wanted is not None:
        if wanted < 1:
            raise RecognizerError(f"max_batch must be >= 1, got {wanted}")
        if wanted > profile_max:
            raise RecognizerError(f"max_batch {wanted} exceeds the artifact's batch profile maximum {profile_max}; "
                                  f"re-export with --batch 1,1,{wanted} or ask for at most {profile_max}")
        return wanted, None
    return profile_max, None


def _profile_max(name: str, profile) -> int:
    """The batch profile's maximum, refused when no batch of one window could ever be sent."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in profile) or not 1 <= profile[2] <= 4096:
        raise RecognizerError(f"{name}: batch_profile {list(profile)} is not [min, opt, max] with 1 <= max <= 4096; "
                              "re-export with --batch 1,1,8")
    return int(profile[2])


def inference_failed(error: BaseException, stage: str = "inference") -> RecognizerError:
    """The error a caller sees for a failed inference worker, naming the stage and the cause."""
    text = str(error)
    cause = f"{type(error).__name__}: {text}" if text else type(error).__name__
    failure = RecognizerError(f"{stage or 'inference'} failed: {cause}")
    failure.__cause__ = error
    return failure
