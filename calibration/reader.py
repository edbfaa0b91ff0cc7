"""The one calibration clip reader: clips sampled exactly as the runtime samples them.

Every INT8 path (ONNX Runtime static quantization, the legacy TensorRT calibrator) and the
temperature fit read their clips here. Frames come from the runtime's own sources and go through
the runtime's own `Preprocessor` and `ClipBuffer`, configured from the artifact's manifest, so a
calibration clip is bit-for-bit the clip the robot would feed the model for the same frames.

Data specs (`--calib-data`, `--eval-data`); the world is spelled as everywhere (runtime.sources.synthetic):
  synthetic://?clips[=N]&seed=S&fps=F&size=HxW  the procedural motion world, clips balanced over
                                              its actions (labelled by ground truth); N of them,
                                              or with a bare `clips` as many as asked for
  synthetic://?frames=N&seed=S&fps=F&size=HxW one continuous synthetic scene (900 frames unless
                                              frames=N); a window is labelled when it lies inside
                                              one action segment
  PATH.mp4 (any OpenCV video)                 one video file (unlabelled)
  DIR/ of videos                              every video in it, one stream each (unlabelled)
  DIR/<label>/*.mp4                           folder per class: the folder name is the label
  anything else (image folders, rosbags)      via runtime.sources.open_source, when available
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from calibration.errors import CalibrationDataError
from runtime.artifact import Manifest
from runtime.clips import ClipBuffer
from runtime.preprocess import Preprocessor
from runtime.sources.synthetic import is_world_spec

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
LabelFn = Callable[[int, int], "str | None"]  # (first frame index, newest frame index) -> label


@dataclass
class ClipSample:
    """One clip in the model's layout (no batch axis), with where it came from."""

    array: np.ndarray
    label: str | None
    stream_id: str
    window: int
    first_index: int
    newest_index: int


@dataclass
class _Stream:
    stream_id: str
    frames: Callable[[], Iterable]  # opens the source lazily, so a bad file fails when read
    label_of: LabelFn
    max_windows: int | None = None


class ClipReader:
    """ONNX Runtime's `CalibrationDataReader` shape: `get_next() -> {input: batch} | None`.

    Holds its clips in memory so several passes (calibration, the gate, the sensitivity search,
    the TensorRT calibrator) see the same clips; `rewind()` starts a new pass.
    """

    def __init__(self, samples: list[ClipSample], input_name: str, batch_size: int = 1):
        if batch_size < 1:
            raise CalibrationDataError(f"batch_size must be >= 1, got {batch_size}")
        if not samples:
            raise CalibrationDataError("a calibration reader needs at least one clip, got none")
        self.samples = list(samples)
        self.input_name = input_name
        self.batch_size = batch_size
        self._start, self._end = 0, len(self.samples)
        self._next = 0

    @classmethod
    def from_spec(cls, manifest: Manifest, spec: str, max_clips: int = 64, window_stride: int | None = None,
                  labelled: bool = False, batch_size: int = 1, progress: bool = False) -> "ClipReader":
        samples = sample_clips(manifest, spec, max_clips, window_stride, labelled, progress)
        return cls(samples, manifest.input.name, batch_size)

    def __len__(self) -> int:
        return math.ceil((self._end - self._start) / self.batch_size)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self._end:
            return None
        chunk = self.samples[self._next:min(self._next + self.batch_size, self._end)]
        self._next += len(chunk)
        return {self.input_name: np.stack([s.array for s in chunk])}

    def rewind(self) -> None:
        self._next = self._start

    def set_range(self, start_index: int, end_index: int) -> None:
        """Used by ONNX Runtime's strided min-max calibration (CalibStridedMinMax)."""
        self._start, self._end = max(0, start_index), min(end_index, len(self.samples))
        self._next = self._start

    def batches(self) -> Iterator[np.ndarray]:
        """Every clip once, in batches, independent of the `get_next` position."""
        for start in range(0, len(self.samples), self.batch_size):
            yield np.stack([s.array for s in self.samples[start:start + self.batch_size]])

    @property
    def labels(self) -> list[str | None]:
        return [s.label for s in self.samples]

    def digest(self) -> str:
        """sha256 over every clip's bytes and shape: the identity of this clip set (cache keys)."""
        digest = hashlib.sha256()
        for sample in self.samples:
            digest.update(repr((sample.array.shape, str(sample.array.dtype))).encode())
            digest.update(np.ascontiguousarray(sample.array).tobytes())
        return digest.hexdigest()

    def split(self, holdout: float) -> tuple["ClipReader", "ClipReader"]:
        """(calibration, held-out) readers; whole streams go to one side when there are several.

        Windows of one video overlap, so splitting inside a stream would test on near-copies of
        the calibration clips; splitting by stream keeps the held-out set honest.
        """
        if not 0.0 < holdout < 1.0:
            raise CalibrationDataError(f"holdout fraction must be in (0, 1), got {holdout}")
        if len(self.samples) < 2:
            raise CalibrationDataError(
                f"need at least 2 clips to hold some out for the accuracy gate, got {len(self.samples)}; "
                "give more data or a separate --eval-data")
        streams = list(dict.fromkeys(s.stream_id for s in self.samples))
        if len(streams) >= 2:
            every = max(2, round(1.0 / holdout))
            held = set(streams[every - 1::every]) or {streams[-1]}
            test = [s for s in self.samples if s.stream_id in held]
            calib = [s for s in self.samples if s.stream_id not in held]
        else:
            cut = min(len(self.samples) - 1, max(1, round(len(self.samples) * (1.0 - holdout))))
            calib, test = self.samples[:cut], self.samples[cut:]
        return (ClipReader(calib, self.input_name, self.batch_size),
                ClipReader(test, self.input_name, self.batch_size))


