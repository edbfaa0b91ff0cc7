"""An overlay video: each frame with its stream's latest label, score, latency and fps drawn on it."""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import numpy as np

from runtime.cli.errors import TubeletError
from runtime.common.cv import cv2
from runtime.outputs.base import Sink

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class OverlayError(TubeletError, OSError):
    """The overlay video cannot be written."""


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Gray, BGRA and 16-bit frames as 8-bit BGR, for drawing and writing."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image.copy()


def draw_result(image: np.ndarray, result, fps: float | None = None) -> np.ndarray:
    """A BGR copy of `image` with the result's label, score, latency (and fps) in a banner."""
    out = as_bgr(image)
    height, width = out.shape[:2]
    scale = max(0.35, min(width, height) / 600.0)
    thickness = max(1, int(round(scale * 2)))
    if result is None:
        lines = ["waiting for the first clip"]
    else:
        lines = [f"{result.label} {result.score:.2f}", f"latency {result.latency_ms:.0f} ms"]
    if fps is not None:
        lines[-1] += f"  {fps:.1f} fps"
    line_h = int(22 * scale) + 4
    cv2.rectangle(out, (0, 0), (width, line_h * len(lines) + 6), (0, 0, 0), thickness=-1)
    for row, text in enumerate(lines):
        cv2.putText(out, text, (6, line_h * (row + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return out


class FpsMeter:
    """Frames per second over the last couple of seconds of capture timestamps."""

    def __init__(self, span: float = 2.0):
        self.span = span
        self._stamps: deque = deque()

    def tick(self, timestamp: float) -> float | None:
        self._stamps.append(timestamp)
        while len(self._stamps) > 2 and self._stamps[-1] - self._stamps[0] > self.span:
            self._stamps.popleft()
        elapsed = self._stamps[-1] - self._stamps[0]
        return (len(self._stamps) - 1) / elapsed if elapsed > 0 else None


class OverlayWriter(Sink):
    """Writes one video per stream: `out.mp4` for one stream, `out.<stream>.mp4` for each of several.

    Frames keep the size of the stream's first frame (later frames of another size are resized); the
    file's frame rate is `fps` (default 30).
    """

    def __init__(self, path: str, fps: float | None = None, streams: list[str] | None = None):
        root, ext = os.path.splitext(path)
        if ext.lower() not in _FOURCC:
            raise OverlayError(f"overlay file {path}: extension {ext or '(none)'} unsupported; use one of {sorted(_FOURCC)}")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise OverlayError(f"overlay file {path}: folder {folder} does not exist")
        self.path, self.fps, self._root, self._ext = path, fps, root, ext
        self._many = streams is not None and len(streams) > 1
        self._writers: dict[str, object] = {}
        self._latest: dict[str, object] = {}
        self._meters: dict[str, FpsMeter] = {}
        self.paths: dict[str, str] = {}
        self.frames_written: dict[str, int] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def path_for(self, stream_id: str) -> str:
        if not self._many:
            return self.path
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stream_id)
        return f"{self._root}.{safe}{self._ext}"

    def on_result(self, result) -> None:
        with self._lock:
            self._latest[result.stream_id] = result

    def on_frame(self, stream_id, frame) -> None:
        meter = self._meters.setdefault(stream_id, FpsMeter())
        fps = meter.tick(frame.timestamp if frame.timestamp else time.monotonic())
        with self._lock:
            result = self._latest.get(stream_id)
        image = draw_result(frame.image, result, fps)
        writer = self._writers.get(stream_id)
        if writer is None:
            writer = self._open(stream_id, image)
        size = self._sizes[stream_id]
        if image.shape[1::-1] != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        writer.write(image)
        self.frames_written[stream_id] = self.frames_written.get(stream_id, 0) + 1

    def _open(self, stream_id: str, image: np.ndarray):
        path = self.path_for(stream_id)
        rate = self.fps or 30.0
        size = (image.shape[1], image.shape[0])
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*_FOURCC[self._ext.lower()]), rate, size)
        if not writer.isOpened():
            raise OverlayError(f"OpenCV cannot write {path} (codec {_FOURCC[self._ext.lower()]}); try an .avi path")
        self._writers[stream_id] = writer
        self._sizes[stream_id] = size
        self.paths[stream_id] = path
        return writer

    def close(self) -> None:
        for writer in self._writers.values():
            writer.release()
        self._writers.clear()
