"""Video files through OpenCV: every frame, in order (offline: nothing is dropped).

A file can also be played as a camera (`realtime=True`): paced at its own fps through the live
capture thread, with newest-frames semantics, for demos and for testing live pipelines on a laptop.
"""

from __future__ import annotations

import os
import time
from typing import Iterator

from runtime.cv import cv2
from runtime.sources import Source, SourceError
from runtime.sources.base import Frame

__all__ = ["SourceError", "VideoFileSource", "read_video_file", "open_video"]


def _open_capture(path: str):
    if not os.path.isfile(path):
        raise SourceError(f"video file {path} does not exist")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"OpenCV cannot open {path} as a video (unsupported codec or not a video file)")
    return capture


def read_video_file(path: str | os.PathLike, stream_id: str | None = None) -> Iterator[Frame]:
    """Yield every frame of a video file; timestamps come from the file's own clock (seconds)."""
    path = os.fspath(path)
    capture = _open_capture(path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    stream_id = stream_id or os.path.basename(path)
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            # Files may lack timestamps; fall back to index / fps, then to index (1 s ticks).
            msec = capture.get(cv2.CAP_PROP_POS_MSEC)
            timestamp = msec / 1000.0 if msec and msec > 0 else (index / fps if fps > 0 else float(index))
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
    """Reads a file as a camera would deliver it: one frame per 1/fps, ending with EndOfStream."""

    def __init__(self, path: str, fps: float | None, loop: bool):
        self._path = path
        self._capture = _open_capture(path)
        native = self._capture.get(cv2.CAP_PROP_FPS) or 0.0
        self._period = 1.0 / (fps or native or 30.0)
        self._loop = loop
        self._next_due = time.monotonic()

    def read(self):
        from runtime.sources.live import EndOfStream

        ok, image = self._capture.read()
        if not ok and self._loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        if not ok:
            raise EndOfStream(self._path)
        self._next_due += self._period
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next_due = time.monotonic()  # behind (a slow disk): do not burst to catch up
        return image

    def release(self) -> None:
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
