"""Message builders and a recording transport for the ROS bridge tests."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np

from ros_bridge.node import Outputs

BYTES_PER_PIXEL = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "mono16": 2}


def image_msg(array: np.ndarray, encoding: str, sec: int = 1_700_000_000, nanosec: int = 0, frame_id: str = "cam",
              pad: int = 0, bigendian: bool = False, **override):
    """A sensor_msgs/Image-shaped object (same field names as rclpy/rospy/rosbags messages)."""
    height, width = array.shape[:2]
    pixel = array.dtype.newbyteorder(">" if bigendian else "<") if array.dtype.itemsize > 1 else array.dtype
    rows = np.ascontiguousarray(array.astype(pixel)).view(np.uint8).reshape(height, -1)
    if pad:
        rows = np.concatenate([rows, np.full((height, pad), 0xAB, np.uint8)], axis=1)
    fields = dict(header=SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nanosec), frame_id=frame_id),
                  height=height, width=width, encoding=encoding, is_bigendian=int(bigendian), step=rows.shape[1],
                  data=rows.tobytes())
    fields.update(override)
    return SimpleNamespace(**fields)


def color_frame(bgr, size=(48, 64)) -> np.ndarray:
    image = np.empty(size + (3,), np.uint8)
    image[:] = bgr
    return image


class RecordingOutputs(Outputs):
    """Keeps everything the core publishes; `wait(n)` blocks until n classifications arrived."""

    def __init__(self):
        self.classifications, self.events, self.diagnostics_msgs = [], [], []
        self._cond = threading.Condition()

    def classification(self, camera, msg):
        with self._cond:
            self.classifications.append((camera.key, msg))
            self._cond.notify_all()

    def event(self, camera, msg):
        self.events.append((camera.key, msg))

    def diagnostics(self, msg):
        self.diagnostics_msgs.append(msg)

    def wait(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.classifications) >= count, timeout)
