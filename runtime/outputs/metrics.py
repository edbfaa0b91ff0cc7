"""Prometheus metrics over HTTP (the optional [metrics] extra, imported only when asked for).

Counters follow the recognizer's own: they are advanced by the difference since the last
`on_stats`, so the endpoint never disagrees with the exit summary.
"""

from __future__ import annotations

from runtime.backends.base import require
from runtime.outputs.base import Sink
from runtime.outputs.overlay import FpsMeter

# Latency buckets in seconds: camera-to-decision latency spans a few ms (a GPU) to seconds (a CPU).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_COUNTERS = {"frames": "frames", "windows": "windows", "dropped_windows": "dropped_windows",
             "nonfinite": "nonfinite_windows"}


class MetricsSink(Sink):
    def __init__(self, port: int, addr: str = "0.0.0.0", registry=None):
        prom = require("prometheus_client", "metrics", "the --metrics-port endpoint")
        self.registry = registry or prom.CollectorRegistry()
        label = ["stream"]
        make = lambda name, doc: prom.Counter(f"tubelet_{name}", doc, label, registry=self.registry)  # noqa: E731
        self.counters = {
            "frames": make("frames", "camera frames received"),
            "windows": make("windows", "clips that fell due"),
            "dropped_windows": make("dropped_windows", "live windows replaced before inference (latest wins)"),
            "nonfinite": make("nonfinite_windows", "windows with NaN/Inf outputs (nothing published)"),
            "reconnects": make("reconnects", "source reconnections"),
        }
        self.published = make("results", "results published")
        self.fps = prom.Gauge("tubelet_fps", "camera frames per second", label, registry=self.registry)
        self.latency = prom.Histogram("tubelet_latency_seconds", "emission minus newest frame capture", label,
                                      buckets=BUCKETS, registry=self.registry)
        self._seen: dict[tuple[str, str], float] = {}
        self._meters: dict[str, FpsMeter] = {}
        self.port = port
        try:
            result = prom.start_http_server(port, addr=addr, registry=self.registry)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on port {port}: {exc.strerror}; choose a free port") from None
        self._server = result[0] if isinstance(result, tuple) else None

    def on_frame(self, stream_id, frame) -> None:
        fps = self._meters.setdefault(stream_id, FpsMeter()).tick(frame.timestamp)
        if fps is not None:
            self.fps.labels(stream_id).set(fps)

    def on_result(self, result) -> None:
        self.published.labels(result.stream_id).inc()
        self.latency.labels(result.stream_id).observe(result.latency_ms / 1000.0)

    def on_stats(self, streams, sources) -> None:
        for stream_id, stats in streams.items():
            for key in ("frames", "windows", "dropped_windows", "nonfinite"):
                self._advance(stream_id, key, getattr(stats, key))
            src = sources.get(stream_id)
            reconnects = src.get("reconnects") if isinstance(src, dict) else getattr(src, "reconnects", None)
            if reconnects is not None:
                self._advance(stream_id, "reconnects", reconnects)

    def _advance(self, stream_id: str, key: str, value: float) -> None:
        before = self._seen.get((stream_id, key), 0)
        if value > before:
            self.counters[key].labels(stream_id).inc(value - before)
            self._seen[(stream_id, key)] = value

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
