"""Runtime results → the messages the bridge publishes.

- `vision_msgs/Classification`: the window's top-k, best first; header stamp = the stamp of the
  window's newest frame as the camera sent it, frame_id carried from that image's header.
- Events (onset/offset) as `std_msgs/String` holding one JSON object. There is no standard ROS
  message for an action starting or ending, and a custom one would make every robot build our
  interface package (rosidl) and every transport mirror it; a JSON string reaches ROS 2, ROS 1 and
  plain DDS subscribers with no generated code, and its schema is documented in docs/ROS.md.
- `diagnostic_msgs/DiagnosticArray`: one status per camera stream (latency, drops, reconnects).
"""

from __future__ import annotations

import json
import math

from ros_bridge.messages import (
    ERROR,
    OK,
    STALE,
    WARN,
    Classification,
    DiagnosticArray,
    DiagnosticStatus,
    Header,
    KeyValue,
    ObjectHypothesis,
    StringMsg,
    Time,
)
from ros_bridge.stamps import Stamp

EVENT_SCHEMA = 1


def header_for(stamp: Stamp | None) -> Header:
    if stamp is None:  # the frame's record was evicted: should not happen with a sane history size
        return Header(Time(0, 0), "")
    return Header(Time(stamp.sec, stamp.nanosec), stamp.frame_id)


def classification_message(result, stamp: Stamp | None) -> Classification:
    """One result → Classification (top-k of the smoothed scores; UNKNOWN as the best when rejected)."""
    hypotheses = [ObjectHypothesis(str(label), float(score)) for label, score in result.top_k]
    if hypotheses and result.label != hypotheses[0].class_id:
        # The post-processor rejected the best guess (unknown_below): say so first, keep the ranking after.
        hypotheses.insert(0, ObjectHypothesis(str(result.label), float(result.score)))
    return Classification(header_for(stamp), hypotheses)


def event_message(result, stamp: Stamp | None, stream: str) -> StringMsg | None:
    """The window's onset/offset transitions as one JSON record, or None when nothing changed."""
    if not result.events:
        return None
    header = header_for(stamp)
    record = {
        "schema": EVENT_SCHEMA, "stream": stream, "frame_id": header.frame_id,
        "stamp": {"sec": header.stamp.sec, "nanosec": header.stamp.nanosec},
        "window": result.window, "active": result.active,
        "events": [{"kind": e.kind, "label": e.label, "window": e.window,
                    "score": None if math.isnan(e.score) else round(float(e.score), 5)} for e in result.events],
    }
    return StringMsg(json.dumps(record, sort_keys=True))


def _percentile(values, q: float) -> float | None:
    data = sorted(values)
    if not data:
        return None
    return data[min(len(data) - 1, int(q * (len(data) - 1) + 0.5))]


def _fmt(value) -> str:
    return "" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def stream_status(name: str, hardware_id: str, counters: dict, timings: dict, stale_after_s: float,
                  since_last_s: float | None) -> DiagnosticStatus:
    """One stream's health. WARN when messages are being dropped or the stream went quiet; STALE before any image."""
    values = [KeyValue(key, _fmt(value)) for key, value in sorted(counters.items())]
    for key, samples in sorted(timings.items()):
        values.append(KeyValue(f"{key}_p50_ms", _fmt(_percentile(samples, 0.5))))
        values.append(KeyValue(f"{key}_p95_ms", _fmt(_percentile(samples, 0.95))))
    if since_last_s is None:
        level, message = STALE, "no image received yet"
    elif since_last_s > stale_after_s:
        level, message = WARN, f"no image for {since_last_s:.1f} s"
    elif counters.get("dropped_recent", 0):
        level, message = WARN, f"{counters['dropped_recent']} bad message(s) dropped since the last report"
    elif counters.get("errors", 0) and counters.get("published", 0) == 0:
        level, message = ERROR, "images arrive but no result was published"
    else:
        level, message = OK, "ok"
    return DiagnosticStatus(level, name, message, hardware_id, values)


def diagnostics_message(statuses: list[DiagnosticStatus], now_wall: float) -> DiagnosticArray:
    return DiagnosticArray(Header(Time.from_seconds(now_wall), ""), statuses)
