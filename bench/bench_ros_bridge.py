"""The ROS bridge's own cost, measured in one run on the DDS loopback, next to the runtime's latency.

    python bench/bench_ros_bridge.py --seconds 20 --fps 30 --threads 2 --json bench-ros.json

A camera process publishes 640x480 rgb8 sensor_msgs/Image on rt/camera/image_raw (stamped with
the wall clock), the bridge runs in this process on the DDS transport with the real recognizer, and
the figures are:
- wire: publisher write → bridge callback (one way, loopback, wall clock of one machine);
- per image: message in → frame in the clip buffer (validation, conversion, stamp map,
  preprocessing), with the runtime's own preprocessing of the same frame measured apart, so the
  bridge's share is the difference;
- per result: result → Classification (+ event) written to DDS;
- the runtime's latency (newest frame's capture → result) and inference time, from its own counters.
Model: --artifact (default build/videomae-motion, else models/videomae-motion exported to a temp dir).
Prints a markdown section for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ros_bridge.transports.dds import loopback_config  # noqa: E402

WIDTH, HEIGHT = 640, 480


def publish(domain: int, seconds: float, fps: float) -> None:
    """The camera process: rgb8 frames stamped with time.time() at write."""
    os.environ["CYCLONEDDS_URI"] = loopback_config()
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    from ros_bridge.transports import dds_types as d
    from ros_bridge.transports.dds import qos_profiles

    participant = DomainParticipant(domain)
    writer = DataWriter(participant, Topic(participant, "rt/camera/image_raw", d.Image_), qos_profiles()[0])
    time.sleep(2.0)  # discovery
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8).tobytes() for _ in range(8)]
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        now = time.time()
        sec = int(now)
        msg = d.Image_(d.Header_(d.Time_(sec, int((now - sec) * 1e9)), "camera"), HEIGHT, WIDTH, "rgb8", 0,
                       WIDTH * 3, frames[i % len(frames)])
        writer.write(msg)
        i += 1
        time.sleep(max(0.0, start + i / fps - time.monotonic()))


def _artifact(path: str | None) -> str:
    if path:
        return path
    default = ROOT / "build" / "videomae-motion"
    if (default / "manifest.json").exists():
        return str(default)
    from export.pipeline import ExportOptions, build_artifact

    out = Path(tempfile.mkdtemp(prefix="bench-ros-")) / "videomae-motion"
    build_artifact(ExportOptions(model=str(ROOT / "models" / "videomae-motion"), output=out), log=lambda _: None)
    return str(out)


def _stats(values) -> dict:
    data = sorted(values)
    if not data:
        return {"n": 0}
    pick = lambda q: data[min(len(data) - 1, int(q * (len(data) - 1) + 0.5))]  # noqa: E731
    return {"n": len(data), "p50": round(pick(0.5), 3), "p95": round(pick(0.95), 3), "mean": round(statistics.fmean(data), 3)}


def offline_parts(engine) -> dict:
    """Each step of the image path alone, on one 640x480 rgb8 message (100 rounds)."""
    from ros_bridge.convert import image_to_array
    from ros_bridge.transports import dds_types as d
    from runtime.preprocess import Preprocessor

    data = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8).tobytes()
    msg = d.Image_(d.Header_(d.Time_(1, 0), "camera"), HEIGHT, WIDTH, "rgb8", 0, WIDTH * 3, data)
    wire = msg.serialize()
    pre = Preprocessor(engine.artifact.manifest.preprocessing)
    out = {"deserialize": [], "convert": [], "preprocess": [], "serialize_image": []}
    for _ in range(100):
        t0 = time.perf_counter()
        got = d.Image_.deserialize(wire)
        t1 = time.perf_counter()
        image = image_to_array(got)
        t2 = time.perf_counter()
        pre(image)
        t3 = time.perf_counter()
        msg.serialize()
        t4 = time.perf_counter()
        for key, value in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            out[key].append(value * 1000.0)
    return {k: _stats(v) for k, v in out.items()}


def run(args) -> dict:
    os.environ["CYCLONEDDS_URI"] = loopback_config()
    from runtime.model import open_model
    from ros_bridge.node import BridgeCore, BridgeSettings, Camera
    from ros_bridge.transports.dds import DdsSettings, DdsTransport
    from runtime.recognizer import RecognizerConfig

    engine = open_model(_artifact(args.artifact), "cpu", threads=args.threads)
    wire_ms = []

    class Timed(BridgeCore):
        def on_image(self, camera, msg):
            stamp = msg.header.stamp
            wire_ms.append((time.time() - (stamp.sec + stamp.nanosec * 1e-9)) * 1000.0)
            return super().on_image(camera, msg)

    domain = 150 + os.getpid() % 80
    cameras = [Camera("/camera/image_raw")]
    transport = DdsTransport(cameras, DdsSettings(domain_id=domain))
    core = Timed(engine, transport, BridgeSettings(cameras, diagnostics_period_s=1.0), RecognizerConfig())
    transport.start(core)
    camera = subprocess.Popen([sys.executable, __file__, "--publish", "--domain", str(domain), "--seconds",
                               str(args.seconds), "--fps", str(args.fps)])
    camera.wait(timeout=args.seconds + 60)
    time.sleep(1.0)
    stats = core.streams["/camera/image_raw"].stats
    rstats = core._recognizer.stream("/camera/image_raw", live=True).stats
    result = {
        "fps": args.fps, "seconds": args.seconds, "threads": args.threads, "artifact": str(engine.artifact.folder),
        "received": stats.received, "dropped": stats.dropped_total, "published": stats.published,
        "dropped_windows": rstats.dropped_windows, "wire_ms": _stats(wire_ms[5:]),
        "ingest_ms": _stats(stats.ingest_ms), "result_ms": _stats(stats.result_ms),
        "runtime_latency_ms": _stats(rstats.latencies_ms), "inference_ms": _stats(rstats.inference_ms),
        "offline_ms": offline_parts(engine),
    }
    core.close()
    transport.close()
    engine.close()
    return result


def markdown(r: dict, command: str) -> str:
    o = r["offline_ms"]
    bridge_share = r["ingest_ms"]["p50"] - o["preprocess"]["p50"]
    rows = [
        ("wire: camera process write → bridge callback (loopback)", r["wire_ms"]),
        ("per image: message in → frame in the clip buffer", r["ingest_ms"]),
        ("  of which DDS deserialize (bytes fast path), offline", o["deserialize"]),
        ("  of which Image → array (validate, rgb8 → BGR), offline", o["convert"]),
        ("  of which the runtime's preprocessing, offline", o["preprocess"]),
        ("per result: result → Classification (+ event) written", r["result_ms"]),
        ("runtime latency: newest frame's capture → result", r["runtime_latency_ms"]),
        ("runtime inference per window", r["inference_ms"]),
    ]
    lines = ["## ROS bridge: overhead per image and per result on the DDS loopback", "",
             f"Command: `{command}`", "",
             f"{r['fps']} fps of 640x480 rgb8 for {r['seconds']} s from a camera process; bridge on the DDS transport "
             f"with the recognizer ({Path(r['artifact']).name}, ONNX Runtime CPU, {r['threads']} threads). "
             f"Received {r['received']}, dropped {r['dropped']} bad messages, published {r['published']} results, "
             f"{r['dropped_windows']} windows replaced (live mode).", "",
             "| step | p50 ms | p95 ms | n |", "|---|---|---|---|"]
    lines += [f"| {name} | {s.get('p50', '-')} | {s.get('p95', '-')} | {s['n']} |" for name, s in rows]
    lines += ["", f"The bridge's own share of the image path (p50 per image minus the runtime's preprocessing) is "
                  f"about {bridge_share:.2f} ms; the result path costs {r['result_ms'].get('p50', '-')} ms, against a "
                  f"runtime latency of {r['runtime_latency_ms'].get('p50', '-')} ms."]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    p.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--domain", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.publish:
        publish(args.domain, args.seconds, args.fps)
        return 0
    result = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(markdown(result, "python bench/bench_ros_bridge.py " + " ".join(sys.argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
