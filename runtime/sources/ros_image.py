"""sensor_msgs/Image and CompressedImage → numpy, validated field by field.

One decoder for every way an image message reaches the runtime: a rosbag replay
(runtime.sources.rosbag) and a live topic (ros_bridge) decode identically, and both get the same
defences (fuzzed by fuzz/fuzz_ros_image.py). A message is duck-typed: rclpy, rospy, rosbags and the
bridge's DDS structs all expose the same field names. Everything a publisher controls is checked
before a byte is interpreted (types, encoding, `step` against width and pixel size, `height * step`
against the data length, `is_bigendian`, size limits, a compressed image's declared size before
OpenCV allocates it), and any failure is an `ImageError` with a short `reason` to count by.

Pixels come out as OpenCV sources give them: rgb8 → BGR, rgba8 → BGRA, bgr8/bgra8/mono8 as they
are, mono16 as uint16 (byte-swapped when is_bigendian), Bayer mosaics demosaiced to BGR; rows are
cut from `step`, so padded rows are handled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.cli.errors import TubeletError
from runtime.common.cv import cv2

# encoding → (dtype, channels, conversion to OpenCV order or None)
ENCODINGS = {
    "bgr8": (np.uint8, 3, None), "8UC3": (np.uint8, 3, None),
    "rgb8": (np.uint8, 3, cv2.COLOR_RGB2BGR),
    "bgra8": (np.uint8, 4, None), "8UC4": (np.uint8, 4, None),
    "rgba8": (np.uint8, 4, cv2.COLOR_RGBA2BGRA),
    "mono8": (np.uint8, 1, None), "8UC1": (np.uint8, 1, None),
    "mono16": (np.uint16, 1, None), "16UC1": (np.uint16, 1, None),
}


# ROS bayer_* names → OpenCV's demosaicing codes, written with the pattern spelled out (RGGB etc.)
# because OpenCV's older two-letter names (BayerBG...) name a different corner of the same mosaic.
BAYER = {
    "bayer_rggb8": cv2.COLOR_BayerRGGB2BGR, "bayer_bggr8": cv2.COLOR_BayerBGGR2BGR,
    "bayer_gbrg8": cv2.COLOR_BayerGBRG2BGR, "bayer_grbg8": cv2.COLOR_BayerGRBG2BGR,
}
SUPPORTED = tuple(sorted(set(ENCODINGS) | set(BAYER)))
BYTE_TYPES = (bytes, bytearray, memoryview)




class ImageError(TubeletError, ValueError):
    """A message cannot become an image; `reason` is a short key for counting (encoding, step, ...)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ImageLimits:
    """What the bridge accepts. Defaults fit 8K cameras; anything larger is a broken or hostile publisher."""

    max_width: int = 8192
    max_height: int = 8192
    max_bytes: int = 8192 * 8192 * 4  # raw image data, 256 MiB
    max_compressed_bytes: int = 64 * 1024 * 1024


def _int_field(msg, name: str) -> int:
    value = getattr(msg, name, None)
    # bool is an int in Python; a publisher sending True as a height is broken, not 1 pixel tall.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ImageError("type", f"field {name} must be an integer, got {type(value).__name__} {value!r:.40}")
    return int(value)


def _data_array(data) -> np.ndarray:
    """The message's uint8[] as a flat uint8 array, without copying when the transport gave bytes."""
    if isinstance(data, BYTE_TYPES):
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageError("type", f"data must be uint8, got a {data.dtype} array")
        return data.reshape(-1)
    if hasattr(data, "typecode"):  # array.array('B') from rclpy
        if data.typecode != "B":
            raise ImageError("type", f"data must be an array of unsigned bytes, got typecode {data.typecode!r}")
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, (list, tuple)):  # slow path: a generic deserializer's list of ints
        try:
            return np.asarray(data, dtype=np.uint8)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ImageError("type", f"data is not a list of bytes: {exc}") from exc
    raise ImageError("type", f"data must be bytes or a uint8 array, got {type(data).__name__}")


