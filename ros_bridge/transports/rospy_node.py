"""The bridge on ROS 1 (rospy), for robots still on Noetic-era stacks. Secondary target: ROS 1 is end-of-life.

Inputs: sensor_msgs/Image or CompressedImage. Outputs: `<ns>[/<camera>]/classification` and
`.../events` as std_msgs/String JSON (ROS 1 has no vision_msgs in Debian, so the Classification's
fields travel as JSON: header stamp/frame_id and the ranked results), and diagnostic_msgs/DiagnosticArray.
rospy comes from the system (Debian: `apt-get install python3-rospy python3-sensor-msgs
python3-diagnostic-msgs ros-core`), not from pip; docs/ROS.md shows how a venv sees it.
"""

from __future__ import annotations

import json
import threading

from runtime.backends.base import MissingDependencyError

QUEUE = 5
BUFFER_BYTES = 1 << 24  # rospy's default 64 KiB receive buffer makes large images lag behind


def _import_ros1():
    try:
        import rospy
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        from sensor_msgs.msg import CompressedImage, Image
        from std_msgs.msg import String
    except ImportError as exc:
        raise MissingDependencyError(
            f"the ROS 1 transport needs rospy and its messages ({exc}); on Debian: apt-get install python3-rospy "
            "python3-sensor-msgs python3-diagnostic-msgs ros-core, then make /usr/lib/python3/dist-packages "
            "visible to this Python (docs/ROS.md)") from exc
    return rospy, Image, CompressedImage, String, DiagnosticArray, DiagnosticStatus, KeyValue


def classification_json(msg) -> str:
    """ros_bridge.messages.Classification as the JSON a ROS 1 subscriber reads."""
    return json.dumps({"header": {"stamp": {"secs": msg.header.stamp.sec, "nsecs": msg.header.stamp.nanosec},
                                  "frame_id": msg.header.frame_id},
                       "results": [{"class_id": h.class_id, "score": h.score} for h in msg.results]})


class RospyTransport:
    def __init__(self, cameras, output_namespace: str = "/tubelet", diagnostics_topic: str = "/diagnostics",
                 node_name: str = "tubelet"):
        (self.rospy, self.Image, self.CompressedImage, self.String, self.DiagnosticArray, self.DiagnosticStatus,
         self.KeyValue) = _import_ros1()
        from ros_bridge.transports.dds import output_topics  # plain helper, no DDS import

        rospy = self.rospy
        # disable_signals: the command line owns SIGINT/SIGTERM and shuts down in order.
        rospy.init_node(node_name, anonymous=False, disable_signals=True)
        self.cameras = list(cameras)
        self._pubs = {}
        for camera in self.cameras:
            cls_topic, ev_topic = output_topics(camera, output_namespace)
            self._pubs[camera.key] = (rospy.Publisher(cls_topic, self.String, queue_size=10),
                                      rospy.Publisher(ev_topic, self.String, queue_size=10))
        self._diag = rospy.Publisher(diagnostics_topic, self.DiagnosticArray, queue_size=10)
        self._subs = []
        self._lock = threading.Lock()
        self._timer = None

    def classification(self, camera, msg) -> None:
        self._pubs[camera.key][0].publish(self.String(data=classification_json(msg)))

    def event(self, camera, msg) -> None:
        self._pubs[camera.key][1].publish(self.String(data=msg.data))

    def diagnostics(self, msg) -> None:
        out = self.DiagnosticArray()
        out.header.stamp = self.rospy.Time(msg.header.stamp.sec, msg.header.stamp.nanosec)
        out.status = [self.DiagnosticStatus(level=s.level, name=s.name, message=s.message, hardware_id=s.hardware_id,
                                            values=[self.KeyValue(key=kv.key, value=kv.value) for kv in s.values])
                      for s in msg.status]
        self._diag.publish(out)

    def start(self, core) -> None:
        rospy = self.rospy
        self._connected = {}
        for camera in self.cameras:
            kind = self.CompressedImage if camera.compressed else self.Image
            sub = rospy.Subscriber(camera.topic, kind, self._on_image, callback_args=(core, camera.key),
                                   queue_size=QUEUE, buff_size=BUFFER_BYTES, tcp_nodelay=True)
            self._subs.append((camera.key, sub))
            self._connected[camera.key] = (False, False)  # (ever connected, connected now)
        self._timer = rospy.Timer(rospy.Duration(1.0), lambda _event: self._watch(core))

    @staticmethod
    def _on_image(msg, args) -> None:
        core, key = args
        core.on_image(key, msg)

    def _watch(self, core) -> None:
        """A publisher coming back after all had gone counts as a reconnect."""
        for key, sub in self._subs:
            ever, before = self._connected[key]
            now = sub.get_num_connections() > 0
            if now and not before and ever:
                core.note_reconnect(key)
            self._connected[key] = (ever or now, now)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.shutdown()
        for _, sub in self._subs:
            sub.unregister()
        self.rospy.signal_shutdown("bridge closed")
