"""Sources: capture-to-consumer handoff, stall detection, reconnect, rosbag decode — one run.

Live figures come from testbed's loopback MJPEG camera (real sockets, real JPEG, FFmpeg via
OpenCV) at 640x480, 30 fps, with default source settings (stall_timeout 1 s, backoff 0.25 s → 5 s):
- handoff: consumer receipt time − the frame's capture stamp (the capture thread's cost on latency),
  as a fraction of the frame period;
- stall: camera paused → stall counted (target ≤ 1.5 s);
- resume: camera killed for `--down` s and restarted on its port → first new frame (target ≤ 5 s);
- decode: rosbag replay of 640x480 rgb8 (padded rows) and JPEG CompressedImage, frames/s.
Prints a markdown table (paste into docs/BENCHMARKS.md).

    python bench/bench_sources.py --frames 300 --restarts 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.sources import open_source  # noqa: E402
from testbed.cameras.mjpeg import MjpegCamera  # noqa: E402


def handoff(camera: MjpegCamera, frames: int) -> dict:
    latencies = []
    with open_source(camera.url) as source:
        source.next_frame(timeout=5)
        for _ in range(frames):
            frame = source.next_frame(timeout=5)
            latencies.append(time.monotonic() - frame.timestamp)
        stats = source.stats
    ms = np.array(latencies) * 1000
    return {"p50": np.percentile(ms, 50), "p95": np.percentile(ms, 95), "p99": np.percentile(ms, 99),
            "period": 1000 / camera.fps, "dropped": stats.dropped}


def stall_and_resume(camera: MjpegCamera, restarts: int, down: float) -> dict:
    detect, resume, gaps = [], [], []
    with open_source(camera.url) as source:
        source.next_frame(timeout=5)
        camera.pause()
        paused = time.monotonic()
        while source.next_frame(timeout=0.05) is not None or source.stats.stalls == 0:
            pass
        detect.append(time.monotonic() - paused)
        camera.resume()
        for _ in range(restarts):
            source.next_frame(timeout=5)
            camera.stop()
            time.sleep(down)
            camera.start()
            back = time.monotonic()
            while True:  # skip frames captured before the kill, if any were still queued
                frame = source.next_frame(timeout=10)
                if frame is None or frame.timestamp > back:
                    break
            resume.append(time.monotonic() - back)
        gaps = [g.duration for g in source.stats.gaps if g.reason == "disconnected" and g.duration]
    return {"detect": detect, "resume": resume, "gaps": gaps}


def rosbag_decode(count: int) -> dict:
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    image_t, jpeg_t = store.types["sensor_msgs/msg/Image"], store.types["sensor_msgs/msg/CompressedImage"]
    header = store.types["std_msgs/msg/Header"](stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=0),
                                                frame_id="cam")
    rng = np.random.default_rng(0)
    bgr = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (9, 9), 3)
    padded = np.concatenate([bgr[..., ::-1].reshape(480, -1), np.zeros((480, 64), np.uint8)], axis=1)
    raw = image_t(header=header, height=480, width=640, encoding="rgb8", is_bigendian=0, step=padded.shape[1],
                  data=padded.reshape(-1))
    jpeg = jpeg_t(header=header, format="jpeg", data=cv2.imencode(".jpg", bgr)[1].reshape(-1))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bag"
        with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            for topic, msg in (("/raw", raw), ("/jpeg", jpeg)):
                conn = writer.add_connection(topic, msg.__msgtype__, typestore=store)
                blob = store.serialize_cdr(msg, msg.__msgtype__)
                for i in range(count):
                    writer.write(conn, i + 1, blob)
        for topic in ("/raw", "/jpeg"):
            started = time.perf_counter()
            n = sum(1 for _ in open_source(str(path), topic=topic))
            out[topic] = n / (time.perf_counter() - started)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300, help="frames timed for the handoff (default 300)")
    parser.add_argument("--restarts", type=int, default=3, help="camera kill/restart cycles (default 3)")
    parser.add_argument("--down", type=float, default=1.0, help="seconds the camera stays dead (default 1.0)")
    parser.add_argument("--bag-frames", type=int, default=200, help="frames per rosbag topic (default 200)")
    args = parser.parse_args(argv)
    with MjpegCamera(fps=30, size=(480, 640)) as camera:
        h = handoff(camera, args.frames)
        r = stall_and_resume(camera, args.restarts, args.down)
    d = rosbag_decode(args.bag_frames)
    print("| measure | value |\n|---|---|")
    print(f"| handoff capture → consumer, p50 / p95 / p99 ms | {h['p50']:.2f} / {h['p95']:.2f} / {h['p99']:.2f} |")
    print(f"| handoff p95 ÷ frame period ({h['period']:.1f} ms) | {h['p95'] / h['period']:.3f} |")
    print(f"| frames dropped by a consumer that keeps up | {h['dropped']} |")
    print(f"| stall detected after pause, s (stall_timeout 1.0) | {max(r['detect']):.2f} |")
    print(f"| restart → first new frame, s, max of {len(r['resume'])} | {max(r['resume']):.2f} |")
    print(f"| recorded gap (kill → first new frame), s, median | {np.median(r['gaps']):.2f} |")
    print(f"| rosbag 640x480 rgb8 (padded rows) decode, frames/s | {d['/raw']:.0f} |")
    print(f"| rosbag 640x480 JPEG CompressedImage decode, frames/s | {d['/jpeg']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
