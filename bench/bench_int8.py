"""INT8 ÷ FP32 latency in ONNX Runtime on this CPU, with top-1 agreement vs FP32.

For each model: export (or reuse) the FP32 artifact, calibrate on synthetic-world clips sampled
as the runtime samples them, quantize in several forms (Q/DQ — what the artifact ships and
TensorRT builds from — and QOperator, ONNX Runtime's own integer operators), then time FP32 and
every INT8 form interleaved in one run (batch 1), so the ratios share the machine's state.

  python bench/bench_int8.py --model videomae-s              # VideoMAE-S-sized, random init
  python bench/bench_int8.py --model models/videomae-motion  # the bundled trained model
  python bench/bench_int8.py --artifact build/videomae-motion --clips 32 --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VIDEOMAE_S = dict(image_size=224, patch_size=16, num_frames=16, tubelet_size=2, hidden_size=384,
                  num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536)
VARIANTS = {  # name: (format, op types, activations)
    "qdq-s8s8-matmul-gemm-conv": ("qdq", ("MatMul", "Gemm", "Conv"), "int8"),
    "qdq-s8s8-matmul": ("qdq", ("MatMul",), "int8"),
    "qoperator-s8s8-matmul-gemm-conv": ("qoperator", ("MatMul", "Gemm", "Conv"), "int8"),
    "qoperator-u8s8-matmul-gemm-conv": ("qoperator", ("MatMul", "Gemm", "Conv"), "uint8"),
}


def videomae_s_checkpoint(folder: Path) -> Path:
    import torch
    import transformers

    from runtime.world import ACTIONS

    torch.manual_seed(0)
    labels = list(ACTIONS)
    config = transformers.VideoMAEConfig(num_labels=len(labels), id2label=dict(enumerate(labels)),
                                         label2id={n: i for i, n in enumerate(labels)}, **VIDEOMAE_S)
    transformers.VideoMAEForVideoClassification(config).eval().save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "VideoMAEImageProcessor", "do_resize": True, "size": {"shortest_edge": 224},
        "do_center_crop": True, "crop_size": {"height": 224, "width": 224}, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225], "resample": 2}))
    return folder


def export(model: str, out: Path) -> Path:
    from export.pipeline import ExportOptions, build_artifact

    build_artifact(ExportOptions(model=model, output=out, batch=(1, 1, 2), atol=1e-3, strict=False), log=print)
    return out


def time_sessions(paths: dict, feed: dict, runs: int, threads: int) -> dict:
    """Median latency (ms) per model, runs interleaved round-robin so drift hits all alike."""
    import onnxruntime as ort

    sessions = {}
    for name, path in paths.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(2):
            sessions[name].run(None, feed)  # warm-up: allocations and kernel choice
    times = {name: [] for name in sessions}
    for _ in range(runs):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, feed)
            times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_model(label: str, artifact_dir: Path, clips: int, runs: int, threads: int, work: Path) -> list[dict]:
    from calibration.gate import compare, int8_census, run_logits
    from calibration.int8 import read_calibration_sets
    from calibration.quantize import QuantizeOptions, prepare, quantize_model
    from runtime.artifact import load_artifact

    artifact = load_artifact(artifact_dir)
    m = artifact.manifest
    calib, held = read_calibration_sets(m, "synthetic://?clips&seed=2000", clips=clips, holdout=0.25, progress=True)
    prepared = prepare(artifact.path("model.onnx"), work / f"{label}-prepared.onnx")
    reference = run_logits(prepared, held, threads)
    paths, rows = {"fp32": artifact.path("model.onnx")}, {}
    for name, (fmt, ops, activations) in VARIANTS.items():
        options = QuantizeOptions(method="minmax", op_types=ops, quant_format=fmt, threads=threads,
                                  activations=activations)
        out = work / f"{label}-{name}.onnx"
        start = time.perf_counter()
        quantize_model(prepared, out, calib, options, cache=work / f"{label}-{'-'.join(ops)}-{activations}-ranges.json")
        seconds = time.perf_counter() - start
        gate = compare(reference, run_logits(out, held, threads))
        rows[name] = {"census": int8_census(out, ops), "gate": gate, "quantize_s": seconds}
        paths[name] = out
        print(f"  {name}: {gate.line()} ({seconds:.0f} s to quantize)")
    feed = {m.input.name: held.samples[0].array[None]}
    latency = time_sessions(paths, feed, runs, threads)
    results = []
    for name, row in rows.items():
        census = ", ".join(f"{c['int8']}/{c['total']} {op}" for op, c in sorted(row["census"].items()))
        results.append({"model": label, "variant": name, "fp32_ms": latency["fp32"], "int8_ms": latency[name],
                        "ratio": latency[name] / latency["fp32"], "agreement": row["gate"].top1_agreement,
                        "min_cosine": row["gate"].min_cosine, "heldout": row["gate"].clips, "int8_ops": census})
    return results


def cpu_flags() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    model = re.search(r"Model name:\s*(.+)", text)
    flags = sorted(set(re.findall(r"avx512_vnni|amx\w*|avx_vnni", text)))
    return f"{model.group(1).strip() if model else platform.processor()}; {' '.join(flags) or 'no VNNI/AMX'}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[],
                        help="'videomae-s' (random init) or a save_pretrained folder; repeatable")
    parser.add_argument("--artifact", action="append", default=[], help="an existing artifact folder; repeatable")
    parser.add_argument("--clips", type=int, default=32, help="calibration clips (default 32; a third more are held out)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per model (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args(argv)
    if not args.model and not args.artifact:
        parser.error("give --model videomae-s, --model DIR, or --artifact DIR")
    import onnxruntime

    print(f"CPU: {cpu_flags()}; onnxruntime {onnxruntime.__version__}; threads {args.threads}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        work = Path(tmp)
        targets = [(Path(a).name, Path(a)) for a in args.artifact]
        for model in args.model:
            label = "videomae-s" if model == "videomae-s" else Path(model).name
            source = str(videomae_s_checkpoint(work / "videomae-s")) if model == "videomae-s" else model
            targets.append((label, export(source, work / f"{label}-artifact")))
        for label, folder in targets:
            print(f"\n== {label}")
            results += bench_model(label, folder, args.clips, args.runs, args.threads, work)
    print("\n| model | INT8 form | int8 ops | FP32 ms | INT8 ms | INT8 ÷ FP32 | top-1 agreement | min cosine |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['variant']} | {r['int8_ops']} | {r['fp32_ms']:.1f} | {r['int8_ms']:.1f} | "
              f"{r['ratio']:.2f}× | {r['agreement']:.1%} ({r['heldout']} clips) | {r['min_cosine']:.4f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