def sample_clips(manifest: Manifest, spec: str, max_clips: int = 64, window_stride: int | None = None,
                 labelled: bool = False, progress: bool = False) -> list[ClipSample]:
    """Up to `max_clips` clips from a data spec, sampled and preprocessed as the runtime does."""
    if max_clips < 1:
        raise CalibrationDataError(f"max_clips must be >= 1, got {max_clips}")
    streams = open_streams(spec, manifest, max_clips)
    samples: list[ClipSample] = []
    unlabelled = 0  # clips that formed but carry no label: not the same failure as a short stream
    bar = _progress(max_clips, f"reading clips from {_short(spec)}", progress)
    try:
        for stream in streams:
            for sample in _stream_clips(manifest, stream, window_stride):
                if labelled and sample.label is None:
                    unlabelled += 1
                    continue
                samples.append(sample)
                bar.update(1)
                if len(samples) >= max_clips:
                    return samples
    finally:
        bar.close()
    if not samples:
        layout = "labelled data needs the synthetic world or a folder-per-class layout DIR/<label>/*.mp4"
        if unlabelled:
            raise CalibrationDataError(f"{spec!r} yielded no labelled clips: {unlabelled} clip(s) formed but none "
                                       f"carries a label; {layout}")
        raise CalibrationDataError(f"{spec!r} yielded no {'labelled clips' if labelled else 'clips'}: every stream is "
                                   f"shorter than one clip ({_clip_span(manifest)})" + (f"; {layout}" if labelled else ""))
    return samples


def _clip_span(manifest: Manifest) -> str:
    """What one clip needs, at the rate the runtime samples (target fps wins over the frame stride)."""
    m = manifest
    if m.sampling.target_fps:
        return (f"{m.input.frames} frames sampled at {m.sampling.target_fps:g} fps, i.e. at least "
                f"{m.input.frames / m.sampling.target_fps:.2f} s of video")
    need = m.input.frames * m.sampling.frame_stride
    return f"{m.input.frames} sampled frames at frame stride {m.sampling.frame_stride}, i.e. >= {need} frames"


