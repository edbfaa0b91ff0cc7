"""ROS header stamps ↔ the runtime's clock.

The runtime samples frames and measures latency on `time.monotonic()`; a ROS stamp is the robot's
clock (wall time, or simulated time) and may jump. Each stream maps its stamps onto the monotonic
clock with a fixed offset taken at the first frame, so frame spacing (and the runtime's fps
sampling) follows the camera's own stamps, not network jitter. A stamp that lands more than
`resync_s` away from its arrival (a bag looping, a clock jump, sim time reset) re-anchors the offset
and is counted. The original stamp and frame_id are kept per frame index, so a result's header
carries back exactly the stamp of its newest frame.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Stamp:
    sec: int
    nanosec: int
    frame_id: str

    def seconds(self) -> float:
        return self.sec + self.nanosec * 1e-9


class StampClock:
    """Per stream: ROS stamp → monotonic seconds, and frame index → original stamp (bounded)."""

    def __init__(self, history: int = 1024, resync_s: float = 1.0):
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.history, self.resync_s = history, resync_s
        self.offset: float | None = None
        self.resyncs = 0
        self.unstamped = 0  # frames with a zero stamp: mapped to their arrival time
        self._stamps: OrderedDict[int, Stamp] = OrderedDict()
        self._lock = threading.Lock()

    def map(self, index: int, stamp: Stamp, arrival: float) -> float:
        """Remember `stamp` for frame `index`; return its capture time on the monotonic clock."""
        with self._lock:
            self._stamps[index] = stamp
            if len(self._stamps) > self.history:
                self._stamps.popitem(last=False)
            if stamp.sec == 0 and stamp.nanosec == 0:
                self.unstamped += 1
                return arrival
            seconds = stamp.seconds()
            if self.offset is None:
                self.offset = arrival - seconds
            elif abs(seconds + self.offset - arrival) > self.resync_s:
                self.offset = arrival - seconds
                self.resyncs += 1
            # Never in the future of its own arrival: latency measured from it is never negative.
            return min(seconds + self.offset, arrival)

    def stamp_of(self, index: int) -> Stamp | None:
        with self._lock:
            return self._stamps.get(index)
