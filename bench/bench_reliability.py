"""Reliability runs behind docs/RELIABILITY.md: camera unplug/replug cycles, damaged artifacts, soak.

    python bench/bench_reliability.py camera --cycles 50            # MJPEG and RTSP, 2 s down, 1.5 s up
    python bench/bench_reliability.py artifacts                      # 100 flips + 4 truncations per file
    python bench/bench_reliability.py soak --minutes 6 --drop-every 60

Each prints its figures as one JSON object (and a short table); docs/RELIABILITY.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tqdm import tqdm  # noqa: E402


def cmd_camera(args) -> dict:
    from runtime.sources import open_source
    from testbed.cameras.mjpeg import MjpegCamera
    from testbed.cameras.rtsp import RtspCamera, rtsp_server_available
    from testbed.faults.unplug import unplug_replug

    kinds = {"mjpeg": lambda: MjpegCamera(fps=20)}
    why = rtsp_server_available()
    if why is None:
        kinds["rtsp"] = RtspCamera
    out = {"rtsp_skipped": why} if why else {}
    for kind, make in kinds.items():
        for fault in ("unplug", "freeze"):
            cycles = args.cycles if fault == "unplug" else max(args.cycles // 5, 2)
            bar = tqdm(total=cycles, desc=f"{kind} {fault}")
            with make() as camera, open_source(camera.url) as source:
                run = unplug_replug(camera, source, cycles, args.down, args.up, freeze=fault == "freeze",
                                    progress=lambda _: bar.update())
            bar.close()
            stats = run.source_stats
            gaps = [g for g in stats.gaps if g.end is None or g.end > run.first_cut]
            stall = [c.stall_s for c in run.cycles]
            resume = [c.resume_s for c in run.cycles]
            out[f"{kind}_{fault}"] = {
                "cycles": cycles, "stall_max_s": max(stall), "stall_median_s": sorted(stall)[len(stall) // 2],
                "resume_max_s": max(resume), "resume_median_s": sorted(resume)[len(resume) // 2],
                "gaps_reported": len(gaps), "gaps_closed": sum(g.end is not None for g in gaps),
                "gap_reasons": dict(Counter(g.reason for g in gaps)), "reconnects": stats.reconnects,
                "stalls": stats.stalls, "thread_alive": run.thread_alive, "frames": run.frames}
    return out


def cmd_artifacts(args) -> dict:
    from testbed.artifacts import make_onnx_artifact
    from testbed.faults.case_runner import run_cases
    from testbed.faults.corrupt import add_fake_engine, damaged_copies, schema_cases

    root = Path(tempfile.mkdtemp(prefix="tubelet-faults-"))
    try:
        good = make_onnx_artifact(root / "good")
        engine = root / "good-engine"
        shutil.copytree(good, engine)
        add_fake_engine(engine)
        groups = {"onnx-vouched": damaged_copies(good, root, "model.onnx", "artifact", "onnx-vouched"),
                  "onnx-loose": damaged_copies(good, root, "model.onnx", "backend", "onnx-loose"),
                  "manifest": damaged_copies(good, root, "manifest.json", "artifact", "manifest"),
                  "engine": damaged_copies(engine, root, "model.fp16.engine", "engine", "engine"),
                  "schema": schema_cases(good, root)}
        out = {}
        for group, cases in groups.items():
            results = run_cases(cases, timeout_s=2.0)
            out[group] = {"cases": len(results), "outcomes": dict(Counter(r.outcome for r in results)),
                          "errors": dict(Counter(r.error for r in results if r.error)),
                          "untyped": sum(r.outcome == "error" and not r.typed for r in results),
                          "max_s": max(r.seconds or 0.0 for r in results)}
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cmd_soak(args) -> dict:
    from testbed.artifacts import make_onnx_artifact
    from testbed.cameras.mjpeg import MjpegCamera
    from testbed.faults.soak import soak

    root = Path(tempfile.mkdtemp(prefix="tubelet-soak-"))
    seconds = args.minutes * 60.0
    bar = tqdm(total=int(seconds), desc="soak", unit="s")
    try:
        artifact = make_onnx_artifact(root / "art")
        with MjpegCamera(fps=20) as camera:
            report = soak(artifact, camera, seconds, args.drop_every, warmup_s=args.warmup,
                          progress=lambda t: bar.update(int(t) - bar.n), trace=args.trace)
        bar.close()
        data = dict(report.__dict__)
        samples = data.pop("samples")
        data["rss_mb_first_last"] = (samples[0][1], samples[-1][1])
        if args.samples:
            Path(args.samples).write_text(json.dumps(samples))
        return data
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    camera = sub.add_parser("camera", help="unplug/replug and freeze cycles on MJPEG (and RTSP when available)")
    camera.add_argument("--cycles", type=int, default=50)
    camera.add_argument("--down", type=float, default=2.0, help="seconds the camera stays away")
    camera.add_argument("--up", type=float, default=1.5, help="seconds of frames between faults")
    sub.add_parser("artifacts", help="truncated and bit-flipped models, manifests, engines; schema versions")
    soak = sub.add_parser("soak", help="the streaming runtime on a camera that drops out periodically")
    soak.add_argument("--minutes", type=float, default=30.0)
    soak.add_argument("--drop-every", type=float, default=300.0, help="seconds between camera drops")
    soak.add_argument("--warmup", type=float, default=60.0)
    soak.add_argument("--trace", action="store_true",
                      help="also trace Python allocations (tracemalloc) from the end of warm-up: heap growth and its top sources")
    soak.add_argument("--samples", help="write the (t, rss, fds, threads, camera_up) samples to this JSON file")
    args = parser.parse_args(argv)
    start = time.monotonic()
    out = {"cmd_camera": cmd_camera, "cmd_artifacts": cmd_artifacts, "cmd_soak": cmd_soak}[f"cmd_{args.command}"](args)
    out["wall_s"] = round(time.monotonic() - start, 1)
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
