"""The bridge's parameters, one table for every front end (ROS 2 parameters, rospy ~params, the CLI).

Names and defaults here are the ones in config/params.yaml. A zero for a sampling parameter means
"the artifact's manifest decides", so nobody retypes what export already recorded.
"""

from __future__ import annotations

from typing import Any

from ros_bridge.convert import ImageLimits
from ros_bridge.node import BridgeSettings, Camera
from runtime.cli.errors import UsageError
from runtime.postprocess import SMOOTHING, PostprocessConfig
from runtime.recognizer import RecognizerConfig

DEFAULTS: dict[str, Any] = {
    "artifact": "",
    "backend": "auto",
    "threads": 0,
    # A Triton Inference Server serving this artifact (tubelet-triton wrote its entry): grpc://HOST:PORT
    # or http://HOST:PORT. Empty: inference runs in this process on `backend`.
    "server": "",
    "server_model": "",  # the served model's name; empty: the artifact folder's name
    "server_timeout": 5.0,  # seconds, every call to the server
    "image_topics": ["/camera/image_raw"],
    "camera_names": [],
    "compressed": False,
    "output_namespace": "/tubelet",
    "diagnostics_topic": "/diagnostics",
    "frame_stride": 0,
    "window_stride": 0,
    "target_fps": 0.0,
    "smoothing": "none",
    "ema_alpha": 0.5,
    "on_threshold": 0.5,
    "off_threshold": 0.4,
    "unknown_below": 0.0,
    "top_k": 5,
    "prompts": [],
    # Labels (or prompts) that raise no events; []: the artifact's (its manifest's background and
    # "no action", each where among the labels).
    "background": [],
    "max_width": 8192,
    "max_height": 8192,
    "max_bytes": 8192 * 8192 * 4,
    "diagnostics_period": 1.0,
}
# Changing these needs a new subscription, backend or output topic: they are read once at start.
STARTUP_ONLY = ("artifact", "backend", "threads", "server", "server_model", "server_timeout", "image_topics", "camera_names", "compressed", "output_namespace",
                "diagnostics_topic", "max_width", "max_height", "max_bytes", "diagnostics_period")


class ParameterError(UsageError, ValueError):
    """A parameter has a wrong type or value."""


def merged(values: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with `values`, type-checked against the defaults."""
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; known: {', '.join(sorted(DEFAULTS))}")
    out = dict(DEFAULTS)
    for name, value in values.items():
        default = DEFAULTS[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, list):
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
            value = list(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ParameterError(f"parameter {name} must be {type(default).__name__}"
                                 f"{' of strings' if isinstance(default, list) else ''}, got {value!r}")
        out[name] = value
    return out


def open_bridge_model(p: dict[str, Any]):
    """The opened model (runtime.model.Model) every front end runs: in process on `backend`, or remote when `server` is set."""
    from runtime.model import open_model

    if p["server_timeout"] <= 0:
        raise ParameterError(f"parameter server_timeout must be > 0 seconds, got {p['server_timeout']}")
    if not p["server"]:
        return open_model(p["artifact"], p["backend"], p["threads"] or None, p["prompts"] or None)
    if p["backend"] not in ("auto", "triton") or p["threads"]:
        raise ParameterError(f"parameter server {p['server']!r} sends inference to a Triton server: leave backend "
                             f"(now {p['backend']!r}) at auto or triton and threads at 0")
    return open_model(p["artifact"], "triton", prompts=p["prompts"] or None, server=p["server"],
                      server_model=p["server_model"] or None, server_timeout=p["server_timeout"])


def recognizer_config(p: dict[str, Any]) -> RecognizerConfig:
    """Sampling and post-processing from the parameters; raises ParameterError on a bad value."""
    for name in ("frame_stride", "window_stride", "top_k"):
        if p[name] < 0 or (name == "top_k" and p[name] == 0):
            raise ParameterError(f"parameter {name} must be {'>= 1' if name == 'top_k' else '>= 0 (0: the manifest)'}, "
                                 f"got {p[name]}")
    if p["target_fps"] < 0:
        raise ParameterError(f"parameter target_fps must be >= 0 (0: the manifest), got {p['target_fps']}")
    if p["smoothing"] not in SMOOTHING:
        raise ParameterError(f"parameter smoothing must be one of {SMOOTHING}, got {p['smoothing']!r}")
    post = PostprocessConfig(top_k=p["top_k"], smoothing=p["smoothing"], ema_alpha=p["ema_alpha"],
                             on_threshold=p["on_threshold"], off_threshold=p["off_threshold"],
                             unknown_below=p["unknown_below"], background=tuple(p["background"]) or None)
    try:
        post.check()
    except ValueError as exc:
        raise ParameterError(str(exc)) from exc
    return RecognizerConfig(mode="live", frame_stride=p["frame_stride"] or None, window_stride=p["window_stride"] or None,
                            target_fps=p["target_fps"] or None, postprocess=post)


def cameras(p: dict[str, Any]) -> list[Camera]:
    topics, names = p["image_topics"], p["camera_names"]
    if not topics:
        raise ParameterError("parameter image_topics is empty; give at least one, e.g. ['/camera/image_raw']")
    if names and len(names) != len(topics):
        raise ParameterError(f"camera_names has {len(names)} names for {len(topics)} image_topics; give one per topic "
                             "or none")
    if not names:
        names = [""] if len(topics) == 1 else [f"cam{i}" for i in range(len(topics))]
    found = [Camera(topic, name, p["compressed"]) for topic, name in zip(topics, names)]
    keys = [c.key for c in found]
    if len(set(keys)) != len(keys):  # refused here, as a parameter, before the node would refuse it
        raise ParameterError(f"camera names must be unique, got {keys}; give each camera a distinct name")
    return found


def bridge_settings(p: dict[str, Any]) -> BridgeSettings:
    limits = ImageLimits(max_width=p["max_width"], max_height=p["max_height"], max_bytes=p["max_bytes"])
    if min(limits.max_width, limits.max_height, limits.max_bytes) < 1:
        raise ParameterError(f"max_width, max_height and max_bytes must be >= 1, got {limits}")
    return BridgeSettings(cameras(p), limits=limits, diagnostics_period_s=p["diagnostics_period"])
