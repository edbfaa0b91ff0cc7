"""sensor_msgs/Image and CompressedImage → numpy: every encoding, padding, byte order, and every refusal."""

import array

import cv2
import numpy as np
import pytest

from ros_bridge.convert import ImageError, ImageLimits, compressed_to_array, header_of, image_to_array
from tests.fixtures.bridge_helpers import image_msg

RNG = np.random.default_rng(7)
BGR = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_come_out_bgr(pad):
    rgb = BGR[:, :, ::-1]
    assert np.array_equal(image_to_array(image_msg(rgb, "rgb8", pad=pad)), BGR)
    assert np.array_equal(image_to_array(image_msg(BGR, "bgr8", pad=pad)), BGR)
    bgra = np.dstack([BGR, np.full(BGR.shape[:2], 200, np.uint8)])
    rgba = bgra[:, :, [2, 1, 0, 3]]
    assert np.array_equal(image_to_array(image_msg(rgba, "rgba8", pad=pad)), bgra)
    assert np.array_equal(image_to_array(image_msg(bgra, "bgra8", pad=pad)), bgra)
    mono = BGR[:, :, 0]
    assert np.array_equal(image_to_array(image_msg(mono, "mono8", pad=pad)), mono)


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_honours_byte_order_and_padding(bigendian):
    depth = RNG.integers(0, 65536, (4, 6), dtype=np.uint16)
    msg = image_msg(depth, "mono16", bigendian=bigendian, pad=4)
    assert msg.step == 6 * 2 + 4
    out = image_to_array(msg)
    assert out.dtype == np.uint16 and np.array_equal(out, depth)


@pytest.mark.parametrize("encoding,pattern", [("bayer_rggb8", "RGGB"), ("bayer_bggr8", "BGGR"),
                                              ("bayer_gbrg8", "GBRG"), ("bayer_grbg8", "GRBG")])
def test_bayer_mosaics_demosaic_to_the_right_colour(encoding, pattern):
    b, g, r = 30, 120, 220
    value = {"R": r, "G": g, "B": b}
    mosaic = np.empty((8, 8), np.uint8)
    for dy in range(2):
        for dx in range(2):
            mosaic[dy::2, dx::2] = value[pattern[2 * dy + dx]]
    out = image_to_array(image_msg(mosaic, encoding))
    assert out.shape == (8, 8, 3)
    assert np.abs(out[2:6, 2:6].astype(int) - [b, g, r]).max() <= 2  # a flat colour stays that colour


@pytest.mark.parametrize("data", [
    lambda raw: raw, lambda raw: bytearray(raw), lambda raw: memoryview(raw),
    lambda raw: np.frombuffer(raw, np.uint8), lambda raw: array.array("B", raw), lambda raw: list(raw)])
def test_every_transport_data_type_is_accepted(data):
    msg = image_msg(BGR, "bgr8")
    msg.data = data(msg.data)
    assert np.array_equal(image_to_array(msg), BGR)


def _bad(**override):
    msg = image_msg(BGR, "bgr8")
    for name, value in override.items():
        setattr(msg, name, value)
    return msg


@pytest.mark.parametrize("msg,reason", [
    (_bad(encoding="yuv422"), "encoding"), (_bad(encoding=7), "type"), (_bad(step=7 * 3 - 1), "step"),
    (_bad(step=7 * 3 + 1), "size"), (_bad(data=b""), "size"), (_bad(height=0), "empty"), (_bad(width=-3), "empty"),
    (_bad(height=100_000, width=100_000, step=300_000), "limit"), (_bad(height=True), "type"),
    (_bad(height=5.0), "type"), (_bad(is_bigendian=2), "endian"), (_bad(data=None), "type"),
    (_bad(data=np.zeros(105, np.float32)), "type"), (_bad(data=[0, 1, 999]), "type"),
    (_bad(data=array.array("H", [0] * 105)), "type"),
])
def test_bad_images_raise_typed_errors_with_a_reason(msg, reason):
    with pytest.raises(ImageError) as info:
        image_to_array(msg)
    assert info.value.reason == reason


def test_byte_limit_is_checked_before_the_data_is_touched():
    msg = image_msg(np.zeros((64, 64, 3), np.uint8), "bgr8")
    with pytest.raises(ImageError, match="exceeds the limit") as info:
        image_to_array(msg, ImageLimits(max_bytes=64 * 64 * 3 - 1))
    assert info.value.reason == "limit"


def test_compressed_images_decode_and_refuse_garbage():
    ok, jpeg = cv2.imencode(".png", BGR)
    assert ok
    msg = type("M", (), {"format": "png", "data": jpeg.tobytes()})()
    assert np.array_equal(compressed_to_array(msg), BGR)  # png is lossless
    for data, reason in [(b"", "empty"), (b"\xff\xd8 not a jpeg", "decode"), (b"x" * 100, "limit")]:
        bad = type("M", (), {"format": "jpeg", "data": data})()
        with pytest.raises(ImageError) as info:
            compressed_to_array(bad, ImageLimits(max_compressed_bytes=64))
        assert info.value.reason == reason
    big = type("M", (), {"format": "png", "data": jpeg.tobytes()})()
    with pytest.raises(ImageError, match="decoded image 7x5"):
        compressed_to_array(big, ImageLimits(max_width=6))


def test_header_reads_ros2_and_ros1_stamps():
    msg = image_msg(BGR, "bgr8", sec=12, nanosec=34, frame_id="optical")
    assert header_of(msg) == (12, 34, "optical")
    ros1 = type("H", (), {"header": type("S", (), {"stamp": type("T", (), {"secs": 5, "nsecs": 6})(),
                                                   "frame_id": "f"})()})()
    assert header_of(ros1) == (5, 6, "f")
    with pytest.raises(ImageError):
        header_of(image_msg(BGR, "bgr8", nanosec=2_000_000_000))
