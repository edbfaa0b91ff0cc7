"""The bridge on plain Cyclone DDS, speaking the ROS 2 wire format: no ROS installation needed.

A ROS 2 node on rmw_cyclonedds_cpp sees this process's topics as its own: topic names are
`rt/` + the fully qualified ROS name, types are `pkg::msg::dds_::Name_` final structs in XCDR1.
Images are read best effort (matches both sensor-data and default publishers), results written
reliable, as a ROS 2 node would. Pin the binding to the robot's Cyclone series (0.10.x for Humble,
Jazzy, Kilted): 11.x announces XTypes information that crashes 0.10 peers (docs/ROS.md).

The process does not appear in `ros2 node list` (that needs ros_discovery_info); its topics do
appear in `ros2 topic list` and `ros2 topic echo` works on them.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass

from runtime.backends.base import require
from runtime.cli.errors import TubeletError

LOG = logging.getLogger("ros_bridge.dds")
ROS_NAME = re.compile(r"^/?[A-Za-z_~][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
TAKE_BATCH = 16


class TopicNameError(TubeletError, ValueError):
    """A ROS topic name that DDS cannot carry."""


def dds_topic(ros_name: str, namespace: str = "/") -> str:
    """ROS 2 topic name → DDS topic: `/camera/image_raw` → `rt/camera/image_raw` (relative names join `namespace`)."""
    if not isinstance(ros_name, str) or not ROS_NAME.match(ros_name) or ros_name.startswith("~"):
        raise TopicNameError(f"{ros_name!r} is not a valid ROS topic name (letters, digits, _ and /; no // or trailing /), "
                             "e.g. /camera/image_raw")
    if not ros_name.startswith("/"):
        ros_name = namespace.rstrip("/") + "/" + ros_name
    return "rt" + ros_name


def loopback_config(domain_id: int | str = "any") -> str:
    """Cyclone XML for one machine: interface lo, no multicast (lo often lacks the flag), peer 127.0.0.1."""
    return (f'<CycloneDDS><Domain id="{domain_id}"><General><Interfaces><NetworkInterface name="lo"/></Interfaces>'
            "<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>"
            "<MaxAutoParticipantIndex>64</MaxAutoParticipantIndex><Peers><Peer address=\"127.0.0.1\"/></Peers>"
            "</Discovery></Domain></CycloneDDS>")


@dataclass
class DdsSettings:
    domain_id: int = 0
    output_namespace: str = "/tubelet"
    diagnostics_topic: str = "/diagnostics"
    config_xml: str | None = None  # None: CYCLONEDDS_URI from the environment, as Cyclone does by default


def output_topics(camera, output_namespace: str) -> tuple[str, str]:
    """(classification, events) ROS topic names of one camera: <ns>[/<camera name>]/classification|events."""
    base = output_namespace.rstrip("/") + ("/" + camera.name if camera.name else "")
    return base + "/classification", base + "/events"


def qos_profiles():
    """(images in, results out): best effort keep-last 5 (sensor data), reliable keep-last 10 (ROS default)."""
    from cyclonedds.core import Policy
    from cyclonedds.qos import Qos
    from cyclonedds.util import duration

    xcdr1 = Policy.DataRepresentation(use_cdrv0_representation=True)  # what rmw_cyclonedds writes
    sensor = Qos(Policy.Reliability.BestEffort, Policy.Durability.Volatile, Policy.History.KeepLast(5), xcdr1)
    reliable = Qos(Policy.Reliability.Reliable(duration(milliseconds=100)), Policy.Durability.Volatile,
                   Policy.History.KeepLast(10), xcdr1)
    return sensor, reliable


class DdsTransport:
    """Readers for the camera topics, writers for the outputs; `start(core)` begins taking images."""

    def __init__(self, cameras, settings: DdsSettings | None = None):
        require("cyclonedds", "ros", "the DDS transport")
        self.settings = settings or DdsSettings()
        if self.settings.config_xml is not None:
            # Read by the C library when the domain is created; set before the participant exists.
            os.environ["CYCLONEDDS_URI"] = self.settings.config_xml
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.pub import DataWriter
        from cyclonedds.topic import Topic

        from ros_bridge.transports import dds_types as types

        self.types = types
        self.cameras = list(cameras)
        self.participant = DomainParticipant(self.settings.domain_id)
        sensor, reliable = qos_profiles()
        ns = self.settings.output_namespace
        self._writers = {}
        for camera in self.cameras:
            cls_topic, ev_topic = output_topics(camera, ns)
            self._writers[camera.key] = (
                DataWriter(self.participant, Topic(self.participant, dds_topic(cls_topic), types.Classification_), reliable),
                DataWriter(self.participant, Topic(self.participant, dds_topic(ev_topic), types.String_), reliable))
        diag = Topic(self.participant, dds_topic(self.settings.diagnostics_topic), types.DiagnosticArray_)
        self._diag_writer = DataWriter(self.participant, diag, reliable)
        self._sensor_qos = sensor
        self._readers = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.core = None

    # -- Outputs (called by the core) ------------------------------------------------------------
    def classification(self, camera, msg) -> None:
        self._writers[camera.key][0].write(self.types.classification(msg))

    def event(self, camera, msg) -> None:
        self._writers[camera.key][1].write(self.types.String_(msg.data))

    def diagnostics(self, msg) -> None:
        self._diag_writer.write(self.types.diagnostic_array(msg))

    # -- images in -------------------------------------------------------------------------------
    def start(self, core) -> None:
        """Subscribe to every camera and feed `core` from one reader thread."""
        from cyclonedds.core import InstanceState, Listener, ReadCondition, SampleState, ViewState, WaitSet
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        self.core = core
        self._waitset = WaitSet(self.participant)
        mask = SampleState.Any | ViewState.Any | InstanceState.Any
        for camera in self.cameras:
            kind = self.types.CompressedImage_ if camera.compressed else self.types.Image_
            topic = Topic(self.participant, dds_topic(camera.topic), kind)
            reader = DataReader(self.participant, topic, self._sensor_qos,
                                listener=Listener(on_subscription_matched=_Matched(core, camera.key)))
            self._waitset.attach(ReadCondition(reader, mask))
            self._readers.append((camera, reader))
        self._thread = threading.Thread(target=self._loop, name="dds-images", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        from cyclonedds.util import duration

        while not self._stop.is_set():
            self._waitset.wait(duration(milliseconds=100))
            for camera, reader in self._readers:
                try:
                    samples = reader.take(N=TAKE_BATCH)
                except Exception as exc:  # noqa: BLE001 - a sample that does not deserialize is a bad message
                    self.core.report_bad(camera.key, "cdr", f"undecodable sample: {exc}")
                    continue
                for sample in samples:
                    info = getattr(sample, "sample_info", None)
                    if info is not None and info.valid_data:  # skip dispose/unregister notices (a writer left)
                        self.core.on_image(camera.key, sample)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._readers.clear()
        self._writers.clear()
        self.participant = None  # the binding deletes DDS entities when the last reference goes


class _Matched:
    """Counts a camera publisher coming back after every publisher had gone (a reconnect)."""

    def __init__(self, core, key: str):
        self.core, self.key = core, key
        self.seen = False
        self.lost = False

    def __call__(self, reader, status) -> None:
        if status.current_count == 0 and self.seen:
            self.lost = True
        elif status.current_count > 0:
            if self.lost:
                self.core.note_reconnect(self.key)
                self.lost = False
            self.seen = True
