"""One camera frame → one model-ready frame, done once per frame when it arrives.

Mirrors the Hugging Face VideoMAE image processor (resize the shortest edge, center crop, rescale,
normalize, channels first) with OpenCV, so the robot needs neither PIL nor torch. The manifest
carries every constant; nobody retypes mean/std.
"""

from __future__ import annotations

import numpy as np

from runtime.common.cv import cv2

from runtime.artifact import Preprocessing
from runtime.cli.errors import TubeletError

# PIL's bilinear filter antialiases when shrinking; OpenCV's INTER_LINEAR does not, INTER_AREA is
# the closest match when shrinking (see tests/runtime/test_preprocess.py for the measured gap).
_SHRINK = {"bilinear": cv2.INTER_AREA, "bicubic": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}
_GROW = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}


class FrameError(TubeletError, ValueError):
    """A frame cannot be preprocessed (empty, wrong dtype, wrong channel count)."""


def resized_size(height: int, width: int, spec: Preprocessing) -> tuple[int, int]:
    """(height, width) after the resize step, computed exactly as transformers does."""
    if spec.resize_shortest_edge is None:
        return int(spec.resize_height or height), int(spec.resize_width or width)
    size = int(spec.resize_shortest_edge)
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    return (new_long, size) if width <= height else (size, new_long)


class Preprocessor:
    """Callable: uint8 BGR (or gray/BGRA) HxW[xC] frame → float32 (C, crop_h, crop_w)."""

    def __init__(self, spec: Preprocessing):
        self.spec = spec
        mean = np.asarray(spec.mean, dtype=np.float32)
        std = np.asarray(spec.std, dtype=np.float32)
        # (x * rescale - mean) / std folded into one multiply-add per pixel.
        self._scale = (spec.rescale / std).reshape(-1, 1, 1)
        self._shift = (-mean / std).reshape(-1, 1, 1)
        self._to_rgb = spec.color == "RGB"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = self._as_bgr(image)
        height, width = image.shape[:2]
        new_h, new_w = resized_size(height, width, self.spec)
        if (new_h, new_w) != (height, width):
            image = self._resize(image, new_h, new_w)
        image = _center_crop(image, self.spec.crop_height, self.spec.crop_width)
        if self._to_rgb:
            image = image[:, :, ::-1]
        chw = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
        chw *= self._scale
        chw += self._shift
        return chw

    def _resize(self, image: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
        height, width = image.shape[:2]
        shrinking = new_h * new_w < height * width
        flag = (_SHRINK if shrinking else _GROW).get(self.spec.interpolation, cv2.INTER_LINEAR)
        factor = min(height / new_h, width / new_w)
        if flag == cv2.INTER_AREA and factor >= 2.0:
            # A 2x-or-more shrink (a VGA camera into a 224 model, or whole into 128x128) takes OpenCV's
            # slow fractional INTER_AREA path (1-1.5 ms). Halving with the exact 2x2 box while the shrink
            # is still 2x or more, then one last step (bilinear under 1.5x, area above, where bilinear
            # would alias) is several times faster and at least as close to PIL's antialiased bilinear
            # (tests/runtime/test_preprocess.py).
            while factor >= 2.0:
                height, width = height // 2, width // 2
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                factor = min(height / new_h, width / new_w)
            flag = cv2.INTER_LINEAR if factor < 1.5 else cv2.INTER_AREA
        return cv2.resize(image, (new_w, new_h), interpolation=flag)

    @staticmethod
    def _as_bgr(image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.size == 0:
            raise FrameError("empty frame")
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)  # 16-bit cameras: keep the high byte
        elif image.dtype != np.uint8:
            raise FrameError(f"frame dtype {image.dtype} unsupported; expected uint8 (or uint16) camera images: scale "
                             "float or depth frames to uint8 first")
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
            return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
        if image.ndim == 3 and image.shape[2] == 4:
            return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        if image.ndim == 3 and image.shape[2] == 3:
            return image
        raise FrameError(f"frame shape {image.shape} unsupported; expected HxW, HxWx1, HxWx3 or HxWx4")


def _center_crop(image: np.ndarray, crop_h: int, crop_w: int) -> np.ndarray:
    height, width = image.shape[:2]
    if crop_h > height or crop_w > width:
        # Same as the HF processor: pad with zeros to the crop size, centered.
        top = max(crop_h - height, 0) // 2
        left = max(crop_w - width, 0) // 2
        image = cv2.copyMakeBorder(image, top, max(crop_h - height, 0) - top, left,
                                   max(crop_w - width, 0) - left, cv2.BORDER_CONSTANT, value=0)
        height, width = image.shape[:2]
    top = int((height - crop_h) / 2.0)
    left = int((width - crop_w) / 2.0)
    return image[top:top + crop_h, left:left + crop_w]
