"""Fuzz target: the ROS image decoder (runtime.sources.ros_image: image_to_array + compressed_to_array),
which rosbag replay and the ROS bridge both use.

The input bytes build one message: a sensor_msgs/Image (an encoding from the supported list or a
garbage string, height/width/step from small to huge and negative, is_bigendian 0/1/other, a data
buffer of any length and transport type) or a sensor_msgs/CompressedImage (a small PNG/JPEG with
bytes overwritten, truncated, or its header's size patched; or raw bytes). The only promised
outcomes are an ImageError or, for an Image, a uint8/uint16 array of exactly height x width
(x channels) holding the message's pixels; for a CompressedImage a uint8/uint16 HxW or HxWxC array
within the limits. Anything else is a crash. Coverage-guided with atheris:

    python fuzz/fuzz_ros_image.py -max_total_time=30
    python fuzz/fuzz_ros_image.py --random 20000          # seeded mutation fallback, no atheris needed

The bytes are read by the small provider below, not atheris's, so a saved input means the same
message with or without atheris. Crashes found are kept in fuzz/regressions/ros_image/ and replayed
by tests/reliability.
"""

from __future__ import annotations

import array
import os
import struct
import sys
import tempfile
import zlib
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # corrupt images are the point; keep the log short

import numpy as np  # noqa: E402

MAX_DATA = 1 << 20  # data buffers the harness builds stay small; larger claims must fail the size check

EDGE_INTS = [0, 1, 2, 3, -1, -2, 7, 8191, 8192, 8193, 16384, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1,
             2 ** 32, 2 ** 63 - 1, 2 ** 63, 2 ** 64, -2 ** 31, -2 ** 63, 10 ** 30]
GARBAGE_ENCODINGS = ["", "BGR8", "Mono8", "bgr8 ", " mono8", "mono8\x00", "rgb16", "bgr16", "rgba16", "16UC3",
                     "8UC2", "32FC1", "64FC1", "16SC1", "yuv422", "uyvy", "bayer_rggb16", "bayer_", "jpeg",
                     "mono", "8UC", "\u00e9ncoding", "x" * 300]
ODD_FIELDS = [None, True, False, 1.0, float("nan"), "8", b"8", [8], np.int64(4), np.uint8(2), np.int8(-1),
              np.float32(3.0), 2 ** 70]


