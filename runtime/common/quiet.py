"""Third-party log lines kept out of a command line's output unless the user asks (--verbose).

OpenCV prints WARN lines and FFmpeg its own ("Connection to tcp://... failed: Connection refused")
before the one line our command prints about the same failure. Both read their level from the
environment when cv2 is imported (OPENCV_LOG_LEVEL, OPENCV_FFMPEG_LOGLEVEL); a level the user has
set always wins. Imports nothing heavy: call it before anything imports cv2.
"""

from __future__ import annotations

import os
import sys

FFMPEG_QUIET = "-8"  # AV_LOG_QUIET


def quiet_third_party_logs() -> None:
    """Silence OpenCV's and FFmpeg's own logging (a setting in the environment stays as it is)."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and os.environ["OPENCV_LOG_LEVEL"] == "OFF":  # imported already: its level is set
        try:
            cv2.setLogLevel(0)
        except (AttributeError, Exception):  # noqa: BLE001 - an old or stub cv2: keep its logs
            pass
