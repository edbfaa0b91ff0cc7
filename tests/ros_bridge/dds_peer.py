"""A separate process on the DDS wire: publishes sensor_msgs/Image as a ROS 2 camera driver would.

    python tests/ros_bridge/dds_peer.py --domain 7 --topic rt/cam/image_raw --count 40 --fps 30
    python tests/ros_bridge/dds_peer.py ... --wrong-type   # same fields, type name without ::dds_:: (a control)

Prints one JSON line: how many readers matched and how many images were sent.
"""

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ros_bridge.transports.dds import loopback_config, qos_profiles  # noqa: E402

os.environ["CYCLONEDDS_URI"] = loopback_config()

import numpy as np  # noqa: E402
from cyclonedds.core import Listener  # noqa: E402
from cyclonedds.domain import DomainParticipant  # noqa: E402
from cyclonedds.idl import IdlStruct  # noqa: E402
from cyclonedds.idl import types as t  # noqa: E402
from cyclonedds.pub import DataWriter  # noqa: E402
from cyclonedds.topic import Topic  # noqa: E402

from ros_bridge.transports import dds_types as d  # noqa: E402


@dataclass
class WrongImage(IdlStruct, typename="sensor_msgs::msg::Image"):
    header: d.Header_ = field(default_factory=d.Header_)
    height: t.uint32 = 0
    width: t.uint32 = 0
    encoding: str = ""
    is_bigendian: t.uint8 = 0
    step: t.uint32 = 0
    data: t.sequence[t.uint8] = field(default_factory=list)


d._like_rmw(WrongImage)
NS_PER_FRAME = 33_333_333


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--domain", type=int, required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--wrong-type", action="store_true")
    p.add_argument("--match-timeout", type=float, default=8.0)
    args = p.parse_args()
    matched = {"now": 0, "max": 0}

    def on_matched(_writer, status):
        matched["now"] = status.current_count
        matched["max"] = max(matched["max"], status.current_count)

    participant = DomainParticipant(args.domain)
    kind = WrongImage if args.wrong_type else d.Image_
    sensor, _ = qos_profiles()
    writer = DataWriter(participant, Topic(participant, args.topic, kind), sensor,
                        listener=Listener(on_publication_matched=on_matched))
    deadline = time.monotonic() + args.match_timeout
    while matched["now"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = 0
    if matched["now"]:
        height, width = 48, 64
        for i in range(args.count):
            image = np.zeros((height, width, 3), np.uint8)
            image[:, : (i * 7) % width] = (200, 40, 10)  # a bar growing left to right, in rgb8
            data = image.tobytes() if not args.wrong_type else list(image.tobytes())
            stamp = d.Time_(1000 + i // 30, (i % 30) * NS_PER_FRAME)  # a 30 fps camera clock from t = 1000 s
            msg = kind(d.Header_(stamp, "peer_cam"), height, width, "rgb8", 0, width * 3, data)
            writer.write(msg)
            sent += 1
            time.sleep(1.0 / args.fps)
        time.sleep(0.5)  # reliable-enough delivery of the tail before the participant goes
    print(json.dumps({"matched": matched["max"], "sent": sent}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
