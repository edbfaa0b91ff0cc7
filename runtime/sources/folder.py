"""A folder of images as a video: sorted by name (naturally: 2 before 10), stamped at a fixed fps.

Images are read unchanged (IMREAD_UNCHANGED): gray, BGRA and 16-bit images pass through as arrays
and the preprocessor converts them, so a folder of depth or IR frames works too.
"""

from __future__ import annotations

import os
import re
from typing import Iterator

from runtime.common.cv import cv2
from runtime.sources.base import Frame, Source, SourceError
from runtime.sources.timestamps import MAX_FPS, MIN_FPS, frame_period

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm")


def natural_key(name: str):
    """'frame2.png' sorts before 'frame10.png' (digit runs compare as numbers)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name)]


def list_images(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        raise SourceError(f"image folder {folder} does not exist or is not a folder")
    names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
    if not names:
        raise SourceError(f"image folder {folder} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return [os.path.join(folder, n) for n in sorted(names, key=natural_key)]


class ImageFolderSource(Source):
    """Offline: every image of a folder, in natural name order; timestamp = index / fps."""

    live = False

    def __init__(self, folder: str | os.PathLike, fps: float = 30.0, stream_id: str | None = None):
        folder = os.fspath(folder)
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or frame_period(fps) is None:
            raise SourceError(f"fps for image folder {folder} must be a number from {MIN_FPS:g} to {MAX_FPS:g}, "
                              f"got {fps!r}")
        super().__init__(folder, stream_id)
        self.fps = float(fps)
        self.paths = list_images(folder)

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            if self._closed:
                return
            image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if image is None or image.size == 0:
                raise SourceError(f"cannot decode image {path} (corrupt or not an image); remove it from {self.name}")
            with self._stats_lock:
                self._stats.frames += 1
                self._stats.delivered += 1
            yield Frame(image, index / self.fps, index, self.stream_id)


def open_folder(folder: str, options: dict) -> ImageFolderSource:
    unknown = sorted(set(options) - {"fps", "stream_id"})
    if unknown:
        raise SourceError(f"unknown option(s) {unknown} for image folder {folder!r}; accepted: fps, stream_id")
    return ImageFolderSource(folder, options.get("fps", 30.0), options.get("stream_id"))