def image_to_array(msg, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """sensor_msgs/Image → HxW (mono), HxWx3 (BGR) or HxWx4 (BGRA) array, uint8 or uint16 (mono16)."""
    height, width, step = _int_field(msg, "height"), _int_field(msg, "width"), _int_field(msg, "step")
    encoding = getattr(msg, "encoding", None)
    if not isinstance(encoding, str):
        raise ImageError("type", f"field encoding must be a string, got {type(encoding).__name__}")
    bigendian = _int_field(msg, "is_bigendian")
    if bigendian not in (0, 1):
        raise ImageError("endian", f"is_bigendian must be 0 or 1, got {bigendian}")
    if height <= 0 or width <= 0:
        raise ImageError("empty", f"image size {width}x{height} is empty")
    if width > limits.max_width or height > limits.max_height:
        raise ImageError("limit", f"image size {width}x{height} exceeds the limit "
                                  f"{limits.max_width}x{limits.max_height} (ImageLimits)")
    if encoding in BAYER:
        pixel_bytes = 1
    elif encoding in ENCODINGS:
        dtype, channels, _ = ENCODINGS[encoding]
        pixel_bytes = channels * np.dtype(dtype).itemsize
    else:
        raise ImageError("encoding", f"image encoding {encoding[:40]!r} unsupported; supported: {', '.join(SUPPORTED)}")
    if step < width * pixel_bytes:
        raise ImageError("step", f"step {step} < width {width} x {pixel_bytes} bytes per pixel ({encoding})")
    if height * step > limits.max_bytes:
        raise ImageError("limit", f"image data {height} x {step} bytes exceeds the limit {limits.max_bytes} (ImageLimits)")
    data = _data_array(getattr(msg, "data", None))
    if data.size != height * step:
        raise ImageError("size", f"data holds {data.size} bytes, expected height {height} x step {step} = {height * step}")
    if encoding in BAYER:
        mosaic = data.reshape(height, step)[:, :width]
        return cv2.cvtColor(np.ascontiguousarray(mosaic), BAYER[encoding])
    return _pixels(data, height, width, step, encoding, bigendian)


def _declared_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) a PNG's IHDR or a JPEG's SOF header declares; None for other or unreadable data."""
    head = bytes(data[:24])
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        i = 8  # OpenCV allocates each chunk's declared length: refuse one that runs past the data
        while i + 8 <= data.size and bytes(data[i + 4:i + 8]) != b"IEND":
            length = int.from_bytes(bytes(data[i:i + 4]), "big")
            if length > data.size - i - 12 or not bytes(data[i + 4:i + 8]).isalpha():  # types are 4 ASCII letters
                raise ImageError("decode", f"PNG chunk at byte {i} is malformed (type {bytes(data[i + 4:i + 8])!r}, "
                                             f"{length} bytes declared, {data.size - i - 12} left)")
            i += 12 + length
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= data.size:
        if data[i] != 0xFF:  # libjpeg skips junk up to the next marker, and so does this walk
            i += 1
            continue
        marker = int(data[i + 1])
        if marker in (0xFF, 0x00) or 0xD0 <= marker <= 0xD8 or marker == 0x01:  # fill, stuffing, no length
            i += 1 if marker == 0xFF else 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            return int(data[i + 7]) << 8 | int(data[i + 8]), int(data[i + 5]) << 8 | int(data[i + 6])
        i += 2 + (int(data[i + 2]) << 8 | int(data[i + 3]))
    return None


def compressed_to_array(msg, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg, png) → array as OpenCV decodes it, size-checked."""
    fmt = getattr(msg, "format", "")
    if not isinstance(fmt, str):
        raise ImageError("type", f"field format must be a string, got {type(fmt).__name__}")
    data = _data_array(getattr(msg, "data", None))
    if data.size == 0:
        raise ImageError("empty", "CompressedImage has no data")
    if data.size > limits.max_compressed_bytes:
        raise ImageError("limit", f"CompressedImage of {data.size} bytes exceeds the limit "
                                  f"{limits.max_compressed_bytes} (ImageLimits)")
    size = _declared_size(data)  # before decoding: a 100-byte header can claim gigabytes of pixels
    if size is not None and (size[0] > limits.max_width or size[1] > limits.max_height):
        raise ImageError("limit", f"decoded image {size[0]}x{size[1]} (its header's size) would exceed the limit "
                                  f"{limits.max_width}x{limits.max_height} (ImageLimits)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV refuses some headers by raising (a declared size over CV_IO_MAX_IMAGE_PIXELS)
        raise ImageError("decode", f"cannot decode CompressedImage (format {fmt[:40]!r}, {data.size} bytes): "
                                   f"{str(exc).strip().splitlines()[-1][:200]}") from exc
    if image is None or image.size == 0:
        raise ImageError("decode", f"cannot decode CompressedImage (format {fmt[:40]!r}, {data.size} bytes)")
    if image.shape[1] > limits.max_width or image.shape[0] > limits.max_height:
        raise ImageError("limit", f"decoded image {image.shape[1]}x{image.shape[0]} exceeds the limit "
                                  f"{limits.max_width}x{limits.max_height} (ImageLimits)")
    return image




def _pixels(data: np.ndarray, height: int, width: int, step: int, encoding: str, bigendian: int) -> np.ndarray:
    """The checked data buffer of an Image with a non-Bayer encoding → its array in OpenCV order."""
    dtype, channels, conversion = ENCODINGS[encoding]
    row_bytes = width * channels * np.dtype(dtype).itemsize
    rows = data.reshape(height, step)[:, :row_bytes]  # drop row padding
    wire = np.dtype(dtype).newbyteorder(">" if bigendian else "<")
    pixels = np.ascontiguousarray(rows).view(wire).astype(dtype, copy=False)
    image = pixels.reshape((height, width, channels) if channels > 1 else (height, width))
    return cv2.cvtColor(image, conversion) if conversion is not None else image
