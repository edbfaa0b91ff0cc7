"""The bundled model on each CPU backend: through `python -m runtime.stream`, and INT8 agreement.

    nice -n 10 python bench/bench_cpu_stream.py --threads 2 --frames 1500 --rounds 2 --json cpu-stream.json

1. The stream CLI on the synthetic world (offline, every window), once per backend and precision
   (ORT FP32/INT8, OpenVINO FP32/BF16/INT8), the backends taking turns for `--rounds` rounds:
   inference p50 per window from each run's --summary-json, accuracy against the world's ground truth.
2. 330 held-out clips (the world's, camera size 128x96, the runtime's preprocessing): top-1
   agreement of INT8 with FP32 on each engine, and per-clip latency at batch 1 alternated in-process.

Artifact: --artifact, or models/videomae-motion exported to a tmp folder; model.int8.onnx is added by
the calibration step (64 synthetic clips) when the artifact has none.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = [("cpu", "fp32"), ("cpu", "int8"), ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8")]


def prepare(artifact: str | None, tmp: Path) -> Path:
    from runtime.artifact import load_artifact

    if artifact is None:
        from export.pipeline import ExportOptions, build_artifact

        artifact = build_artifact(ExportOptions(model=str(ROOT / "models" / "videomae-motion"), output=tmp / "bundled"),
                                  log=lambda _: None)
    if load_artifact(artifact).manifest.file_of_kind("onnx", "int8") is None:
        from calibration.int8 import quantize_artifact

        quantize_artifact(artifact, "synthetic://?clips&size=96x128", clips=64)
    return Path(artifact)


def stream_runs(artifact: Path, threads: int, frames: int, rounds: int, tmp: Path) -> dict:
    out = {f"{b} {p}": [] for b, p in CONFIGS}
    for r in range(rounds):
        for backend, precision in CONFIGS:
            summary = tmp / f"s-{backend}-{precision}-{r}.json"
            cmd = [sys.executable, "-m", "runtime.stream", "--artifact", str(artifact), "--source",
                   "synthetic://?realtime=false&seed=7", "--backend", backend, "--precision", precision,
                   "--threads", str(threads), "--max-frames", str(frames), "--quiet", "--summary-json", str(summary)]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
            if run.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed: {run.stderr[-800:]}")
            data = json.loads(summary.read_text())
            stream, acc = data["streams"][0], data["accuracy"][0]
            out[f"{backend} {precision}"].append({"inference_p50_ms": stream["inference_p50_ms"],
                                                   "published": stream["published"], "accuracy": acc["accuracy"]})
    return {name: {"inference_p50_ms": statistics.median(r["inference_p50_ms"] for r in runs),
                   "published": runs[0]["published"], "accuracy": runs[0]["accuracy"]} for name, runs in out.items()}


def heldout(artifact: Path, threads: int, repeats: int) -> dict:
    from runtime.artifact import load_artifact
    from runtime.backends import open_backend
    from runtime.preprocess import Preprocessor
    from runtime.world import make_clips

    art = load_artifact(artifact)
    m = art.manifest
    clips, labels = make_clips(30, num_frames=m.input.frames, height=96, width=128, seed=515151,
                               fps=m.sampling.target_fps)
    pre = Preprocessor(m.preprocessing)
    batch = np.stack([np.stack([pre(frame) for frame in clip]) for clip in clips])
    engines = {f"{b} {p}": open_backend(art, b, threads=threads, precision=p) for b, p in CONFIGS}
    logits = {name: np.concatenate([e.infer({m.input.name: batch[i:i + 32]})[m.outputs[0]]
                                    for i in range(0, len(batch), 32)]) for name, e in engines.items()}
    times = {name: [] for name in engines}
    for r in range(repeats):
        for name, e in engines.items():
            clip = batch[r % len(batch)][None]
            start = time.perf_counter()
            e.infer({m.input.name: clip})
            times[name].append((time.perf_counter() - start) * 1000)
    for e in engines.values():
        e.close()
    top1 = {name: out.argmax(1) for name, out in logits.items()}
    return {"clips": len(batch),
            "accuracy": {name: float((t == labels).mean()) for name, t in top1.items()},
            "int8_agreement": {"onnxruntime": float((top1["cpu int8"] == top1["cpu fp32"]).mean()),
                               "openvino": float((top1["openvino int8"] == top1["openvino fp32"]).mean())},
            "openvino_int8_equals_ort_int8": float((top1["openvino int8"] == top1["cpu int8"]).mean()),
            "batch1_ms": {name: statistics.median(t) for name, t in times.items()}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=1500)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=60, help="batch-1 timings per engine (alternated)")
    p.add_argument("--json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="tubelet-cpustream-") as tmp:
        artifact = prepare(args.artifact, Path(tmp))
        out = {"threads": args.threads, "frames": args.frames, "rounds": args.rounds,
               "stream": stream_runs(artifact, args.threads, args.frames, args.rounds, Path(tmp)),
               "heldout": heldout(artifact, args.threads, args.repeats)}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
