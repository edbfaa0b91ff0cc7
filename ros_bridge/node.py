"""The bridge's node core: image messages in, Classification/events/diagnostics out, no ROS import.

A transport (rclpy, DDS, rospy) subscribes to the camera topics and calls `on_image(camera, msg)`
from its callback; the core validates and converts the message, maps its stamp, and feeds the
runtime's recognizer (live mode: latest wins, drops counted). Results come back on the
recognizer's inference thread and leave through the transport's `Outputs`. Nothing a publisher
sends can stop the node: a bad message is dropped, counted by reason and logged at a limited rate.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Sequence

from ros_bridge.convert import ImageError, ImageLimits, compressed_to_array, header_of, image_to_array
from runtime.model import Model
from ros_bridge.messages import Classification, DiagnosticArray, StringMsg
from ros_bridge.results import classification_message, diagnostics_message, event_message, stream_status
from ros_bridge.stamps import Stamp, StampClock
from runtime.recognizer import RecognizerConfig, RecognizerError, Result
from runtime.scheduler import Scheduler
from runtime.sources.base import Frame

LOG = logging.getLogger("ros_bridge")


@dataclass(frozen=True)
class Camera:
    """One subscribed camera. `name` is its id in outputs and diagnostics ("" = the topic itself)."""

    topic: str
    name: str = ""
    compressed: bool = False

    @property
    def key(self) -> str:
        return self.name or self.topic


@dataclass
class BridgeSettings:
    cameras: list[Camera]
    limits: ImageLimits = field(default_factory=ImageLimits)
    stamp_history: int = 1024  # frames whose original stamp is kept, per camera
    resync_s: float = 1.0  # a stamp this far from its arrival re-anchors the clock map
    log_period_s: float = 5.0  # at most one log line per camera and reason per period
    stale_after_s: float = 2.0  # diagnostics WARN after this long without an image
    diagnostics_period_s: float = 1.0  # 0: no timer; call publish_diagnostics() yourself
    timing_history: int = 2048


class Outputs:
    """What a transport provides to the core. Called from the inference and diagnostics threads."""

    def classification(self, camera: Camera, msg: Classification) -> None:
        raise NotImplementedError

    def event(self, camera: Camera, msg: StringMsg) -> None:
        raise NotImplementedError

    def diagnostics(self, msg: DiagnosticArray) -> None:
        raise NotImplementedError


class ThrottledLog:
    """At most one line per key per period; the next line says how many were suppressed."""

    def __init__(self, logger: logging.Logger, period_s: float):
        self.logger, self.period_s = logger, period_s
        self._last: dict[str, float] = {}
        self._suppressed: Counter = Counter()
        self._lock = threading.Lock()

    def warning(self, key: str, text: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                self._suppressed[key] += 1
                return False
            self._last[key] = now
            suppressed, self._suppressed[key] = self._suppressed[key], 0
        self.logger.warning("%s%s", text, f" ({suppressed} similar suppressed)" if suppressed else "")
        return True


@dataclass
class CameraStats:
    received: int = 0
    accepted: int = 0
    published: int = 0
    events: int = 0
    errors: int = 0  # internal failures (not the publisher's fault): publishing, inference restarts
    reconnects: int = 0  # the transport saw the camera's publisher go and come back
    dropped: Counter = field(default_factory=Counter)  # bad messages by reason
    dropped_since_report: int = 0
    last_error: str = ""
    last_arrival: float | None = None
    ingest_ms: deque = field(default_factory=lambda: deque(maxlen=2048))  # message in → frame in the clip buffer
    result_ms: deque = field(default_factory=lambda: deque(maxlen=2048))  # result → message handed to the transport

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class _Stream:
    def __init__(self, camera: Camera, settings: BridgeSettings):
        self.camera = camera
        self.stats = CameraStats(ingest_ms=deque(maxlen=settings.timing_history),
                                 result_ms=deque(maxlen=settings.timing_history))
        self.clock = StampClock(settings.stamp_history, settings.resync_s)
        self.index = 0
        self.lock = threading.Lock()


class BridgeCore:
    """Transport-independent node: owns the recognizer, its inference thread and the counters."""

    def __init__(self, model: Model, outputs: Outputs, settings: BridgeSettings,
                 config: RecognizerConfig | None = None, logger: logging.Logger = LOG):
        if not settings.cameras:
            raise ValueError("no camera given; pass at least one Camera(topic=...)")
        keys = [c.key for c in settings.cameras]
        if len(set(keys)) != len(keys):
            raise ValueError(f"camera names must be unique, got {keys}; give each camera a distinct name")
        self.model, self.outputs, self.settings = model, outputs, settings
        # a robot wants the newest answer, never a backlog; a copy, so the caller's config stays theirs
        self.config = dataclasses.replace(config or RecognizerConfig(), mode="live")
        self.log = ThrottledLog(logger, settings.log_period_s)
        self.streams = {c.key: _Stream(c, settings) for c in settings.cameras}
        self._swap = threading.Lock()
        self._recognizer = model.recognizer(self.config)
        self._scheduler = Scheduler(self._recognizer, self._on_result)
        self._closed = threading.Event()
        self._timer = None
        if settings.diagnostics_period_s > 0:
            self._timer = threading.Thread(target=self._diagnostics_loop, name="bridge-diagnostics", daemon=True)
            self._timer.start()

    # -- images in -----------------------------------------------------------------------------
    def on_image(self, camera: str, msg) -> bool:
        """Take one Image (or CompressedImage, per the camera) message; False when it was dropped."""
        start = time.perf_counter()
        stream = self.streams.get(camera)
        if stream is None:
            self.log.warning(f"unknown:{camera}", f"image for unknown camera {camera!r} ignored; known: {list(self.streams)}")
            return False
        with stream.lock:
            stats = stream.stats
            stats.received += 1
            arrival = time.monotonic()
            stats.last_arrival = arrival
            try:
                convert = compressed_to_array if stream.camera.compressed else image_to_array
                image = convert(msg, self.settings.limits)
                sec, nanosec, frame_id = header_of(msg)
            except ImageError as exc:
                self._drop(stream, exc.reason, str(exc))
                return False
            except Exception as exc:  # noqa: BLE001 - a message we did not foresee must not end the node
                self._drop(stream, "malformed", f"{type(exc).__name__}: {exc}")
                return False
            index = stream.index
            stream.index += 1
            timestamp = stream.clock.map(index, Stamp(sec, nanosec, frame_id), arrival)
            with self._swap:
                recognizer, scheduler = self._recognizer, self._scheduler
            pending = recognizer.prepare(Frame(image, timestamp, index, camera), camera, live=True)
            stats.accepted += 1
            stats.ingest_ms.append((time.perf_counter() - start) * 1000.0)
        if pending is not None:
            self._submit(scheduler, pending)
        return True

    def _drop(self, stream: _Stream, reason: str, text: str) -> None:
        stats = stream.stats
        stats.dropped[reason] += 1
        stats.dropped_since_report += 1
        stats.last_error = text
        self.log.warning(f"{stream.camera.key}:{reason}", f"{stream.camera.topic}: image dropped ({reason}): {text}")

    def _submit(self, scheduler: Scheduler, pending) -> None:
        try:
            scheduler.submit(pending)
        except RecognizerError as exc:
            # The inference thread died (a backend failure, not input). Count it and start a new one.
            self.streams[pending.stream.stream_id].stats.errors += 1
            self.log.warning("inference", f"inference failed, restarting the inference thread: {exc}")
            with self._swap:
                if self._scheduler is scheduler:
                    self._scheduler = Scheduler(self._recognizer, self._on_result)

    def report_bad(self, camera: str, reason: str, text: str) -> None:
        """A transport could not even decode a message (e.g. corrupt CDR): counted like any bad image."""
        stream = self.streams.get(camera)
        if stream is not None:
            with stream.lock:
                stream.stats.received += 1
                self._drop(stream, reason, text)

    def note_reconnect(self, camera: str) -> None:
        """A transport saw the camera's publisher disappear and come back."""
        stream = self.streams.get(camera)
        if stream is not None:
            stream.stats.reconnects += 1

    # -- results out ---------------------------------------------------------------------------
    def _on_result(self, result: Result) -> None:
        start = time.perf_counter()
        stream = self.streams.get(result.stream_id)
        if stream is None:
            return
        try:
            stamp = stream.clock.stamp_of(result.newest_index)
            self.outputs.classification(stream.camera, classification_message(result, stamp))
            event = event_message(result, stamp, stream.camera.key)
            if event is not None:
                self.outputs.event(stream.camera, event)
                stream.stats.events += 1
            stream.stats.published += 1
        except Exception as exc:  # noqa: BLE001 - a failed publish must not stop inference for every camera
            stream.stats.errors += 1
            self.log.warning(f"publish:{stream.camera.key}", f"{stream.camera.topic}: publishing a result failed: {exc}")
            return
        stream.stats.result_ms.append((time.perf_counter() - start) * 1000.0)

    # -- diagnostics ---------------------------------------------------------------------------
    def diagnostics(self) -> DiagnosticArray:
        statuses = []
        now = time.monotonic()
        for key, stream in self.streams.items():
            s = stream.stats
            rstats = self._recognizer.stream(key, live=True).stats
            latencies = list(rstats.latencies_ms)
            counters = {"received": s.received, "accepted": s.accepted, "published": s.published, "events": s.events,
                        "dropped": s.dropped_total, "dropped_recent": s.dropped_since_report, "errors": s.errors,
                        "reconnects": s.reconnects, "dropped_windows": rstats.dropped_windows,
                        "clock_resyncs": stream.clock.resyncs, "last_error": s.last_error[:200]}
            counters.update({f"dropped_{reason}": n for reason, n in s.dropped.items()})
            s.dropped_since_report = 0
            since = None if s.last_arrival is None else now - s.last_arrival
            timings = {"ingest": list(s.ingest_ms), "result": list(s.result_ms), "latency": latencies}
            statuses.append(stream_status(f"tubelet: {key}", stream.camera.topic, counters, timings,
                                          self.settings.stale_after_s, since))
        return diagnostics_message(statuses, time.time())

    def publish_diagnostics(self) -> None:
        try:
            self.outputs.diagnostics(self.diagnostics())
        except Exception as exc:  # noqa: BLE001 - diagnostics are best effort
            self.log.warning("diagnostics", f"publishing diagnostics failed: {exc}")

    def _diagnostics_loop(self) -> None:
        while not self._closed.wait(self.settings.diagnostics_period_s):
            self.publish_diagnostics()

    # -- run-time changes ----------------------------------------------------------------------
    def reconfigure(self, config: RecognizerConfig | None = None, prompts: Sequence[str] | None = None) -> None:
        """New sampling/thresholds and/or zero-shot prompts; clips restart, counters carry on.

        Everything is validated before the swap: on any error the running recognizer and the model's
        prompts stay as they were.
        """
        new_config = dataclasses.replace(config or self.config, mode="live")  # the caller's stays theirs
        recognizer = (self.model.recognizer(new_config) if prompts is None else
                      self.model.recognizer_with_prompts(new_config, prompts))
        scheduler = Scheduler(recognizer, self._on_result)
        with self._swap:
            old, self._recognizer, self._scheduler, self.config = self._scheduler, recognizer, scheduler, new_config
        old.close(drain=False, timeout=5.0)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every due window is published (tests and shutdown)."""
        with self._swap:
            scheduler = self._scheduler
        return scheduler.drain(timeout)

    def close(self) -> None:
        self._closed.set()
        with self._swap:
            scheduler = self._scheduler
        try:
            scheduler.close(drain=False, timeout=5.0)
        except RecognizerError as exc:
            LOG.warning("inference thread ended with an error: %s", exc)
        if self._timer is not None:
            self._timer.join(timeout=2.0)
