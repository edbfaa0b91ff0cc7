"""Start, kill and freeze a loopback RTSP camera process (see rtsp_server.py), like MjpegCamera.

    camera = RtspCamera().start()     # rtsp://127.0.0.1:<free port>/cam
    camera.stop(); camera.start()     # unplug (process killed), replug on the same port
    camera.pause(); camera.resume()   # SIGSTOP / SIGCONT: connection open, nothing flows
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).with_name("rtsp_server.py")


def rtsp_server_available() -> str | None:
    """None when the RTSP server can run here, else why not."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} is missing"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, timeout=30)
    if probe.returncode:
        return ("GStreamer's RTSP server bindings are not installed (apt-get install gstreamer1.0-rtsp "
                "gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-good)")
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspCamera:
    def __init__(self, port: int | None = None):
        self.port = port or _free_port()
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> "RtspCamera":
        deadline = time.monotonic() + 10.0
        while True:  # the port may sit in TIME_WAIT for a moment after a kill
            self._process = subprocess.Popen([SYSTEM_PYTHON, str(SERVER), str(self.port)], stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, text=True)
            if self._process.stdout.readline().strip() == "ready":
                return self
            self._process.wait()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the RTSP server could not listen on port {self.port}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def pause(self) -> None:
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._process.send_signal(signal.SIGCONT)

    def __enter__(self):
        return self.start() if self._process is None else self

    def __exit__(self, *exc):
        if self._process is not None:
            self.resume()
        self.stop()
