"""sensor_msgs/Image and CompressedImage → numpy for the bridge, and header stamps.

The decoding itself lives in the runtime (runtime.sources.ros_image), so a bag replay and a live
topic decode identically and share its checks; this module re-exports it for the bridge's
transports and adds what only a live topic needs: the header's stamp and frame id.
"""

from __future__ import annotations

import numpy as np

from runtime.sources.ros_image import (BAYER, ENCODINGS, SUPPORTED, ImageError, ImageLimits, compressed_to_array,
                                       image_to_array)

__all__ = ["BAYER", "ENCODINGS", "SUPPORTED", "ImageError", "ImageLimits", "compressed_to_array", "header_of",
           "image_to_array"]


def header_of(msg) -> tuple[int, int, str]:
    """(sec, nanosec, frame_id) of a message's header; ROS 1's secs/nsecs read the same way."""
    header = getattr(msg, "header", None)
    stamp = getattr(header, "stamp", None)
    sec = getattr(stamp, "sec", getattr(stamp, "secs", 0))
    nanosec = getattr(stamp, "nanosec", getattr(stamp, "nsecs", 0))
    frame_id = getattr(header, "frame_id", "")
    if isinstance(sec, bool) or not isinstance(sec, (int, np.integer)) or \
            isinstance(nanosec, bool) or not isinstance(nanosec, (int, np.integer)):
        raise ImageError("stamp", f"header stamp must be integers, got {sec!r:.30}, {nanosec!r:.30}")
    if not 0 <= int(nanosec) < 1_000_000_000:
        raise ImageError("stamp", f"header stamp nanosec {nanosec} outside [0, 1e9)")
    if not isinstance(frame_id, str):
        raise ImageError("type", f"header frame_id must be a string, got {type(frame_id).__name__}")
    return int(sec), int(nanosec), frame_id
