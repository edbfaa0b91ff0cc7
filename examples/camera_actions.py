"""Camera to printed actions: python examples/camera_actions.py [ARTIFACT] [SOURCE] (defaults: the bundled model, camera 0)."""

import sys

from runtime import recognize

artifact = sys.argv[1] if len(sys.argv) > 1 else "build/videomae-motion"
source = sys.argv[2] if len(sys.argv) > 2 else "0"  # or a file, rtsp://..., csi://0, synthetic
for result in recognize(artifact, source, smoothing="ema"):
    events = " ".join(f"[{e.kind} {e.label}]" for e in result.events)
    print(f"{result.stream_id}: {result.label} {result.score:.2f} ({result.latency_ms:.0f} ms) {events}")