class Provider:
    """FuzzedDataProvider-like reader of the input bytes; runs out into zeros."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def int_bytes(self, n: int, signed: bool = False) -> int:
        raw = bytes(self.byte() for _ in range(n))
        return int.from_bytes(raw, "little", signed=signed)

    def pick(self, values):
        return values[self.byte() % len(values)]

    def chance(self, in_256: int) -> bool:
        return self.byte() < in_256

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


def _dimension(p: Provider):
    kind = p.byte() % 16
    if kind < 11:
        return 1 + p.byte() % 24  # the usual case: small, valid
    if kind < 14:
        return p.pick(EDGE_INTS)
    if kind == 14:
        return p.int_bytes(4, signed=True)
    return p.pick(ODD_FIELDS)


def _pixel_bytes(encoding) -> int:
    from runtime.sources.ros_image import BAYER, ENCODINGS

    if isinstance(encoding, str) and encoding in ENCODINGS:
        dtype, channels, _ = ENCODINGS[encoding]
        return channels * np.dtype(dtype).itemsize
    if isinstance(encoding, str) and encoding in BAYER:
        return 1
    return 1 + encoding_hash(encoding) % 4


def encoding_hash(encoding) -> int:
    return sum(str(encoding).encode("utf-8", "surrogatepass"))


def _data(p: Provider, length: int):
    fill = p.rest() or b"\x00"
    raw = (fill * (length // len(fill) + 1))[:length]
    kind = raw[0] % 16 if raw else 0
    if kind < 6:
        return raw
    if kind == 6:
        return bytearray(raw)
    if kind == 7:
        return memoryview(raw)
    if kind == 8:
        return np.frombuffer(raw, np.uint8)
    if kind == 9:
        return np.frombuffer(raw, np.uint8).reshape(-1, 1) if raw else np.zeros((0, 1), np.uint8)
    if kind == 10:
        return array.array("B", raw)
    if kind == 11:
        return list(raw)
    if kind == 12:  # wrong element types: must be refused, not reinterpreted
        return [v * 3 - 200 for v in raw]
    if kind == 13:
        return np.frombuffer(raw[: len(raw) // 2 * 2], np.uint16)
    if kind == 14:
        return array.array("H", raw[: len(raw) // 2 * 2])
    return p.pick([None, raw.decode("latin-1"), 5, [b"\x00"], ("a",), np.zeros(length, np.float32)])


def image_message(p: Provider) -> SimpleNamespace:
    from runtime.sources.ros_image import SUPPORTED

    kind = p.byte() % 16
    if kind < 11:
        encoding = p.pick(SUPPORTED)
    elif kind < 14:
        encoding = p.pick(GARBAGE_ENCODINGS)
    elif kind == 14:
        encoding = bytes(p.byte() for _ in range(p.byte() % 12)).decode("latin-1")
    else:
        encoding = p.pick([None, b"mono8", 5, ["bgr8"]])
    height, width = _dimension(p), _dimension(p)
    step_kind = p.byte() % 8
    if step_kind < 6 and isinstance(height, int) and isinstance(width, int) and not isinstance(width, bool):
        step = width * _pixel_bytes(encoding) + (p.byte() % 8 if step_kind < 4 else p.byte() % 8 - 4)
    elif step_kind == 6:
        step = p.pick(EDGE_INTS)
    else:
        step = _dimension(p)
    endian_kind = p.byte()
    is_bigendian = endian_kind % 2 if endian_kind < 224 else p.pick([2, -1, 255, 256, True, None, "1", 1.0])
    length_kind = p.byte() % 8
    claimed = height * step if all(isinstance(v, int) for v in (height, step)) else 0
    if length_kind < 6 and 0 <= claimed <= MAX_DATA:
        length = claimed
    elif length_kind == 6 and 0 <= claimed <= MAX_DATA:
        length = max(0, claimed + p.byte() % 9 - 4)
    else:
        length = p.int_bytes(2) % 4096
    return SimpleNamespace(height=height, width=width, encoding=encoding, is_bigendian=is_bigendian, step=step,
                           data=_data(p, length))


_SEED_IMAGES: list[bytes] = []


def seed_images() -> list[bytes]:
    """Small valid compressed images (8/16-bit, 1/3/4 channels) the compressed mutations start from."""
    if not _SEED_IMAGES:
        from runtime.common.cv import cv2

        rng = np.random.default_rng(3)
        for ext, image in [(".png", rng.integers(0, 256, (5, 7), np.uint8)),
                           (".png", rng.integers(0, 256, (4, 3, 3), np.uint8)),
                           (".png", rng.integers(0, 256, (3, 6, 4), np.uint8)),
                           (".png", rng.integers(0, 65536, (6, 2), np.uint16)),
                           (".jpg", rng.integers(0, 256, (8, 8, 3), np.uint8)),
                           (".jpg", rng.integers(0, 256, (9, 5), np.uint8))]:
            ok, buf = cv2.imencode(ext, image)
            assert ok
            _SEED_IMAGES.append(buf.tobytes())
    return _SEED_IMAGES


def compressed_message(p: Provider) -> SimpleNamespace:
    fmt = p.pick(["jpeg", "png", "", "rgb8; jpeg compressed bgr8", "16UC1; png compressed", "tiff", None, 7])
    kind = p.byte() % 8
    if kind == 0:
        data = p.rest()
    else:
        data = bytearray(p.pick(seed_images()))
        if kind in (1, 2) and data[:4] == b"\x89PNG":  # patch IHDR width/height (bytes 16..24)
            data[16:24] = struct.pack(">II", p.pick(EDGE_INTS) % 2 ** 32, p.pick(EDGE_INTS) % 2 ** 32)
            data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # a valid chunk: reach the size checks
        elif kind == 3 and data[:2] == b"\xff\xd8":  # patch the SOF0 frame size
            sof = data.find(b"\xff\xc0")
            if sof > 0:
                data[sof + 5:sof + 9] = struct.pack(">HH", p.int_bytes(2), p.int_bytes(2))
        for _ in range(p.byte() % 6):
            if data:
                data[p.int_bytes(2) % len(data)] = p.byte()
        if p.chance(64):
            data = data[: p.int_bytes(2) % (len(data) + 1)]
        data = bytes(data)
    return SimpleNamespace(format=fmt, data=p.pick([data, data, bytearray(data), np.frombuffer(data, np.uint8)]))


def check_image(msg) -> None:
    from runtime.sources.ros_image import BAYER, ENCODINGS, ImageError, ImageLimits, image_to_array

    try:
        out = image_to_array(msg, ImageLimits())
    except ImageError:
        return  # the promised refusal
    if not isinstance(out, np.ndarray):
        raise AssertionError(f"converter returned {type(out).__name__}, not an array")
    encoding = msg.encoding
    if encoding in BAYER:
        dtype, channels = np.uint8, 3
    else:
        dtype, channels = ENCODINGS[encoding][0], ENCODINGS[encoding][1]
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    if out.shape != shape or out.dtype != dtype:
        raise AssertionError(f"{encoding} {msg.width}x{msg.height} step {msg.step}: got {out.dtype} {out.shape}, "
                             f"expected {np.dtype(dtype)} {shape}")
    if encoding not in BAYER and ENCODINGS[encoding][2] is None:  # no colour conversion: the pixels are the rows
        raw = msg.data
        flat = np.frombuffer(raw, np.uint8) if isinstance(raw, (bytes, bytearray, memoryview, array.array)) \
            else np.asarray(raw, dtype=np.uint8).reshape(-1)
        rows = flat.reshape(msg.height, msg.step)
        wire = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
        expected = np.ascontiguousarray(rows[:, : msg.width * channels * np.dtype(dtype).itemsize]).view(wire)
        if not np.array_equal(out, expected.reshape(shape)):
            raise AssertionError(f"{encoding} {msg.width}x{msg.height}: pixels differ from the message's data")


def check_compressed(msg) -> None:
    from runtime.sources.ros_image import ImageError, ImageLimits, compressed_to_array

    limits = ImageLimits()
    try:
        out = compressed_to_array(msg, limits)
    except ImageError:
        return
    if not isinstance(out, np.ndarray) or out.dtype not in (np.uint8, np.uint16):
        raise AssertionError(f"compressed decode returned {type(out).__name__} {getattr(out, 'dtype', '')}")
    if out.ndim not in (2, 3) or (out.ndim == 3 and out.shape[2] not in (3, 4)) or 0 in out.shape:
        raise AssertionError(f"compressed decode returned shape {out.shape}")
    if out.shape[0] > limits.max_height or out.shape[1] > limits.max_width:
        raise AssertionError(f"compressed decode returned {out.shape}, over the limits")


def check(data: bytes) -> None:
    """One fuzz input → one message → the converter; raises only on a crash."""
    p = Provider(data)
    if p.byte() % 8 == 7:
        check_compressed(compressed_message(p))
    else:
        check_image(image_message(p))


SEEDS = [
    bytes([0, 0, 5, 0, 4, 0, 3, 0, 0, 0]) + bytes(range(64)),  # a small valid image of the first encoding
    bytes([1, 3, 9, 0, 9, 0, 3, 1, 200, 0, 1]) + b"\x01\x02\x03" * 50,
    bytes([2, 12, 12, 0, 12, 1, 7]) + b"\x00\xff" * 40,
    bytes([7, 1, 1, 0, 0]),  # a compressed PNG, untouched
    bytes([15, 0, 4, 5, 0, 0]),  # a compressed JPEG, untouched
    bytes([3, 14, 3, 1, 15, 0, 0]),
]


def seed_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="tubelet-fuzz-ros-image-seeds-"))
    for i, seed in enumerate(SEEDS):
        (folder / f"seed-{i}").write_bytes(seed)
    return folder


def main(argv: list[str]) -> None:
    from fuzz_common import run

    seeds = seed_folder()
    if not (len(argv) > 2 and argv[1] == "--random"):
        argv = [*argv, str(seeds)]  # libFuzzer: the seeds are one more corpus folder (writes go to the first)
    run(argv, check, instrument=["ros_bridge.convert", "runtime.sources.rosbag"], seeds=seeds)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv)
