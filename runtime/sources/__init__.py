"""Frame sources. Each yields `Frame`s: image, capture timestamp, index.

    from runtime.sources import open_source

    with open_source("rtsp://192.168.1.20/stream", stall_timeout=1.0) as source:
        for frame in source:          # blocks until the newest frame arrives
            ...
        print(source.stats)           # frames, dropped, stalls, reconnects, gaps

Two kinds of source, told apart by `.live`:
- live (camera index, /dev/videoN, rtsp://, http(s)://, GStreamer, csi://, v4l2://, realtime
  synthetic): a capture thread keeps only the newest frames; a slow consumer loses old frames, and
  each loss is counted in `stats.dropped`. Stalls and disconnects are noticed and repaired
  (reconnect with backoff, forever unless `max_reconnects` is given).
- offline (video files, image folders, rosbags, fast synthetic): every frame is delivered in order,
  nothing is dropped; the timestamps are the recording's own clock.

`open_source(spec)` maps a spec string to a source; see its docstring for the accepted forms.
"""

from __future__ import annotations

import os
import re

from runtime.sources.base import Frame, Gap, GroundTruth, IterableSource, Source, SourceError, SourceStats
from runtime.sources.synthetic import is_world_spec, open_synthetic
from runtime.sources.uri import query

__all__ = ["Frame", "Gap", "GroundTruth", "IterableSource", "Source", "SourceError", "SourceStats", "open_source"]


def open_source(spec: str, **options) -> Source:
    """Open a frame source from a spec string.

    Accepted specs (options in brackets are keyword arguments):
      "0", "1"                       camera index (OpenCV, live)      [width, height, fps]
      "/dev/video0", "v4l2://0"      V4L2 device (live)               [width, height, fps, fourcc]
      "rtsp://host/path"             RTSP stream via FFmpeg (live)    [rtsp_transport="tcp"]
      "http://host/stream.mjpg"      MJPEG/HTTP camera (live)
      "csi://0"                      Jetson CSI camera: nvarguscamerasrc pipeline (live, needs GStreamer)
                                                                      [width, height, fps, flip_method]
      "... ! ... ! appsink"          raw GStreamer pipeline (live, needs OpenCV with GStreamer)
      "clip.mp4", "file://clip.mp4"  video file (offline)             [realtime=True plays it as a camera]
      "frames/"                      folder of images, sorted by name (offline) [fps=30]
      "synthetic", "synthetic://?seed=1&fps=15&size=240x320&frames=900"
                                     the synthetic world's continuous stream, with its ground truth
                                     (source.ground_truth()); live, paced in real time [realtime=False:
                                     as fast as possible, offline]. The one world grammar, shared with
                                     calibration (synthetic://?clips=N: labelled clips): query keys seed,
                                     fps, size=HxW (or width, height), frames, min_action_s,
                                     max_action_s, realtime, clips; see runtime.sources.synthetic
      "rosbag://run.mcap?topic=/camera/image_raw", "run.db3", "run.mcap", "run.bag", a bag folder
                                     sensor_msgs/Image or CompressedImage replay (offline, no ROS needed)
                                                                      [topic, rate=None, stamps="header"]

    Options shared by every source: stream_id (default: the spec). Live sources also take ring (2),
    stall_timeout (1.0 s), max_reconnects (None: forever), open_timeout (5.0 s), read_timeout (2.0 s),
    backoff_initial (0.25 s), backoff_max (5.0 s).
    Query parameters (synthetic://?seed=1, rosbag://run.mcap?topic=/cam) are the same options; keyword
    arguments win over them. Raises SourceError when the spec is not understood, an option is unknown,
    or the source cannot be opened; iterating a live source raises SourceError once it gave up
    (max_reconnects failed attempts in a row).
    """
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise SourceError(f"source spec must be a non-empty string, got {spec!r}; e.g. '0', 'clip.mp4', "
                          "'rtsp://host/stream', 'synthetic'")
    spec = spec.strip()
    lower = spec.lower()
    if is_world_spec(spec):
        return open_synthetic(spec, options)
    if lower.startswith("rosbag://"):
        from runtime.sources.rosbag import open_rosbag

        return open_rosbag(spec[len("rosbag://"):].partition("?")[0], {**query(spec), **options})
    if " ! " in spec:
        from runtime.sources.opencv import open_gstreamer

        return open_gstreamer(spec, spec, options)
    if lower.startswith(("csi://", "v4l2://")):
        return _open_uri_camera(spec, options)
    if lower.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        from runtime.sources.opencv import open_network

        return open_network(spec, options)
    if lower.startswith("file://"):
        return _open_path(spec[len("file://"):], options)
    if spec.isdigit():
        from runtime.sources.opencv import open_device

        return open_device(spec, int(spec), options)
    if spec.startswith("/dev/video"):
        from runtime.sources.opencv import open_device

        return open_device(spec, spec, options)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", spec):
        raise SourceError(f"unknown source scheme in {spec!r}; known: rtsp://, http(s)://, csi://N, v4l2://N, "
                          "file://, rosbag://, synthetic://, a camera index, /dev/videoN, a path, a GStreamer pipeline")
    return _open_path(spec, options)


BAG_SUFFIXES = (".db3", ".mcap", ".bag")


def _open_path(path: str, options: dict) -> Source:
    """A path: rosbag (by suffix, or a folder holding one), image folder, or video file."""
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise SourceError(f"source {path!r} does not exist (no such file or folder) and is not a camera index, "
                          "URL or GStreamer pipeline")
    if path.lower().endswith(BAG_SUFFIXES) or (os.path.isdir(path) and _holds_bag(path)):
        from runtime.sources.rosbag import open_rosbag

        return open_rosbag(path, options)
    if os.path.isdir(path):
        from runtime.sources.folder import open_folder

        return open_folder(path, options)
    from runtime.sources.video import open_video

    return open_video(path, options)


def _holds_bag(folder: str) -> bool:
    names = os.listdir(folder)
    return "metadata.yaml" in names or any(n.lower().endswith((".db3", ".mcap")) for n in names)


def _open_uri_camera(spec: str, options: dict) -> Source:
    scheme, _, rest = spec.partition("://")
    number = rest.partition("?")[0]
    if not number.isdigit():
        raise SourceError(f"{spec!r}: expected {scheme}://N with N a camera number, e.g. {scheme}://0")
    options = {**query(spec), **options}
    if scheme.lower() == "csi":
        from runtime.sources.opencv import open_csi

        return open_csi(spec, int(number), options)
    from runtime.sources.opencv import open_device

    return open_device(spec, f"/dev/video{int(number)}", options)
