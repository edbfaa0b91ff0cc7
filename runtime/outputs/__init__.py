"""Where results go: JSON lines, an overlay video, a window, Prometheus metrics, the exit summary.

Every output is a `Sink`: it may watch frames (`on_frame`, called from the source's thread),
results (`on_result`, called from the inference thread) and counters (`on_stats`, called about
once a second from the main thread). Optional heavy modules are imported by the sink that needs them.
"""

from runtime.outputs.base import Sink, Sinks
from runtime.outputs.jsonl import JsonLinesSink
from runtime.outputs.overlay import OverlayWriter, draw_result
from runtime.outputs.summary import StreamSummary, format_summary, percentile, summarize
from runtime.outputs.window import WindowSink

__all__ = ["Sink", "Sinks", "JsonLinesSink", "OverlayWriter", "draw_result", "WindowSink", "StreamSummary",
           "summarize", "format_summary", "percentile", "MetricsSink"]


def __getattr__(name):
    if name == "MetricsSink":  # its module imports prometheus_client only when a sink is made; keep it lazy anyway
        from runtime.outputs.metrics import MetricsSink

        return MetricsSink
    raise AttributeError(name)
