"""An optional on-screen window (cv2.imshow), opened only when asked for.

HighGUI wants to be driven from one thread, so source threads only hand over their newest
annotated frame and the main loop calls `pump()` to show it and read the keyboard.
"""

from __future__ import annotations

import threading

from runtime.cli.errors import TubeletError
from runtime.common.cv import cv2
from runtime.outputs.base import Sink
from runtime.outputs.overlay import FpsMeter, draw_result


class WindowError(TubeletError, RuntimeError):
    """No window can be opened (a headless OpenCV build, or no display)."""


class WindowSink(Sink):
    def __init__(self, title: str = "tubelet"):
        self.title = title
        self._frames: dict[str, object] = {}
        self._latest: dict[str, object] = {}
        self._meters: dict[str, FpsMeter] = {}
        self._lock = threading.Lock()

    def on_result(self, result) -> None:
        with self._lock:
            self._latest[result.stream_id] = result

    def on_frame(self, stream_id, frame) -> None:
        fps = self._meters.setdefault(stream_id, FpsMeter()).tick(frame.timestamp)
        with self._lock:
            result = self._latest.get(stream_id)
        image = draw_result(frame.image, result, fps)
        with self._lock:
            self._frames[stream_id] = image

    def pump(self) -> bool:
        """Show the newest frames; False when the user pressed q or Esc."""
        with self._lock:
            frames = dict(self._frames)
            self._frames.clear()
        try:
            for stream_id, image in frames.items():
                cv2.imshow(f"{self.title} {stream_id}", image)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            raise WindowError(f"cannot open a window ({exc.msg.strip() if hasattr(exc, 'msg') else exc}); "
                              "this OpenCV has no GUI (opencv-python-headless) or there is no display: drop --show "
                              "and use --overlay out.mp4") from None
        return key not in (ord("q"), 27)

    def close(self) -> None:
        try:
            cv2.destroyAllWindows()
        except cv2.error:
            pass
