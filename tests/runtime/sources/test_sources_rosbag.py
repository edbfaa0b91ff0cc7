"""Rosbag replay with no ROS: bags written here with `rosbags`, read back pixel-exactly."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="sources need OpenCV (the [opencv] extra)")
pytest.importorskip("rosbags.highlevel", reason="rosbag replay needs the [ros] extra (rosbags)")

from rosbags.rosbag2 import StoragePlugin, Writer  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from runtime.sources import SourceError, open_source  # noqa: E402
from runtime.sources.rosbag import RosbagSource  # noqa: E402

STORE = get_typestore(Stores.ROS2_HUMBLE)
Image = STORE.types["sensor_msgs/msg/Image"]
CompressedImage = STORE.types["sensor_msgs/msg/CompressedImage"]
Header = STORE.types["std_msgs/msg/Header"]
Time = STORE.types["builtin_interfaces/msg/Time"]

RNG = np.random.default_rng(7)
BGR = [RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(3)]  # odd width: padding matters


def header(seconds: float) -> object:
    return Header(stamp=Time(sec=int(seconds), nanosec=int(round((seconds % 1) * 1e9))), frame_id="cam")


def image_msg(array: np.ndarray, encoding: str, seconds: float, pad: int = 0, bigendian: bool = False):
    """An Image with `pad` junk bytes at the end of every row."""
    height, width = array.shape[:2]
    rows = array.reshape(height, -1)
    if array.dtype == np.uint16:
        rows = array.astype(">u2" if bigendian else "<u2").view(np.uint8).reshape(height, -1)
    padded = np.concatenate([rows, np.full((height, pad), 0xAB, np.uint8)], axis=1)
    return Image(header=header(seconds), height=height, width=width, encoding=encoding,
                 is_bigendian=int(bigendian), step=padded.shape[1], data=padded.reshape(-1).copy())


def write_bag(path, topics: dict[str, list[tuple[int, object]]], plugin=StoragePlugin.MCAP):
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for topic, messages in topics.items():
            msgtype = type(messages[0][1]).__msgtype__
            connection = writer.add_connection(topic, msgtype, typestore=STORE)
            for bag_ns, msg in messages:
                writer.write(connection, bag_ns, STORE.serialize_cdr(msg, msgtype))
    return path


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    rgb = [image_msg(np.ascontiguousarray(b[..., ::-1]), "rgb8", 100.0 + i / 10, pad=3) for i, b in enumerate(BGR)]
    bgr = [image_msg(b, "bgr8", 0.0) for b in BGR]  # stamp 0: the bag time stands in
    jpeg = [CompressedImage(header=header(200.0 + i), format="jpeg",
                            data=cv2.imencode(".jpg", np.repeat(np.repeat(b, 8, 0), 8, 1),
                                              [cv2.IMWRITE_JPEG_QUALITY, 98])[1].reshape(-1))
            for i, b in enumerate(BGR)]
    path = tmp_path_factory.mktemp("bags") / "run"
    return write_bag(path, {
        "/camera/image_raw": [(1_000_000_000 * (i + 1), m) for i, m in enumerate(rgb)],
        "/camera/bgr": [(5_000_000_000 + i, m) for i, m in enumerate(bgr)],
        "/camera/image_raw/compressed": [(7_000_000_000 + i, m) for i, m in enumerate(jpeg)],
    })


def test_rgb8_with_row_padding_reads_back_exactly(bag):
    with open_source(f"rosbag://{bag}?topic=/camera/image_raw") as source:
        assert source.live is False and len(source) == 3
        frames = list(source)
    assert all(np.array_equal(f.image, b) for f, b in zip(frames, BGR))
    assert [f.timestamp for f in frames] == pytest.approx([100.0, 100.1, 100.2])  # header stamps
    assert [f.index for f in frames] == [0, 1, 2]
    by_bag_time = list(open_source(f"rosbag://{bag}?topic=/camera/image_raw&stamps=bag"))
    assert [f.timestamp for f in by_bag_time] == pytest.approx([1.0, 2.0, 3.0])


def test_bgr8_uses_bag_time_when_the_stamp_is_zero(bag):
    frames = list(open_source(str(bag), topic="/camera/bgr", stream_id="front"))
    assert all(np.array_equal(f.image, b) for f, b in zip(frames, BGR))
    assert [f.timestamp for f in frames] == pytest.approx([5.0, 5.0 + 1e-9, 5.0 + 2e-9])
    assert {f.stream_id for f in frames} == {"front"}


def test_compressed_jpeg_is_close(bag):
    frames = list(open_source(f"rosbag://{bag}?topic=/camera/image_raw/compressed"))
    assert len(frames) == 3
    for frame, small in zip(frames, BGR):
        big = np.repeat(np.repeat(small, 8, 0), 8, 1)
        jpeg = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 98])[1]
        assert np.array_equal(frame.image, cv2.imdecode(jpeg, cv2.IMREAD_COLOR))  # the bytes, untouched
        assert np.abs(frame.image.astype(int) - big).mean() < 12  # random 8x8 colour blocks: chroma subsampled
    assert [f.timestamp for f in frames] == pytest.approx([200.0, 201.0, 202.0])


def test_mono_and_alpha_encodings_and_db3(tmp_path):
    gray = RNG.integers(0, 256, (4, 7), dtype=np.uint8)
    depth = RNG.integers(0, 65536, (4, 7), dtype=np.uint16)
    rgba = RNG.integers(0, 256, (4, 7, 4), dtype=np.uint8)
    msgs = [image_msg(gray, "mono8", 1.0, pad=1), image_msg(depth, "mono16", 2.0, pad=2),
            image_msg(depth, "mono16", 3.0, pad=2, bigendian=True), image_msg(rgba, "rgba8", 4.0, pad=4),
            image_msg(rgba, "bgra8", 5.0)]
    path = write_bag(tmp_path / "mono", {"/cam": [(i + 1, m) for i, m in enumerate(msgs)]},
                     plugin=StoragePlugin.SQLITE3)
    db3 = next(path.glob("*.db3"))
    frames = list(open_source(str(db3)))  # the .db3 file itself, topic found on its own
    assert np.array_equal(frames[0].image, gray)
    assert frames[1].image.dtype == np.uint16 and np.array_equal(frames[1].image, depth)
    assert np.array_equal(frames[2].image, depth)  # big-endian swapped
    assert np.array_equal(frames[3].image, rgba[..., [2, 1, 0, 3]])  # RGBA → BGRA
    assert np.array_equal(frames[4].image, rgba)


def test_bad_messages_are_skipped_and_counted(tmp_path):
    good = image_msg(BGR[0], "bgr8", 1.0)
    short_step = image_msg(BGR[1], "bgr8", 2.0)
    short_step.step = 5  # < width * 3
    odd = image_msg(BGR[2], "yuv422", 3.0)
    path = write_bag(tmp_path / "bad", {"/cam": [(1, good), (2, short_step), (3, odd)]})
    with RosbagSource(path) as source:
        frames = list(source)
        stats = source.stats
    assert len(frames) == 1 and np.array_equal(frames[0].image, BGR[0])
    assert stats.dropped == 2 and "yuv422" in stats.last_error


def test_topic_errors(bag):
    with pytest.raises(SourceError, match="3 image topics"):
        open_source(str(bag))
    with pytest.raises(SourceError, match="'/nope' is not an Image"):
        open_source(f"rosbag://{bag}?topic=/nope")
    with pytest.raises(SourceError, match="does not exist"):
        open_source("rosbag:///no/such/bag.mcap?topic=/x")


def test_paced_replay_follows_recorded_spacing(tmp_path):
    import time

    msgs = [(i, image_msg(BGR[0], "bgr8", 10.0 + 0.1 * i)) for i in range(4)]
    path = write_bag(tmp_path / "paced", {"/cam": msgs})
    started = time.monotonic()
    frames = list(open_source(str(path), rate=2.0))  # twice recorded speed: 0.3 s of stamps in 0.15 s
    assert len(frames) == 4 and 0.13 < time.monotonic() - started < 1.0


def test_ros1_bag(tmp_path):
    from rosbags.rosbag1 import Writer as Ros1Writer

    store = get_typestore(Stores.ROS1_NOETIC)
    image = store.types["sensor_msgs/msg/Image"]
    msg = image(header=store.types["std_msgs/msg/Header"](seq=0, stamp=store.types["builtin_interfaces/msg/Time"](
        sec=42, nanosec=500_000_000), frame_id="cam"), height=6, width=5, encoding="rgb8", is_bigendian=0, step=16,
        data=np.concatenate([BGR[0][..., ::-1].reshape(6, 15), np.zeros((6, 1), np.uint8)], axis=1).reshape(-1))
    path = tmp_path / "run.bag"
    with Ros1Writer(path) as writer:
        connection = writer.add_connection("/cam", image.__msgtype__, typestore=store)
        writer.write(connection, 1, store.serialize_ros1(msg, image.__msgtype__))
    frames = list(open_source(str(path)))
    assert len(frames) == 1 and np.array_equal(frames[0].image, BGR[0]) and frames[0].timestamp == 42.5


def test_missing_rosbags_names_the_extra(monkeypatch, bag):
    import sys

    from runtime.backends.base import MissingDependencyError

    monkeypatch.setitem(sys.modules, "rosbags.highlevel", None)  # as if the package were not installed
    with pytest.raises(MissingDependencyError, match=r"tubelet\[ros\]"):
        open_source(f"rosbag://{bag}?topic=/camera/bgr")


def _png_claiming(width: int, height: int) -> np.ndarray:
    """A real 8x8 PNG whose IHDR is patched to declare width x height (CRC fixed, so decoders read on)."""
    import zlib

    png = bytearray(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    png[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    png[29:33] = zlib.crc32(bytes(png[12:29])).to_bytes(4, "big")
    return np.frombuffer(bytes(png), np.uint8).copy()


def test_replay_decodes_with_the_bridges_validated_decoder(tmp_path):
    # Bayer (which the replay's old decoder refused), a PNG whose header claims 60000 x 60000 pixels
    # (refused from its header, before OpenCV allocates anything), and an empty CompressedImage.
    from ros_bridge.convert import image_to_array as bridge_decode

    mosaic = RNG.integers(0, 256, (6, 8), dtype=np.uint8)
    bayer = image_msg(mosaic, "bayer_rggb8", 1.0, pad=2)
    huge = CompressedImage(header=header(2.0), format="png", data=_png_claiming(60000, 60000))
    empty = CompressedImage(header=header(3.0), format="jpeg", data=np.zeros(0, np.uint8))
    good = CompressedImage(header=header(4.0), format="png", data=cv2.imencode(".png", BGR[0])[1].reshape(-1))
    path = write_bag(tmp_path / "hostile", {"/cam/bayer": [(1, bayer)],
                                            "/cam/compressed": [(2, huge), (3, empty), (4, good)]})
    (frame,) = list(open_source(f"rosbag://{path}?topic=/cam/bayer"))
    assert frame.image.shape == (6, 8, 3)
    assert np.array_equal(frame.image, cv2.cvtColor(mosaic, cv2.COLOR_BayerRGGB2BGR))
    assert np.array_equal(frame.image, bridge_decode(bayer))  # one decoder: the replay and a live topic agree
    with RosbagSource(path, topic="/cam/compressed") as source:
        frames = list(source)
        stats = source.stats
    assert len(frames) == 1 and np.array_equal(frames[0].image, BGR[0])
    assert stats.dropped == 2 and "has no data (empty)" in stats.last_error


def test_a_header_claiming_gigapixels_is_refused_with_the_limit(tmp_path):
    huge = CompressedImage(header=header(2.0), format="png", data=_png_claiming(60000, 60000))
    ok = CompressedImage(header=header(3.0), format="png", data=cv2.imencode(".png", BGR[1])[1].reshape(-1))
    path = write_bag(tmp_path / "huge", {"/cam": [(2, huge), (3, ok)]})
    with RosbagSource(path) as source:
        frames = list(source)
        stats = source.stats
    assert len(frames) == 1 and stats.dropped == 1
    assert "60000x60000 (its header's size) would exceed the limit 8192x8192" in stats.last_error
