"""A loopback HTTP MJPEG camera for tests: real sockets, real JPEGs, killable and restartable.

    camera = MjpegCamera(fps=20).start()      # http://127.0.0.1:<free port>/stream.mjpg
    ...                                       # camera.url, camera.frames_sent
    camera.stop()                             # connections are cut, the port closes
    camera.start()                            # the same port again: clients must reconnect
    camera.pause(); camera.resume()           # connection stays open, frames stop (a stall)

Every frame is a 64x48 image whose gray level encodes the frame counter (counter % 200 + 30), so a
test can tell frames apart after JPEG compression.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

BOUNDARY = "tubeletframe"


def frame_level(counter: int) -> int:
    """The gray level of frame `counter` (what a reader should see, give or take JPEG noise)."""
    return counter % 200 + 30


def make_frame(counter: int, size=(48, 64)) -> np.ndarray:
    image = np.full(size + (3,), frame_level(counter), np.uint8)
    image[:8, :8] = (0, 0, 255)  # a red corner, so colour order is visible
    return image


class MjpegCamera:
    def __init__(self, fps: float = 20.0, size=(48, 64), port: int = 0, host: str = "127.0.0.1"):
        self.fps = fps
        self.size = size
        self.host = host
        self.port = port
        self.frames_sent = 0
        self.connections = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._paused = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/stream.mjpg"

    def start(self) -> "MjpegCamera":
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                camera._serve(self)

            def log_message(self, *args):  # keep test output clean
                pass

        server = _Server((self.host, self.port), Handler)
        self.port = server.server_address[1]
        self._server = server
        self._running.set()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Kill the camera: stop accepting, cut every open stream, free the port."""
        self._running.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.cut_connections()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        import cv2

        with self._lock:
            self.connections += 1
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        period = 1.0 / self.fps
        next_due = time.monotonic()
        try:
            while self._running.is_set():
                if self._paused.is_set():
                    time.sleep(0.01)
                    next_due = time.monotonic()
                    continue
                with self._lock:
                    counter = self.frames_sent
                    self.frames_sent += 1
                ok, jpeg = cv2.imencode(".jpg", make_frame(counter, self.size), [cv2.IMWRITE_JPEG_QUALITY, 95])
                data = jpeg.tobytes()
                handler.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                                    .encode() + data + b"\r\n")
                handler.wfile.flush()
                next_due += period
                time.sleep(max(0.0, next_due - time.monotonic()))
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client went away, or stop() cut the socket


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # restart on the same port while old sockets sit in TIME_WAIT

    def __init__(self, *args, **kwargs):
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._sockets_lock:
            self._sockets.add(request)
        super().process_request(request, client_address)

    def cut_connections(self) -> None:
        with self._sockets_lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._sockets.clear()
