"""Plain mirrors of the ROS messages the bridge publishes, free of any ROS import.

Field names and types follow the ROS 2 Humble definitions (vision_msgs 4.x), so each transport maps
them one to one onto its own generated classes (rclpy), its DDS structs, or rospy messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# diagnostic_msgs/DiagnosticStatus levels (a `byte` in the message definition).
OK, WARN, ERROR, STALE = 0, 1, 2, 3


@dataclass
class Time:
    """builtin_interfaces/Time: seconds and nanoseconds since the epoch (or the robot's clock)."""

    sec: int = 0
    nanosec: int = 0

    def to_seconds(self) -> float:
        return self.sec + self.nanosec * 1e-9

    @classmethod
    def from_seconds(cls, seconds: float) -> Time:
        sec = int(seconds // 1)
        nanosec = int(round((seconds - sec) * 1e9))
        if nanosec >= 1_000_000_000:  # rounding carried into the next second
            sec, nanosec = sec + 1, nanosec - 1_000_000_000
        return cls(sec, nanosec)


@dataclass
class Header:
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class ObjectHypothesis:
    """vision_msgs/ObjectHypothesis (4.x): the label as class_id, its probability as score."""

    class_id: str
    score: float


@dataclass
class Classification:
    """vision_msgs/Classification: best first, header stamp = the newest frame's camera stamp."""

    header: Header
    results: list[ObjectHypothesis]


@dataclass
class KeyValue:
    key: str
    value: str


@dataclass
class DiagnosticStatus:
    level: int
    name: str
    message: str
    hardware_id: str = ""
    values: list[KeyValue] = field(default_factory=list)


@dataclass
class DiagnosticArray:
    header: Header
    status: list[DiagnosticStatus]


@dataclass
class StringMsg:
    """std_msgs/String: carries one JSON event record (see results.event_message for why)."""

    data: str
