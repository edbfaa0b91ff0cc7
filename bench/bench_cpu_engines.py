"""CPU engines side by side on VideoMAE, against the CPU's own floor per precision.

    nice -n 10 python bench/bench_cpu_engines.py --model s --threads 2 --rounds 5 --json cpu-s.json
    nice -n 10 python bench/bench_cpu_engines.py --model b --threads 2 --rounds 3 --no-int8 --json cpu-b.json

Model: VideoMAE-S or -B at 16x224 (tubelet 2, patch 16: 1568 tokens), random weights from a
transformers config, 400 labels (Kinetics' head), exported by the project's own export step
(export.pipeline, parity-gated) and, for INT8, quantized by its calibration step (calibration.int8:
Q/DQ, symmetric int8, per-channel weights, synthetic clips; gate thresholds off, since random
weights give near-uniform logits). Engines, batch 1, the same threads, alternated A B C ... per
round so a shared machine's load hits all of them alike; medians:
PyTorch eager FP32 (VideoMAEForVideoClassification, preloaded, no_grad: the seed's classify_video
minus its per-call loading and preprocessing, which no engine here pays), ONNX Runtime FP32 and
INT8, OpenVINO FP32, BF16 and INT8 (the same two ONNX files); with --int8-every-matmul also OpenVINO on
an INT8 file whose attention probabilities x V are quantized too (what calibration keeps in float).
Floor per precision: the model's FLOPs (2 x multiply-accumulates, counted from the config) divided by
the best GEMM rate measured here for that precision on the same threads (one MatMul of the model's
own MLP shape, 1568 x D x 4D, through numpy (its BLAS's default threads), ONNX Runtime and OpenVINO),
timed inside the same rounds as the engines (best of 3 per round) so both see the same load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {  # VideoMAE-S and -B (MCG-NJU/videomae-*-finetuned-kinetics): 16 frames, 224², tubelet 2, patch 16
    "s": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536),
    "b": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
TOKENS = 8 * 14 * 14
CALIB = ("synthetic://?clips&size=240x320", 8, 0.34)  # spec, calibration clips, held-out fraction (12 clips read)


def model_macs(cfg: dict) -> float:
    """Multiply-accumulates per clip: patch embedding, then per layer QKV + projection + MLP + attention."""
    n, d, f = TOKENS, cfg["hidden_size"], cfg["intermediate_size"]
    embed = n * (3 * 2 * 16 * 16) * d
    layer = n * d * 3 * d + n * d * d + 2 * n * d * f + 2 * n * n * d
    return embed + cfg["num_hidden_layers"] * layer


def export(name: str, folder: Path, log) -> tuple[Path, object]:
    import torch
    import transformers

    from export.pipeline import ExportOptions, build_artifact

    torch.manual_seed(0)
    config = transformers.VideoMAEConfig(num_frames=16, image_size=224, patch_size=16, tubelet_size=2, num_labels=400,
                                         id2label={i: f"class {i}" for i in range(400)}, **CONFIGS[name])
    model = transformers.VideoMAEForVideoClassification(config).eval()
    ckpt = folder / "ckpt"
    model.save_pretrained(ckpt)
    log(f"exporting VideoMAE-{name.upper()}")
    art = build_artifact(ExportOptions(model=str(ckpt), output=folder / "artifact"), log=lambda _: None)
    return Path(art), model


def add_int8(artifact: Path, log) -> None:
    from calibration.int8 import quantize_artifact
    from calibration.quantize import QuantizeOptions

    log(f"calibrating INT8 ({CALIB[1]} synthetic clips, {round(CALIB[1] / (1 - CALIB[2])) - CALIB[1]} held out)")
    quantize_artifact(artifact, CALIB[0], QuantizeOptions(min_agreement=0.0, min_cosine=-1.0, max_excluded=0),
                      clips=CALIB[1], holdout=CALIB[2])


def every_matmul_int8(artifact: Path, log) -> Path:
    """The earlier INT8 form, for comparison: attention probabilities x V in INT8 too, the same clips."""
    path = artifact.parent / "int8-every-matmul.onnx"  # beside the artifact: not one of its files
    if path.is_file():
        return path
    from calibration.int8 import read_calibration_sets
    from calibration.quantize import QuantizeOptions, quantize_with_gate
    from runtime.artifact import load_artifact

    log("calibrating INT8 with every MatMul quantized")
    calib, heldout = read_calibration_sets(load_artifact(artifact).manifest, *CALIB)
    quantize_with_gate(artifact / "model.onnx", path, calib, heldout, QuantizeOptions(
        min_agreement=0.0, min_cosine=-1.0, max_excluded=0, float_attention_probs=False))
    return path


def engines(artifact_dir: Path, torch_model, threads: int, int8: bool, bf16: bool,
            every_matmul: Path | None = None) -> dict:
    """name → (callable(clip) -> logits, precision)."""
    import torch

    from runtime.artifact import load_artifact
    from runtime.backends.onnxruntime import OnnxRuntimeBackend
    from runtime.backends.openvino import open_openvino

    torch.set_num_threads(threads)
    art = load_artifact(artifact_dir)
    out = {}

    def eager(x):
        with torch.no_grad():
            return torch_model(pixel_values=torch.from_numpy(x)).logits.numpy()

    out["PyTorch eager FP32"] = (eager, "fp32")

    def wrap(backend):
        name = backend.inputs[0].name
        return lambda x: backend.infer({name: x})[backend.outputs[0].name]

    out["ORT FP32"] = (wrap(OnnxRuntimeBackend(art.path("model.onnx"), device="cpu", threads=threads)), "fp32")
    if int8:
        out["ORT INT8"] = (wrap(OnnxRuntimeBackend(art.path("model.int8.onnx"), device="cpu", threads=threads)), "int8")
    with tempfile.TemporaryDirectory() as cache:  # compile fresh: a bench must not time a stale blob
        out["OpenVINO FP32"] = (wrap(open_openvino(art, "fp32", threads, cache_root=cache)), "fp32")
        if bf16:
            out["OpenVINO BF16"] = (wrap(open_openvino(art, "bf16", threads, cache_root=cache)), "bf16")
        if int8:
            out["OpenVINO INT8"] = (wrap(open_openvino(art, "int8", threads, cache_root=cache)), "int8")
    if every_matmul is not None:
        from runtime.backends.openvino import OpenVINOBackend

        out["OpenVINO INT8, every MatMul"] = (wrap(OpenVINOBackend(every_matmul, precision="int8", threads=threads)), "int8")
    return out


def time_alternated(runners: dict, gemms: dict, clips: list[np.ndarray], rounds: int) -> tuple[dict, dict, dict]:
    """Median ms per engine, best ms per GEMM (one warm-up call each, then `rounds` rounds: every engine,
    then every GEMM three times, so the floor is measured under the same load), the logits per clip."""
    logits = {name: [fn(c) for c in clips] for name, (fn, _) in runners.items()}  # also the warm-up
    for fn, _ in gemms.values():
        fn(None)
    times = {name: [] for name in runners}
    gemm_ms = {name: [] for name in gemms}
    for r in range(rounds):
        for name, (fn, _) in runners.items():
            times[name].append(_timed(lambda: fn(clips[r % len(clips)])) * 1000)
        for name, (fn, _) in gemms.items():
            gemm_ms[name] += [_timed(lambda: fn(None)) * 1000 for _ in range(3)]
    return ({name: statistics.median(t) for name, t in times.items()}, {name: min(t) for name, t in gemm_ms.items()},
            logits)


def gemm_runners(d: int, f: int, threads: int, bf16: bool) -> tuple[dict, float]:
    """(1568 x d) @ (d x f) per engine and precision: {"FP32 numpy": (fn, "fp32"), ...} and its FLOPs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from runtime.backends.onnxruntime import OnnxRuntimeBackend
    from runtime.backends.openvino import OpenVINOBackend

    rng = np.random.default_rng(0)
    a = rng.standard_normal((TOKENS, d)).astype(np.float32)
    w = rng.standard_normal((d, f)).astype(np.float32) * 0.05
    tmp = Path(tempfile.mkdtemp(prefix="tubelet-gemm-"))

    def save(nodes, inits, name):
        graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("a", TensorProto.FLOAT, [TOKENS, d])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [TOKENS, f])], initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, str(tmp / name))
        return tmp / name

    fp32 = save([helper.make_node("MatMul", ["a", "w"], ["y"])], [numpy_helper.from_array(w, "w")], "fp32.onnx")
    sa, sw = np.float32(np.abs(a).max() / 127), (np.abs(w).max(axis=0) / 127).astype(np.float32)
    qw = np.clip(np.round(w / sw), -127, 127).astype(np.int8)
    qdq = save([helper.make_node("QuantizeLinear", ["a", "sa", "z"], ["qa"]),
                helper.make_node("DequantizeLinear", ["qa", "sa", "z"], ["da"]),
                helper.make_node("DequantizeLinear", ["qw", "sw", "zw"], ["dw"], axis=1),
                helper.make_node("MatMul", ["da", "dw"], ["y"])],
               [numpy_helper.from_array(np.array(sa), "sa"), numpy_helper.from_array(np.array(0, np.int8), "z"),
                numpy_helper.from_array(qw, "qw"), numpy_helper.from_array(sw, "sw"),
                numpy_helper.from_array(np.zeros(f, np.int8), "zw")], "int8.onnx")
    feeds = {"a": a}
    out = {"FP32 numpy": (lambda _: a @ w, "fp32")}
    for precision, path in (("fp32", fp32), ("int8", qdq)):
        ort = OnnxRuntimeBackend(path, device="cpu", threads=threads)
        out[f"{precision.upper()} ORT"] = ((lambda b: lambda _: b.infer(feeds))(ort), precision)
        ov = OpenVINOBackend(path, precision=precision, threads=threads)
        out[f"{precision.upper()} OpenVINO"] = ((lambda b: lambda _: b.infer(feeds))(ov), precision)
    if bf16:
        ov = OpenVINOBackend(fp32, precision="bf16", threads=threads)
        out["BF16 OpenVINO"] = ((lambda b: lambda _: b.infer(feeds))(ov), "bf16")
    return out, 2.0 * TOKENS * d * f


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def run(args) -> dict:
    import openvino

    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    cfg = CONFIGS[args.model]
    bf16 = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    with tempfile.TemporaryDirectory(prefix="tubelet-cpu-") as tmp:
        work = Path(args.workdir) / args.model if args.workdir else Path(tmp)
        if (work / "artifact" / "manifest.json").is_file():
            import transformers

            log(f"reusing {work}")  # the same random weights: saved beside the artifact by an earlier run
            artifact = work / "artifact"
            torch_model = transformers.VideoMAEForVideoClassification.from_pretrained(work / "ckpt").eval()
        else:
            artifact, torch_model = export(args.model, work, log)
        if args.int8 and not (artifact / "model.int8.onnx").is_file():  # also after a run stopped while calibrating
            add_int8(artifact, log)
        log("opening engines")
        every = every_matmul_int8(artifact, log) if args.int8 and args.int8_every_matmul else None
        runners = engines(artifact, torch_model, args.threads, args.int8, bf16, every)
        rng = np.random.default_rng(1)
        clips = [rng.standard_normal((1, 16, 3, 224, 224)).astype(np.float32) for _ in range(args.clips)]
        gemms, gemm_flops = gemm_runners(cfg["hidden_size"], cfg["intermediate_size"], args.threads, bf16)
        log(f"timing {len(runners)} engines and {len(gemms)} GEMMs, {args.rounds} rounds")
        medians, best_gemm_ms, logits = time_alternated(runners, gemms, clips, args.rounds)
    rates: dict = {}
    for name, (_, precision) in gemms.items():
        rates.setdefault(precision, {})[name.split(" ", 1)[1]] = gemm_flops / (best_gemm_ms[name] / 1000) / 1e9
    flops = 2 * model_macs(cfg)
    reference = logits["ORT FP32"]
    rows = {}
    for name, (_, precision) in runners.items():
        floor_rate = max(rates[precision].values())
        floor_ms = flops / (floor_rate * 1e9) * 1000
        rows[name] = {"precision": precision, "median_ms": medians[name], "floor_ms": floor_ms,
                      "ratio_to_floor": medians[name] / floor_ms,
                      "ratio_to_eager": medians[name] / medians["PyTorch eager FP32"],
                      "ratio_to_ort_fp32": medians[name] / medians["ORT FP32"],
                      "min_cosine_to_ort_fp32": min(cosine(r, c) for r, c in zip(reference, logits[name])),
                      "top1_agreement_to_ort_fp32": float(np.mean([r.argmax() == c.argmax()
                                                                   for r, c in zip(reference, logits[name])]))}
    return {"model": f"VideoMAE-{args.model.upper()} 16x224 (random weights)", "threads": args.threads,
            "rounds": args.rounds, "clips": args.clips, "gmac": model_macs(cfg) / 1e9, "gemm_gflops": rates,
            "openvino": openvino.__version__, "engines": rows, "cpu": _cpu_name()}


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="ascii", errors="replace"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def markdown(r: dict) -> str:
    lines = [f"{r['model']}, {r['gmac']:.1f} GMAC, batch 1, {r['threads']} threads, {r['cpu']}, OpenVINO "
             f"{r['openvino'].split('-')[0]}; {r['rounds']} rounds alternated, medians.", "",
             "GEMM rates (1568 × D × 4D MatMul), GFLOP/s: " + "; ".join(
                 f"{p.upper()} " + ", ".join(f"{k} {v:.0f}" for k, v in by.items()) for p, by in r["gemm_gflops"].items()), "",
             "| engine | median | × PyTorch eager | × ORT FP32 | floor (its precision) | × floor | min cosine / top-1 vs ORT FP32 |",
             "|---|---|---|---|---|---|---|"]
    for name, row in r["engines"].items():
        lines.append(f"| {name} | {row['median_ms']:.0f} ms | {row['ratio_to_eager']:.2f} | {row['ratio_to_ort_fp32']:.2f} | "
                     f"{row['floor_ms']:.0f} ms ({row['precision'].upper()}) | {row['ratio_to_floor']:.2f} | "
                     f"{row['min_cosine_to_ort_fp32']:.5f} / {row['top1_agreement_to_ort_fp32']:.0%} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(CONFIGS), default="s")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--clips", type=int, default=3, help="distinct random clips (cosine and top-1 over these)")
    p.add_argument("--no-int8", dest="int8", action="store_false", help="skip calibration and the INT8 engines")
    p.add_argument("--int8-every-matmul", action="store_true",
                   help="also time OpenVINO on an INT8 file with attention probabilities x V quantized (the earlier form)")
    p.add_argument("--workdir", help="keep the exported model here and reuse it on the next run (default: a tmp folder)")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    result = run(args)
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
