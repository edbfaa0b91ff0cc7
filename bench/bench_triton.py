"""1, 4 and 8 synthetic live streams through a Triton server versus in-process ONNX Runtime, in one run.

    nice -n 10 python bench/bench_triton.py --seconds 12 --json bench-triton.json

For each stream count, three ways: in-process (one StreamRunner, ORT CPU), triton (the same runner,
windows sent to Triton over gRPC; the recognizer batches due windows of all streams into one
request), and triton-robots (one StreamRunner per stream, each its own client: concurrent requests
that Triton's dynamic batcher may merge). Reported: published windows per second, the batch sizes
the server executed (Triton's statistics API, per run), and latency (emission − newest capture)
p50/p95 with its overhead over in-process.

The server is PyTriton's tritonserver (Python backend running ONNX Runtime; see
testbed/serving/serve_entry.py) on the same machine, started and stopped by testbed's harness; it
needs the .venv-triton venv (README, Tests and CI). Model: --artifact (default build/videomae-motion,
else the bundled model is exported to a temporary folder, which needs torch). Both sides run ORT
with --threads threads, on the same cores: this measures the serving path's overhead, not a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.api import RunLimits, StreamRunner  # noqa: E402
from runtime.artifact import load_artifact  # noqa: E402
from runtime.backends import open_backend, open_remote  # noqa: E402
from runtime.world import SyntheticStream  # noqa: E402
from runtime.triton_repo import write_repository  # noqa: E402
from testbed.serving.server import TritonServer  # noqa: E402


def artifact_dir(given: str | None, scratch: Path) -> Path:
    if given:
        return Path(given)
    default = ROOT / "build" / "videomae-motion"
    if (default / "manifest.json").exists():
        return default
    from export.pipeline import ExportOptions, build_artifact

    return Path(build_artifact(ExportOptions(model=str(ROOT / "models" / "videomae-motion"),
                                             output=scratch / "videomae-motion"), log=lambda _: None))


def sources(count: int, fps: float, frames: int | None = None):
    """Live cameras (paced to the clock), or with `frames` an offline stream of that many frames, unpaced."""
    return [SyntheticStream(seed=i, height=240, width=320, fps=fps, realtime=frames is None, num_frames=frames,
                            stream_id=f"cam{i}") for i in range(count)]


def run_streams(art, backend, streams, seconds: float | None) -> dict:
    mode = "live" if seconds is not None else "offline"
    with StreamRunner(art, streams, mode=mode, backend_object=backend, limits=RunLimits(seconds=seconds)) as runner:
        report = runner.run()
    stats = [runner.recognizer.streams[s.stream_id].stats for s in report.summaries]
    return {"published": sum(s.published for s in stats), "dropped": sum(s.dropped_windows for s in stats),
            "failed": sum(s.failed_windows for s in stats), "elapsed_s": report.elapsed_s,
            "latencies": [v for s in stats for v in s.latencies_ms]}


def run_robots(art, url: str, streams, seconds: float | None) -> dict:
    """One runner (one client) per stream, all at once: requests arrive at Triton concurrently."""
    outcomes: list[dict] = []
    lock = threading.Lock()

    def robot(stream):
        with open_remote(art, url) as remote:
            outcome = run_streams(art, remote, [stream], seconds)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=robot, args=(s,)) for s in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"published": sum(o["published"] for o in outcomes), "dropped": sum(o["dropped"] for o in outcomes),
            "failed": sum(o["failed"] for o in outcomes), "elapsed_s": max(o["elapsed_s"] for o in outcomes),
            "latencies": [v for o in outcomes for v in o["latencies"]]}


def run_mode(mode: str, art, url: str, streams, seconds: float | None, threads: int) -> dict:
    if mode == "in-process":
        with open_backend(art, "cpu", threads=threads) as local:
            return run_streams(art, local, streams, seconds)
    if mode == "triton":
        with open_remote(art, url) as remote:
            return run_streams(art, remote, streams, seconds)
    return run_robots(art, url, streams, seconds)


def batch_counts(stats: dict) -> dict:
    """Executions per batch size, plus requests received and executions run (-1, -2: fewer executions than
    requests means Triton's dynamic batcher merged requests)."""
    [model] = stats["model_stats"]
    counts = {int(b["batch_size"]): int(b["compute_infer"].get("count", 0)) for b in model.get("batch_stats", [])}
    counts[-1] = int(model["inference_stats"]["success"].get("count", 0))
    counts[-2] = int(model.get("execution_count", 0))
    return counts


def delta(after: dict, before: dict) -> dict[int, int]:
    return {b: n - before.get(b, 0) for b, n in sorted(after.items()) if n - before.get(b, 0) > 0}


def summarize(outcome: dict) -> dict:
    lat = np.asarray(outcome["latencies"], dtype=np.float64)
    return {"windows_per_s": outcome["published"] / outcome["elapsed_s"], "published": outcome["published"],
            "dropped": outcome["dropped"], "failed": outcome["failed"],
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
            "latency_p95_ms": float(np.percentile(lat, 95)) if lat.size else None}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", default=None)
    p.add_argument("--streams", default="1,4,8")
    p.add_argument("--seconds", type=float, default=12.0, help="each live run's length")
    p.add_argument("--frames", type=int, default=120, help="frames per stream in each offline (capacity) run")
    p.add_argument("--fps", type=float, default=15.0, help="each synthetic camera's frame rate")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads, in process and in the server")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-triton-") as scratch:
        scratch = Path(scratch)
        art = load_artifact(artifact_dir(args.artifact, scratch))
        [entry] = write_repository(art, scratch / "repo", log=lambda _: None)
        server = TritonServer([entry], scratch / "server", threads=args.threads).start()
        try:
            with open_remote(art, server.grpc_url) as probe:
                for count in (int(c) for c in args.streams.split(",")):
                    for mode in ("in-process", "triton", "triton-robots"):
                        before = batch_counts(probe.statistics())
                        row = {"streams": count, "mode": mode}
                        # Offline (unpaced) gives capacity; live cameras give latency.
                        offline = run_mode(mode, art, server.grpc_url, sources(count, args.fps, args.frames), None,
                                           args.threads)
                        row["capacity_windows_per_s"] = offline["published"] / offline["elapsed_s"]
                        row.update(summarize(run_mode(mode, art, server.grpc_url, sources(count, args.fps), args.seconds,
                                                      args.threads)))
                        if mode != "in-process":
                            batches = delta(batch_counts(probe.statistics()), before)
                            row["requests"], row["executions"] = batches.pop(-1, 0), batches.pop(-2, 0)
                            row["server_batches"] = batches
                        rows.append(row)
                    print(json.dumps(rows[-3:]), file=sys.stderr, flush=True)
        finally:
            server.stop()
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def table(rows: list[dict]) -> str:
    base = {r["streams"]: r for r in rows if r["mode"] == "in-process"}
    lines = ["| streams | path | capacity, windows/s (offline) | live: windows/s, dropped | latency p50 / p95 ms | "
             "overhead p50 / p95 ms | requests → executions | batches Triton executed (size: count) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ref = base[r["streams"]]
        over = "-" if r["mode"] == "in-process" else (
            f"{r['latency_p50_ms'] - ref['latency_p50_ms']:+.1f} / {r['latency_p95_ms'] - ref['latency_p95_ms']:+.1f}")
        batches = ", ".join(f"{b}: {n}" for b, n in r.get("server_batches", {}).items()) or "-"
        merged = f"{r['requests']} → {r['executions']}" if "requests" in r else "-"
        lines.append(f"| {r['streams']} | {r['mode']} | {r['capacity_windows_per_s']:.0f} | "
                     f"{r['windows_per_s']:.1f}, {r['dropped']} | "
                     f"{r['latency_p50_ms']:.1f} / {r['latency_p95_ms']:.1f} | {over} | {merged} | {batches} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
