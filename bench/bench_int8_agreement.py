"""What costs INT8 top-1 agreement with FP32, on held-out clips the calibration never saw.

    python bench/bench_int8_agreement.py --artifact build/videomae-motion --sensitivity --json int8-agreement.json

Calibration: the calibration step's own reader and defaults (`synthetic://?clips&size=96x128`, 64 clips,
seed 1000 unless the spec names one), as `bench_cpu_stream.py` calibrates the bundled model.
Evaluation: the synthetic world's labelled clips (`make_clips`, 30 per action, camera size 128x96,
the runtime's preprocessing) at each --eval-seeds seed, none of them the calibration's. Each variant
(calibration method, per-channel or per-tensor weights, layers kept in float) is quantized by
`calibration.quantize.quantize_model` and run on ONNX Runtime and OpenVINO; reported: top-1
agreement with the FP32 model on the same engine and the minimum per-clip logit cosine. An
artifact that already holds model.int8.onnx (`python -m calibration int8`) gets one more row: that file.

--sensitivity also quantizes each MatMul/Gemm/Conv alone (everything else float) and each one's
complement (everything but it), on a separate development seed, and ranks them by the damage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class ArrayReader:
    """The three things calibration.gate.run_logits reads from a ClipReader, over preprocessed clips."""

    def __init__(self, batch: np.ndarray, input_name: str, size: int = 32):
        self.samples, self.input_name, self._batch, self._size = list(batch), input_name, batch, size

    def batches(self):
        for i in range(0, len(self._batch), self._size):
            yield self._batch[i:i + self._size]


def world_clips(manifest, seed: int, per_class: int, height: int = 96, width: int = 128) -> ArrayReader:
    from runtime.preprocess import Preprocessor
    from runtime.world import make_clips

    clips, _ = make_clips(per_class, num_frames=manifest.input.frames, height=height, width=width, seed=seed,
                          fps=manifest.sampling.target_fps)
    pre = Preprocessor(manifest.preprocessing)
    batch = np.stack([np.stack([pre(frame) for frame in clip]) for clip in clips]).astype(np.float32)
    return ArrayReader(batch, manifest.input.name)


def agreement(reference: np.ndarray, candidate: np.ndarray) -> dict:
    ref, cand = np.asarray(reference), np.asarray(candidate)
    cos = (ref * cand).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1))
    flips = ref.argmax(1) != cand.argmax(1)
    return {"top1_agreement": float(1 - flips.mean()), "flips": int(flips.sum()), "min_cosine": float(cos.min()),
            "mean_cosine": float(cos.mean())}


def variants(names: list[str]) -> dict:
    """name -> (QuantizeOptions overrides, nodes kept in float: op-type or node-name rules)."""
    table = {
        "minmax": ({}, []),
        "percentile": ({"method": "percentile"}, []),
        "entropy": ({"method": "entropy"}, []),
        "minmax-per-tensor": ({"per_channel": False}, []),
        "minmax-float-conv": ({}, ["Conv"]),
        "minmax-float-head": ({}, ["Gemm"]),
        "minmax-float-conv-head": ({}, ["Conv", "Gemm"]),
        "minmax-float-attn-v": ({}, ["softmax-input"]),
        "minmax-float-qk": ({}, ["activation-pair-not-softmax"]),
        "minmax-float-attention": ({}, ["softmax-input", "activation-pair-not-softmax"]),
        "percentile-float-attn-v": ({"method": "percentile"}, ["softmax-input"]),
        "entropy-float-attn-v": ({"method": "entropy"}, ["softmax-input"]),
    }
    return {name: table[name] for name in names}


def kept_in_float(prepared: Path, rules: list[str]) -> list[str]:
    import onnx

    graph = onnx.load(str(prepared)).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}
    weights = {init.name for init in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm", "Conv"):
            continue
        sources = [producer.get(name, "input") for name in node.input[:2]]
        pair = not any(name in weights for name in node.input[:2])
        if (node.op_type in rules or ("softmax-input" in rules and "Softmax" in sources)
                or ("activation-pair-not-softmax" in rules and pair and "Softmax" not in sources)):
            kept.append(node.name)
    return kept


def run(args) -> dict:
    from calibration.gate import run_logits
    from calibration.int8 import read_calibration_sets
    from calibration.quantize import QuantizeOptions, prepare, quantizable_nodes, quantize_model
    from runtime.artifact import load_artifact

    manifest = load_artifact(args.artifact).manifest
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    calib, _ = read_calibration_sets(manifest, args.calib_data, args.clips)
    evals = {seed: world_clips(manifest, seed, args.per_class) for seed in args.eval_seeds}
    engines = ("onnxruntime", "openvino")
    out = {"calibration": {"data": args.calib_data, "clips": len(calib.samples)},
           "eval_seeds": args.eval_seeds, "eval_clips": {s: len(r.samples) for s, r in evals.items()}, "variants": {}}
    with tempfile.TemporaryDirectory(prefix="tubelet-int8-agree-") as work:
        work = Path(work)
        prepared = prepare(Path(args.artifact) / manifest.file_of_kind("onnx", "fp32"), work / "prepared.onnx")
        reference = {(s, e): run_logits(prepared, r, args.threads, e) for s, r in evals.items() for e in engines}
        int8_name = manifest.file_of_kind("onnx", "int8")
        todo = {name: None for name in args.variants}
        if int8_name is not None:  # what the calibration step shipped (its gate and search included)
            todo[f"artifact {int8_name}"] = Path(args.artifact) / int8_name
        for name, shipped in todo.items():
            row = {}
            if shipped is None:
                overrides, rules = variants([name])[name]
                row["kept_in_float"] = kept_in_float(prepared, rules)
                shipped = quantize_model(prepared, work / f"{name}.onnx", calib,
                                         QuantizeOptions(**overrides, threads=args.threads), exclude=row["kept_in_float"])
            for (seed, engine), ref in reference.items():
                row[f"{engine} seed {seed}"] = agreement(ref, run_logits(shipped, evals[seed], args.threads, engine))
            for engine in engines:
                flips = sum(row[f"{engine} seed {s}"]["flips"] for s in evals)
                total = sum(len(r.samples) for r in evals.values())
                row[f"{engine} all seeds"] = {"top1_agreement": 1 - flips / total, "flips": flips, "clips": total}
            out["variants"][name] = row
            log(f"{name}: " + "; ".join(f"{k} {v['top1_agreement']:.1%} min cos {v['min_cosine']:.4f}"
                                        for k, v in row.items() if isinstance(v, dict) and "min_cosine" in v))
        if args.sensitivity:
            out["sensitivity"] = sensitivity(prepared, work, calib, world_clips(manifest, args.dev_seed, args.per_class),
                                             args, quantizable_nodes(prepared, ("MatMul", "Gemm", "Conv")), log)
    return out


def sensitivity(prepared, work, calib, dev, args, nodes, log) -> dict:
    from calibration.gate import run_logits
    from calibration.quantize import QuantizeOptions, quantize_model

    options = QuantizeOptions(threads=args.threads)
    reference = run_logits(prepared, dev, args.threads, "onnxruntime")
    alone, without = {}, {}
    for node in nodes:
        path = work / "one.onnx"
        quantize_model(prepared, path, calib, options, only=[node])
        alone[node] = agreement(reference, run_logits(path, dev, args.threads, "onnxruntime"))
        quantize_model(prepared, path, calib, options, exclude=[node])
        without[node] = agreement(reference, run_logits(path, dev, args.threads, "onnxruntime"))
        log(f"{node}: alone {alone[node]['flips']} flips, mean cos {alone[node]['mean_cosine']:.5f}; "
            f"all but it {without[node]['flips']} flips")
    return {"dev_seed": args.dev_seed, "clips": len(dev.samples), "alone": alone, "all_but": without}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifact", required=True)
    p.add_argument("--calib-data", default="synthetic://?clips&size=96x128")
    p.add_argument("--clips", type=int, default=64, help="calibration clips")
    p.add_argument("--eval-seeds", type=lambda s: [int(x) for x in s.split(",")], default=[515151, 424242])
    p.add_argument("--dev-seed", type=int, default=313131, help="the sensitivity ranking's clips (not an eval seed)")
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--variants", type=lambda s: s.split(","), default=list(variants(list(
        ["minmax", "percentile", "entropy", "minmax-per-tensor", "minmax-float-conv", "minmax-float-head",
         "minmax-float-conv-head", "minmax-float-attn-v", "minmax-float-qk", "minmax-float-attention"]))))
    p.add_argument("--sensitivity", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    args = p.parse_args()
    out = run(args)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
