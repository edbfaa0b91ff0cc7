"""`python -m runtime.stream` in a real process with a fault-injecting backend around the real one.

    python -m tests.reliability.stream_faults --fail-at 3 --delay 0.05 -- --artifact A --source S ...

--fail-at N: the N-th inference call (1-based) raises RuntimeError("injected device fault").
--delay S: every call takes at least S seconds (a slow device), so Ctrl-C can land mid-run.
Everything after -- goes to runtime.stream unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time

FAULT = "injected device fault"


class FaultyBackend:
    """A real backend whose n-th call fails and whose every call takes at least `delay` seconds."""

    def __init__(self, backend, fail_at: int | None, delay: float):
        self.backend, self.fail_at, self.delay = backend, fail_at, delay
        self.inputs, self.outputs, self.name = backend.inputs, backend.outputs, backend.name
        self.providers = getattr(backend, "providers", [])
        self.calls = 0

    def infer(self, feeds):
        self.calls += 1
        start = time.perf_counter()
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError(FAULT)
        out = self.backend.infer(feeds)
        time.sleep(max(0.0, self.delay - (time.perf_counter() - start)))
        return out

    def close(self):
        self.backend.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-at", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--")
    ours, stream_args = parser.parse_args(argv[:split]), argv[split + 1:]

    import runtime.api
    from runtime import stream

    real_open = runtime.api.open_model

    def open_faulty(*args, **kwargs):
        engine = real_open(*args, **kwargs)
        engine.backend = FaultyBackend(engine.backend, ours.fail_at, ours.delay)
        return engine

    runtime.api.open_model = open_faulty
    return stream.main(stream_args)


if __name__ == "__main__":
    sys.exit(main())
