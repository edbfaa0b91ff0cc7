"""Video files through OpenCV: every frame, in order (offline: nothing is dropped)."""

from __future__ import annotations

import os
from typing import Iterator

from runtime.cv import cv2
from runtime.sources.base import Frame


class SourceError(RuntimeError):
    """A source cannot be opened or read."""


def read_video_file(path: str | os.PathLike, stream_id: str | None = None) -> Iterator[Frame]:
    """Yield every frame of a video file; timestamps come from the file's own clock (seconds)."""
    if not os.path.isfile(path):
        raise SourceError(f"video file {path} does not exist")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"OpenCV cannot open {path} as a video (unsupported codec or not a video file)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    stream_id = stream_id or os.path.basename(str(path))
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
