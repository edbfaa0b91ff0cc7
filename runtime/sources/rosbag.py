"""Rosbag replay without ROS: sensor_msgs/Image and CompressedImage from .db3, .mcap or .bag.

Reads ROS 2 bags (sqlite3 .db3 or .mcap, a bag folder or the file itself) and ROS 1 .bag files
with the pure-Python `rosbags` package (`pip install 'tubelet[ros]'`), so a recording made on the
robot replays on a laptop with no ROS installed. Offline: every frame is delivered in bag order.

Each image goes through the runtime's one validated decoder (runtime.sources.ros_image, shared with
the ROS bridge and fuzzed): what OpenCV sources give (rgb8 → BGR, Bayer demosaiced, mono16 as
uint16, padded rows cut), with size limits checked before anything is allocated, a compressed
image's declared size included. A message that fails validation (bad step or size, unknown
encoding, undecodable or oversized JPEG) is skipped
and counted in `stats.dropped`, with the reason in `stats.last_error`: one bad message must not end
a replay. Timestamps are the header stamps (seconds), or the bag's receive time when a stamp is 0.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from runtime.cli.errors import TubeletError
from runtime.sources.base import Frame, Source, SourceError
from runtime.sources.ros_image import ImageError, ImageLimits, compressed_to_array, image_to_array

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")

class MessageError(TubeletError, ValueError):
    """One message cannot be turned into an image (the replay skips it and counts it)."""


def decode_message(msg, msgtype: str, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """An Image or CompressedImage message → array, through the runtime's one validated decoder."""
    convert = compressed_to_array if msgtype.endswith("CompressedImage") else image_to_array
    try:
        return convert(msg, limits)
    except ImageError as exc:
        raise MessageError(f"{exc} ({exc.reason})") from exc


def _stamp(msg, bag_ns: int, use_header: bool = True) -> float:
    stamp = getattr(getattr(msg, "header", None), "stamp", None) if use_header else None
    if stamp is not None:
        seconds = int(stamp.sec) + int(stamp.nanosec) * 1e-9
        if seconds > 0:
            return seconds
    return bag_ns * 1e-9


def _bag_path(path: str) -> Path:
    """A .db3/.mcap file inside a ROS 2 bag folder opens as the folder (older rosbags need that)."""
    bag = Path(path)
    if bag.is_file() and bag.suffix in (".db3", ".mcap") and (bag.parent / "metadata.yaml").exists():
        return bag.parent
    return bag


class RosbagSource(Source):
    """Offline replay of one image topic.

    rate: 1.0 paces frames at their recorded spacing, 2.0 twice as fast, None (default) flat out.
    stamps: "header" (default: the camera driver's stamps, falling back to bag time when 0) or "bag"
    (receive time; for drivers whose header stamps are missing or wrong).
    """

    live = False

    def __init__(self, path: str | os.PathLike, topic: str | None = None, stream_id: str | None = None,
                 rate: float | None = None, stamps: str = "header"):
        from runtime.backends.base import require

        require("rosbags.highlevel", "ros", "rosbag replay")
        path = os.fspath(path)
        if not os.path.exists(path):
            raise SourceError(f"rosbag {path} does not exist")
        if rate is not None and not rate > 0:
            raise SourceError(f"rate must be > 0 (1.0 = recorded speed) or None, got {rate!r}")
        if stamps not in ("header", "bag"):
            raise SourceError(f"stamps must be 'header' or 'bag', got {stamps!r}")
        super().__init__(path, stream_id)
        self.path = path
        self.rate = rate
        self.use_header = stamps == "header"
        self.topic, self.msgtype, self.count = self._probe(topic)

    def _reader(self):
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        # ROS 2 bags without embedded definitions fall back to this store; sensor_msgs is the same in all.
        try:
            return AnyReader([_bag_path(self.path)], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        except Exception as exc:  # rosbags raises its own types for corrupt/unknown files
            raise SourceError(f"cannot read rosbag {self.path}: {exc}") from exc

    def _probe(self, topic: str | None) -> tuple[str, str, int]:
        reader = self._reader()
        try:
            reader.open()
        except Exception as exc:
            raise SourceError(f"cannot open rosbag {self.path}: {exc}") from exc
        try:
            images = {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}
            counts = {c.topic: 0 for c in reader.connections}
            for c in reader.connections:
                counts[c.topic] += c.msgcount
        finally:
            reader.close()
        if topic is None:
            if len(images) != 1:
                raise SourceError(f"rosbag {self.path} has {len(images)} image topics {sorted(images)}; "
                                  "choose one with topic=..., e.g. rosbag://PATH?topic=/camera/image_raw")
            topic = next(iter(images))
        if topic not in images:
            raise SourceError(f"topic {topic!r} is not an Image/CompressedImage topic of {self.path}; "
                              f"image topics there: {sorted(images) or 'none'}")
        return topic, images[topic], counts[topic]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Frame]:
        reader = self._reader()
        reader.open()
        index = 0
        pace = _Pacer(self.rate)
        try:
            connections = [c for c in reader.connections if c.topic == self.topic]
            for connection, bag_ns, raw in reader.messages(connections=connections):
                if self._closed:
                    return
                try:
                    msg = reader.deserialize(raw, connection.msgtype)
                    image = decode_message(msg, self.msgtype)
                except Exception as exc:  # MessageError, or a corrupt CDR payload
                    with self._stats_lock:
                        self._stats.dropped += 1
                        self._stats.last_error = f"{self.topic} message at bag time {bag_ns} ns skipped: {exc}"
                    continue
                timestamp = _stamp(msg, bag_ns, self.use_header)
                pace.wait(timestamp)
                with self._stats_lock:
                    self._stats.frames += 1
                    self._stats.delivered += 1
                yield Frame(image, timestamp, index, self.stream_id)
                index += 1
        finally:
            reader.close()
        if index == 0:
            raise SourceError(f"no decodable image on {self.topic} in {self.path} "
                              f"({self.stats.dropped} skipped; last error: {self.stats.last_error})")


class _Pacer:
    """Sleeps so frames leave at `rate` times their recorded spacing (None: no pacing)."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self._origin: tuple[float, float] | None = None

    def wait(self, stamp: float) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        if self._origin is None:
            self._origin = (stamp, now)
            return
        due = self._origin[1] + (stamp - self._origin[0]) / self.rate
        if due > now:
            time.sleep(due - now)


def open_rosbag(path: str, options: dict) -> RosbagSource:
    accepted = {"topic", "stream_id", "rate", "stamps"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise SourceError(f"unknown option(s) {unknown} for rosbag {path!r}; accepted: {', '.join(sorted(accepted))}")
    if not path:
        raise SourceError("rosbag:// needs a path, e.g. rosbag://run.mcap?topic=/camera/image_raw")
    return RosbagSource(path, options.get("topic"), options.get("stream_id"), options.get("rate"),
                        options.get("stamps", "header"))
