"""python -m ros_bridge: run the bridge on Cyclone DDS (ROS 2 wire, no ROS needed) or rospy (ROS 1).

On a ROS 2 robot with rclpy, launch the node instead: `ros2 launch ros_bridge tubelet.launch.py`
(docs/ROS.md). This command reads the same parameters (config/params.yaml) so one file serves both.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time

from runtime.cli.args import add_backend, add_renamed, add_seconds
from runtime.cli.errors import UsageError
from runtime.cli.main import run_main

EXAMPLES = """examples:
  # ROS 2 robot without rclpy: one camera, results on /tubelet/classification, /tubelet/events, /diagnostics
  python -m ros_bridge --artifact build/videomae-motion --image-topic /camera/image_raw

  # the launch file's parameters, two cameras, on loopback only (tests, a single machine)
  python -m ros_bridge --params ros_bridge/config/params.yaml --image-topic /front/image_raw \\
      --image-topic /rear/image_raw --camera-name front --camera-name rear --loopback

  # ROS 1 (Debian's rospy; ROS_MASTER_URI set), smoothing and a higher onset threshold
  python -m ros_bridge --transport rospy --artifact build/videomae-motion --set smoothing=ema --set on_threshold=0.7
"""


class CliError(UsageError):
    """Bad command-line input: printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ros_bridge", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=("dds", "rospy"), default="dds", help="wire to use (default dds)")
    p.add_argument("--params", help="ROS 2 parameters YAML (as config/params.yaml); flags below override it")
    p.add_argument("--artifact", help="artifact folder written by build_engine.py")
    p.add_argument("--image-topic", action="append", help="camera topic (repeat for several cameras)")
    p.add_argument("--camera-name", action="append", help="output name per camera (repeat, same order)")
    p.add_argument("--compressed", action="store_true", help="topics carry sensor_msgs/CompressedImage")
    p.add_argument("--output-namespace", help="results go to <ns>[/<camera>]/classification and .../events")
    add_backend(p, default=None, help="auto | cpu | cuda | tensorrt | tensorrt-ep (default: --params' backend, else auto)")
    p.add_argument("--server", help="Triton server serving the artifact (grpc://HOST:PORT or http://HOST:PORT; "
                   "see docs/SCALE.md); inference then runs there")
    p.add_argument("--server-model", help="the served model's name (default: the artifact folder's name)")
    p.add_argument("--prompt", action="append", help="zero-shot prompt (video-text artifacts; repeat)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any parameter of config/params.yaml, e.g. --set window_stride=4 (JSON values)")
    p.add_argument("--domain-id", type=int, default=None, help="DDS domain (default: ROS_DOMAIN_ID or 0)")
    p.add_argument("--loopback", action="store_true", help="DDS on 127.0.0.1 only, no multicast")
    add_seconds(p)
    add_renamed(p, "--duration", "--seconds", example="--seconds 60")
    p.add_argument("--log-level", default="INFO")
    return p


def _yaml_params(path: str) -> dict:
    from runtime.backends.base import require

    yaml = require("yaml", None, "reading --params")
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read parameters file {path}: {exc}") from exc
    # ROS 2 layout: {node_name: {ros__parameters: {...}}}; the first node's parameters are ours.
    if isinstance(doc, dict):
        for node in doc.values():
            if isinstance(node, dict) and isinstance(node.get("ros__parameters"), dict):
                return dict(node["ros__parameters"])
    raise CliError(f"{path} holds no '<node>: ros__parameters:' mapping; see ros_bridge/config/params.yaml")


def parameters(args) -> dict:
    values = _yaml_params(args.params) if args.params else {}
    flags = {"artifact": args.artifact, "image_topics": args.image_topic, "camera_names": args.camera_name,
             "output_namespace": args.output_namespace, "backend": args.backend, "prompts": args.prompt,
             "server": args.server, "server_model": args.server_model}
    values.update({k: v for k, v in flags.items() if v is not None})
    if args.compressed:
        values["compressed"] = True
    for item in args.set:
        name, sep, raw = item.partition("=")
        if not sep:
            raise CliError(f"--set {item!r} must look like NAME=VALUE, e.g. --set window_stride=4")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw  # a bare string such as ema
    return values


def run(args) -> int:
    import os

    from ros_bridge.node import BridgeCore
    from ros_bridge.params import bridge_settings, merged, open_bridge_model, recognizer_config

    p = merged(parameters(args))
    if not p["artifact"]:
        raise CliError("no artifact given; pass --artifact FOLDER (or artifact: in --params)")
    settings, config = bridge_settings(p), recognizer_config(p)
    model = open_bridge_model(p)
    if args.transport == "dds":
        from ros_bridge.transports.dds import DdsSettings, DdsTransport, loopback_config

        domain = args.domain_id if args.domain_id is not None else int(os.environ.get("ROS_DOMAIN_ID", "0"))
        transport = DdsTransport(settings.cameras, DdsSettings(domain, p["output_namespace"], p["diagnostics_topic"],
                                                               loopback_config() if args.loopback else None))
    else:
        from ros_bridge.transports.rospy_node import RospyTransport

        transport = RospyTransport(settings.cameras, p["output_namespace"], p["diagnostics_topic"])
    core = BridgeCore(model, transport, settings, config)
    transport.start(core)
    logging.getLogger("ros_bridge").info("bridge running on %s: %s", args.transport,
                                         ", ".join(c.topic for c in settings.cameras))
    print("ready", flush=True)  # for supervisors and tests: subscriptions exist from here on
    _wait(args.seconds)
    core.close()
    transport.close()
    model.close()
    return 0


def _wait(duration: float | None) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.is_set():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        stop.wait(0.2 if left is None else min(left, 0.2))


def main(argv=None) -> int:
    """Exit 2 for bad command-line input or parameters (usage), 1 when the artifact, the model or a
    transport fails, 0 after SIGINT/SIGTERM or --seconds."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run_main(run, args)