def _stream_clips(manifest: Manifest, stream: _Stream, window_stride: int | None) -> Iterator[ClipSample]:
    """The runtime's own path (runtime.classify.classify_frames): Preprocessor → ClipBuffer."""
    from runtime.sources.video import SourceError

    m = manifest
    preprocess = Preprocessor(m.preprocessing)
    buffer = ClipBuffer(m.input.frames, window_stride or m.sampling.window_stride, m.input.layout,
                        m.sampling.frame_stride, m.sampling.target_fps, stream_id=stream.stream_id)
    windows = 0
    try:
        for frame in stream.frames():
            clip = buffer.offer(frame.image, frame.timestamp, frame.index, preprocess)
            if clip is None:
                continue
            yield ClipSample(clip.array, stream.label_of(clip.first_index, clip.newest_index), stream.stream_id,
                             clip.window_index, clip.first_index, clip.newest_index)
            windows += 1
            if stream.max_windows is not None and windows >= stream.max_windows:
                return
    except SourceError as exc:
        raise CalibrationDataError(f"cannot read calibration data {stream.stream_id}: {exc}") from None
    except ValueError as exc:  # FrameError and friends: a frame the preprocessor cannot take
        raise CalibrationDataError(f"bad frame in {stream.stream_id}: {exc}") from None


def open_streams(spec: str, manifest: Manifest, max_clips: int) -> list[_Stream]:
    if not isinstance(spec, str) or not spec.strip():
        raise CalibrationDataError("the calibration data spec is empty; give a video file, a folder, or 'synthetic://?clips'")
    spec = spec.strip()
    if is_world_spec(spec) and not os.path.exists(spec):
        return _synthetic(spec, manifest, max_clips)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return [_video_stream(path, None, None)]
    if path.is_dir():
        streams = _video_folder(path, max_clips)
        if streams:
            return streams
    return _runtime_source(spec, path)


def _video_stream(path: Path, label: str | None, max_windows: int | None) -> _Stream:
    from runtime.sources.video import read_video_file

    return _Stream(str(path), lambda: read_video_file(path), lambda first, newest: label, max_windows)


def _video_folder(folder: Path, max_clips: int) -> list[_Stream]:
    """DIR/*.mp4 (unlabelled) or DIR/<label>/*.mp4 (folder per class); windows spread over files."""
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    labelled = [(c.name, v) for c in classes for v in sorted(c.iterdir())
                if v.is_file() and v.suffix.lower() in VIDEO_SUFFIXES]
    pairs = [(None, v) for v in videos] + labelled
    if not pairs:
        return []
    # Interleave classes so a prefix of the clip budget stays balanced.
    by_label: dict = {}
    for label, video in pairs:
        by_label.setdefault(label, []).append(video)
    order = []
    for rank in range(max(len(v) for v in by_label.values())):
        order += [(label, vids[rank]) for label, vids in by_label.items() if rank < len(vids)]
    per_file = max(1, math.ceil(max_clips / len(order)))
    return [_video_stream(video, label, per_file) for label, video in order]


def _runtime_source(spec: str, path: Path) -> list[_Stream]:
    """Image folders, rosbags and anything else the runtime's sources package can open."""
    import runtime.sources as sources

    open_source = getattr(sources, "open_source", None)
    if open_source is None:
        if not path.exists():
            raise CalibrationDataError(f"calibration data {spec!r} does not exist (give a video file, a folder of "
                                       "videos, DIR/<label>/*.mp4, or 'synthetic://?clips')")
        raise CalibrationDataError(f"calibration data {spec!r} holds no video files, and this runtime has no "
                                   "runtime.sources.open_source for image folders or rosbags")
    try:
        source = open_source(spec)
    except (OSError, ValueError, RuntimeError) as exc:  # SourceError is a RuntimeError
        raise CalibrationDataError(f"cannot open calibration data {spec!r}: {exc}") from None
    if getattr(source, "live", False):
        # A live source drops frames when we fall behind and never ends: not a reproducible set.
        source.close()
        raise CalibrationDataError(f"{spec!r} is a live source; calibration needs recorded data (a video file, "
                                   "image folder, rosbag, or 'synthetic://?clips'): record the camera first")

    def frames():
        try:
            yield from source
        finally:
            source.close()

    return [_Stream(getattr(source, "stream_id", spec), frames, lambda first, newest: None)]


