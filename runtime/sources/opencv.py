"""Cameras and streams through OpenCV: camera index, /dev/videoN, rtsp://, http(s)://, GStreamer.

Every open sets OpenCV's open and read timeouts (CAP_PROP_OPEN_TIMEOUT_MSEC / _READ_TIMEOUT_MSEC,
honoured by the FFmpeg, GStreamer and some other backends): FFmpeg's own default waits 30 s, and a
dropped RTSP link can hang a read for 90 s (opencv-python issue 788). The capture thread in
`runtime.sources.live` does the rest (newest-frames ring, stall watch, reconnect).

`csi://N` expands to the pipeline Jetson's Argus camera stack needs (see `csi_pipeline`):

    nvarguscamerasrc sensor-id=N ! video/x-raw(memory:NVMM), width=W, height=H, framerate=F/1,
    format=NV12 ! nvvidconv flip-method=M ! video/x-raw, width=W, height=H, format=BGRx !
    videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false

nvvidconv copies the frame out of NVMM (GPU) memory and converts NV12 to BGRx; videoconvert drops
the x (OpenCV wants 3-channel BGR); `appsink drop=true max-buffers=1` keeps only the newest frame so
GStreamer itself never queues stale frames behind our ring.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

import numpy as np

from runtime.common.cv import cv2
from runtime.sources.base import SourceError
from runtime.sources.live import LiveSource, split_options

@lru_cache(maxsize=1)
def has_gstreamer() -> bool:
    """Whether this OpenCV was built with GStreamer (pip wheels are not; JetPack's OpenCV is)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1]
    return False


def require_gstreamer(spec: str) -> None:
    if not has_gstreamer():
        raise SourceError(
            f"{spec!r} needs OpenCV built with GStreamer, and this OpenCV ({cv2.__version__}) has none "
            "(cv2.getBuildInformation() says 'GStreamer: NO'; pip's opencv-python wheels never have it). "
            "On a Jetson use JetPack's system OpenCV (uninstall opencv-python from this environment); "
            "elsewhere build OpenCV with -DWITH_GSTREAMER=ON, or use a /dev/videoN or rtsp:// source instead"
        )


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30, flip_method: int = 0) -> str:
    """The nvarguscamerasrc → appsink pipeline for a Jetson CSI camera (module docstring explains it)."""
    return (f"nvarguscamerasrc sensor-id={int(sensor_id)} ! "
            f"video/x-raw(memory:NVMM), width={int(width)}, height={int(height)}, framerate={int(fps)}/1, "
            f"format=NV12 ! nvvidconv flip-method={int(flip_method)} ! "
            f"video/x-raw, width={int(width)}, height={int(height)}, format=BGRx ! "
            "videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false")


class OpenCVReader:
    """One opened cv2.VideoCapture: read() gives an image or None (the capture thread reconnects)."""

    def __init__(self, capture):
        self._capture = capture

    def read(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        if not ok or image is None or image.size == 0:
            return None
        return image

    def release(self) -> None:
        self._capture.release()


def _timeout_params(open_timeout: float, read_timeout: float) -> list[int]:
    params = []
    for name, seconds in (("CAP_PROP_OPEN_TIMEOUT_MSEC", open_timeout), ("CAP_PROP_READ_TIMEOUT_MSEC", read_timeout)):
        prop = getattr(cv2, name, None)  # OpenCV >= 4.5.2
        if prop is not None and seconds:
            params += [prop, int(seconds * 1000)]
    return params


def make_opener(target, api: int, name: str, open_timeout: float = 5.0, read_timeout: float = 2.0,
                width: int | None = None, height: int | None = None, fps: float | None = None,
                fourcc: str | None = None):
    """A function that opens `target` with `api` and returns an OpenCVReader, or raises SourceError."""
    params = _timeout_params(open_timeout, read_timeout)

    def opener() -> OpenCVReader:
        try:
            capture = cv2.VideoCapture(target, api, params)
        except cv2.error as exc:
            # Some backends reject the timeout properties outright; open without them.
            capture = cv2.VideoCapture(target, api)
            if not capture.isOpened():
                raise SourceError(f"OpenCV cannot open {name}: {exc}") from exc
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"OpenCV cannot open {name} (no such device, unreachable host, or no backend "
                              f"for it; waited at most {open_timeout:g} s)")
        _configure(capture, width, height, fps, fourcc)
        return OpenCVReader(capture)

    return opener


def _configure(capture, width, height, fps, fourcc) -> None:
    """Ask the device for a format; cameras may pick the nearest they support (not an error)."""
    if fourcc:
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*fourcc[:4].ljust(4)))
    if width:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
    if height:
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
    if fps:
        capture.set(cv2.CAP_PROP_FPS, float(fps))
    # V4L2 queues 4 buffers by default: stale frames the ring would then have to skip.
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)


def open_camera(spec: str, target, api: int, options: dict) -> LiveSource:
    """A live OpenCV source; `options` holds live-source keys plus open_timeout/read_timeout/width/...

    Raises SourceError when the first open fails (unless wait_for_first=True) or an option is unknown.
    """
    live, rest = split_options(spec, options, ("open_timeout", "read_timeout", "width", "height", "fps", "fourcc"))
    live.setdefault("stream_id", spec)
    return LiveSource(make_opener(target, api, spec, **rest), spec, **live)


def open_network(spec: str, options: dict) -> LiveSource:
    """rtsp://, rtsps://, http(s):// MJPEG: FFmpeg with timeouts; RTSP over TCP unless told otherwise."""
    options = dict(options)
    transport = options.pop("rtsp_transport", "tcp")
    if spec.startswith(("rtsp://", "rtsps://")) and transport and "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ:
        # UDP RTSP loses packets on busy Wi-Fi and smears frames; TCP is what robots want. The
        # variable is read at each open; a user's own setting always wins.
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"rtsp_transport;{transport}"
    return open_camera(spec, spec, cv2.CAP_FFMPEG, options)


def open_gstreamer(spec: str, pipeline: str, options: dict) -> LiveSource:
    require_gstreamer(spec)
    if "appsink" not in pipeline:
        raise SourceError(f"GStreamer pipeline {pipeline!r} must end in an appsink for OpenCV to read from; "
                          "append ' ! videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1'")
    return open_camera(spec, pipeline, cv2.CAP_GSTREAMER, options)


def open_csi(spec: str, sensor_id: int, options: dict) -> LiveSource:
    options = dict(options)
    shape = {k: options.pop(k) for k in ("width", "height", "fps", "flip_method") if options.get(k) is not None}
    require_gstreamer(spec)
    return open_camera(spec, csi_pipeline(sensor_id, **shape), cv2.CAP_GSTREAMER, options)


def open_device(spec: str, device, options: dict) -> LiveSource:
    """A camera index (int) or a /dev/videoN path: V4L2 on Linux, the platform default elsewhere."""
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") and hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY
    if isinstance(device, str) and not os.path.exists(device):
        raise SourceError(f"camera device {device} does not exist; list cameras with `ls /dev/video*` "
                          "(or `v4l2-ctl --list-devices`)")
    return open_camera(spec, device, api, options)
