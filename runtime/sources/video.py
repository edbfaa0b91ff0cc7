"""Video files through OpenCV: every frame, in order (offline: nothing is dropped).

A file can also be played as a camera (`realtime=True`): paced at its own fps through the live
capture thread, with newest-frames semantics, for demos and for testing live pipelines on a laptop.
"""

from __future__ import annotations

import os
import time
from typing import Iterator

import numpy as np

from runtime.common.cv import cv2
from runtime.sources.base import Frame, Source, SourceError
from runtime.sources.timestamps import frame_period, presentation_times, reported_seconds

__all__ = ["SourceError", "VideoFileSource", "read_video_file", "open_video"]


def _open_capture(path: str):
    if not os.path.exists(path):
        raise SourceError(f"video file {path} does not exist")
    if os.path.isdir(path):
        raise SourceError(f"{path} is a folder, not a video file")
    if not os.path.isfile(path):
        raise SourceError(f"{path} is not a regular file (a device, FIFO or socket); give a video file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"video file {path} cannot be read (permission denied)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"OpenCV cannot open {path} as a video (unsupported codec or not a video file)")
    return capture


def _decoded(capture) -> Iterator[tuple[np.ndarray, float | None]]:
    """(image, the time OpenCV reports for it in seconds, or None) for every frame it decodes."""
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            return
        yield image, reported_seconds(capture.get(cv2.CAP_PROP_POS_MSEC), index)
        index += 1


def read_video_file(path: str | os.PathLike, stream_id: str | None = None) -> Iterator[Frame]:
    """Yield every frame of a video file, stamped with increasing presentation times (seconds).

    The times come from the container (reordered when the decoder reports them in decode order),
    or index / fps when it has none: see runtime.sources.timestamps."""
    path = os.fspath(path)
    capture = _open_capture(path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    stream_id = stream_id or os.path.basename(path)
    index = 0
    try:
        for image, timestamp in presentation_times(_decoded(capture), fps):
            yield Frame(image=image, timestamp=timestamp, index=index, stream_id=stream_id)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise SourceError(f"{path} holds no decodable frames")


class VideoFileSource(Source):
    """Offline: every frame of a video file, in order, stamped with the file's clock."""

    live = False

    def __init__(self, path: str | os.PathLike, stream_id: str | None = None):
        path = os.fspath(path)
        _open_capture(path).release()  # fail now, not at the first next()
        super().__init__(path, stream_id if stream_id is not None else path)
        self.path = path

    def __iter__(self) -> Iterator[Frame]:
        frames = read_video_file(self.path, self.stream_id)
        try:
            for frame in frames:
                if self._closed:
                    break
                with self._stats_lock:
                    self._stats.frames += 1
                    self._stats.delivered += 1
                yield frame
        finally:
            frames.close()


class PacedFileReader:
    """Reads a file as a camera would deliver it, at the pace of its presentation times (or of
    `fps` when given), ending with EndOfStream."""

    def __init__(self, path: str, fps: float | None, loop: bool):
        self._path = path
        self._capture = _open_capture(path)
        self._fps = fps
        self._loop = loop
        self._frames = self._timed()
        self._start: float | None = None  # time.monotonic() that the file's first frame maps to

    def _timed(self) -> Iterator[tuple[np.ndarray, float]]:
        native = self._capture.get(cv2.CAP_PROP_FPS) or 0.0
        offset, index = 0.0, 0
        while True:
            played = 0
            for image, timestamp in presentation_times(_decoded(self._capture), native):
                played += 1
                # A given fps replaces the file's own pace; otherwise its times (which may skip
                # stored duplicates) set when each frame is due.
                yield image, (index / self._fps if self._fps else offset + timestamp)
                index += 1
                last = timestamp
            if not (self._loop and played):
                return
            offset += last + (frame_period(native) or 1.0 / 30.0)
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def read(self):
        from runtime.sources.live import EndOfStream

        item = next(self._frames, None)
        if item is None:
            raise EndOfStream(self._path)
        image, due = item
        now = time.monotonic()
        if self._start is None:
            self._start = now - due
        delay = self._start + due - now
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.5:
            self._start = now - due  # far behind (a slow disk): do not burst to catch up
        return image

    def release(self) -> None:
        self._frames.close()
        self._capture.release()


def open_video(path: str, options: dict) -> Source:
    """A file source; `realtime=True` (with optional fps, loop) plays it as a live camera."""
    options = dict(options)
    realtime = bool(options.pop("realtime", False))
    if not realtime:
        unknown = sorted(set(options) - {"stream_id"})
        if unknown:
            raise SourceError(f"unknown option(s) {unknown} for video file {path!r}; accepted: stream_id, "
                              "realtime (then also fps, loop and the live-source options)")
        return VideoFileSource(path, options.get("stream_id"))
    from runtime.sources.live import LiveSource, split_options

    live, own = split_options(path, options, ("fps", "loop"))
    fps, loop = own.get("fps"), bool(own.get("loop", False))
    _open_capture(path).release()
    live.setdefault("stream_id", path)
    return LiveSource(lambda: PacedFileReader(path, fps, loop), path, **live)