def _synthetic(spec: str, manifest: Manifest, max_clips: int) -> list[_Stream]:
    """The world in the one spelling every tool reads (runtime.sources.synthetic): clips=N for
    labelled clips, else the continuous stream; old calibration spellings name their new one."""
    from runtime.sources.base import SourceError
    from runtime.sources.synthetic import new_spelling, parse_world_spec

    fixed = "synthetic://?clips" if spec.lower() == "synthetic" else new_spelling(spec)
    if fixed is not None:
        # Bare 'synthetic' meant labelled clips here; everywhere else it is the stream, so it is refused
        # rather than read as something else.
        raise CalibrationDataError(f"calibration data {spec!r} is spelled {fixed!r} now (synthetic://?clips: "
                                   "labelled clips, as many as --clips asks; synthetic://?clips=N: N of them; "
                                   "synthetic://?frames=N: the continuous stream); see "
                                   "docs/CALIBRATION.md")
    try:
        world = parse_world_spec(spec)
    except SourceError as exc:
        raise CalibrationDataError(str(exc)) from None
    if world.other:
        raise CalibrationDataError(f"{spec!r}: unknown option(s) {sorted(world.other)}; the world takes clips, "
                                   "seed, fps, size (or width, height), frames, min_action_s, max_action_s")
    if world.realtime:
        raise CalibrationDataError(f"{spec!r} is a live source (realtime=true); calibration needs recorded data: "
                                   "drop realtime, and the world is read offline")
    if world.labelled:
        return _synthetic_clips(manifest, world, max_clips)
    return [_synthetic_stream(manifest, world)]


def _world_frame(manifest: Manifest, world) -> tuple[int, float, int, int]:
    """seed, fps, height, width with calibration's defaults: a seed training never uses, the model's size."""
    seed = 1000 if world.seed is None else world.seed  # training uses small seeds: keep calibration apart
    fps = 15.0 if world.fps is None else world.fps
    height = manifest.input.height if world.height is None else world.height
    width = manifest.input.width if world.width is None else world.width
    return seed, fps, height, width


def _synthetic_clips(manifest: Manifest, world, max_clips: int) -> list[_Stream]:
    from runtime.sources.base import Frame
    from runtime.world import ACTIONS, render_clip

    seed, fps, height, width = _world_frame(manifest, world)
    frames = _frames_for_one_window(manifest, fps)
    labels = [a for a in ACTIONS if a in manifest.labels] or list(ACTIONS)

    def stream(i: int) -> _Stream:
        action = labels[i % len(labels)]
        clip_seed = seed * 100_003 + i

        def frames_of():
            images = render_clip(action, frames, height, width, seed=clip_seed, fps=fps)
            return (Frame(image, k / fps, k, f"synthetic-{i}") for k, image in enumerate(images))

        return _Stream(f"synthetic-{i}", frames_of, lambda first, newest: action, 1)

    return [stream(i) for i in range(max_clips if world.clips is None else world.clips)]


def _synthetic_stream(manifest: Manifest, world) -> _Stream:
    from runtime.world import SyntheticStream

    seed, fps, height, width = _world_frame(manifest, world)
    options = {key: value for key, value in world.stream_options().items() if key in ("min_action_s", "max_action_s")}
    try:
        stream = SyntheticStream(seed=seed, height=height, width=width, fps=fps, stream_id="synthetic-stream",
                                 num_frames=900 if world.frames is None else world.frames, **options)
    except ValueError as exc:
        raise CalibrationDataError(f"synthetic stream: {exc}") from None

    def label_of(first: int, newest: int) -> str | None:  # the stream is its own ground truth
        label = stream.label_at(first)
        return label if stream.label_at(newest) == label else None  # a window across a change is ambiguous

    return _Stream("synthetic-stream", lambda: iter(stream), label_of)


def _frames_for_one_window(manifest: Manifest, fps: float) -> int:
    """Camera frames needed for the first window under the manifest's sampling."""
    s = manifest.sampling
    if s.target_fps:
        return int(math.ceil((manifest.input.frames - 1) * fps / s.target_fps)) + 2
    return (manifest.input.frames - 1) * s.frame_stride + 1


def _short(spec: str) -> str:
    return spec if len(spec) <= 40 else "…" + spec[-39:]


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool):
    import sys

    if not enabled or not sys.stderr.isatty():
        return _NoBar()  # a bar in a log file or pipe is only noise in front of the line that matters
    try:
        from tqdm import tqdm
    except ImportError:  # progress bars are a nicety; never fail calibration for want of one
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="clip", leave=False)
