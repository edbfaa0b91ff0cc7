"""The sink interface and a fan-out over several sinks."""

from __future__ import annotations

import threading


class Sink:
    """Override what you need; every hook is optional."""

    def on_frame(self, stream_id: str, frame) -> None:
        pass

    def on_result(self, result) -> None:
        pass

    def on_stats(self, streams: dict, sources: dict) -> None:
        """streams: stream id → runtime.recognizer.StreamStats; sources: stream id → the source's stats."""

    def close(self) -> None:
        pass


class Sinks(Sink):
    """Several sinks as one; results reach each sink in publication order, one at a time."""

    def __init__(self, sinks=()):
        self.sinks = [s for s in sinks if s is not None]
        self._lock = threading.Lock()

    def add(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def on_frame(self, stream_id, frame) -> None:
        for sink in self.sinks:
            sink.on_frame(stream_id, frame)

    def on_result(self, result) -> None:
        with self._lock:
            for sink in self.sinks:
                sink.on_result(result)

    def on_stats(self, streams, sources) -> None:
        for sink in self.sinks:
            sink.on_stats(streams, sources)

    def close(self) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001 - close every sink, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]
