"""Per-clip latency: ONNX Runtime vs PyTorch eager on the same VideoMAE, same threads, one run.

Also the CPU floor: the model's FLOPs divided by a measured fp32 GEMM rate on the same threads.
Timings alternate between engines (A B A B ...) so machine noise hits both alike; figures are
medians. Writes a markdown table to stdout (paste into docs/BENCHMARKS.md) and, with --json, a file.

    python bench/bench_export.py --threads 2 --sizes test,small
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {  # name: VideoMAE config overrides
    "test": dict(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=2, intermediate_size=64),
    "small": dict(image_size=224, patch_size=16, num_frames=16, tubelet_size=2, hidden_size=384, num_hidden_layers=12,
                  num_attention_heads=6, intermediate_size=1536),  # VideoMAE-S
}


def model_flops(cfg: dict, labels: int) -> float:
    """Multiply-adds × 2 of one clip through VideoMAE (patch embed, encoder, head)."""
    d, layers, inter = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    tokens = (cfg["num_frames"] // cfg["tubelet_size"]) * (cfg["image_size"] // cfg["patch_size"]) ** 2
    patch = tokens * 3 * cfg["tubelet_size"] * cfg["patch_size"] ** 2 * d
    per_layer = tokens * d * 3 * d + 2 * tokens * tokens * d + tokens * d * d + 2 * tokens * d * inter
    return 2.0 * (patch + layers * per_layer + d * labels)


def gemm_rate(threads: int, n: int = 1024, repeats: int = 10) -> float:
    """fp32 GEMM FLOP/s through ONNX Runtime's MLAS (the same kernels the model runs on)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    sess.run(None, {"a": a, "b": a})
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sess.run(None, {"a": a, "b": a})
        times.append(time.perf_counter() - start)
    return 2.0 * n**3 / statistics.median(times)


def bench_size(name: str, threads: int, repeats: int) -> dict:
    import torch
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    from export.models.videomae import logits_module
    from export.onnx_export import export_onnx
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    torch.set_num_threads(threads)
    cfg = SIZES[name]
    torch.manual_seed(0)
    net = VideoMAEForVideoClassification(VideoMAEConfig(num_labels=11, **cfg)).eval()

    module = logits_module(net)
    x = torch.randn(1, cfg["num_frames"], 3, cfg["image_size"], cfg["image_size"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(module, x.repeat(2, 1, 1, 1, 1), path, "pixel_values", ["logits"])
        optimized = _optimize(path, cfg)
        engines = {"torch": lambda: _torch_run(module, x), "ort": _ort_runner(OnnxRuntimeBackend(path, "cpu", threads), x)}
        if optimized:
            engines["ort_fused"] = _ort_runner(OnnxRuntimeBackend(optimized, "cpu", threads), x)
        for run in engines.values():
            run(), run()  # warm-up
        times = {k: [] for k in engines}
        for _ in range(repeats):
            for key, run in engines.items():
                start = time.perf_counter()
                run()
                times[key].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {"size": name, "threads": threads, "ms": med, "flops": model_flops(cfg, 11)}


def _torch_run(module, x):
    import torch

    with torch.no_grad():
        return module(x)


def _ort_runner(backend, x):
    feeds = {"pixel_values": x.numpy()}
    return lambda: backend.infer(feeds)


def _optimize(path: Path, cfg: dict) -> Path | None:
    """ONNX Runtime's transformer optimizer: fuses attention, LayerNorm and GELU where it can."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        return None
    model = optimize_model(str(path), model_type="vit", num_heads=cfg["num_attention_heads"],
                           hidden_size=cfg["hidden_size"], opt_level=1, use_gpu=False)
    out = path.with_name("model.fused.onnx")
    model.save_model_to_file(str(out))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="test,small")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rate = gemm_rate(args.threads)
    rows = [bench_size(s, args.threads, args.repeats) for s in args.sizes.split(",")]
    print(f"fp32 GEMM rate (ORT MatMul 1024², {args.threads} threads): {rate / 1e9:.1f} GFLOP/s\n")
    print("| model | GFLOP/clip | PyTorch eager ms | ORT ms | ORT fused ms | ORT ÷ PyTorch | fused ÷ PyTorch | floor ms | best ÷ floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ms = r["ms"]
        floor = r["flops"] / rate * 1000
        best = min(ms["ort"], ms.get("ort_fused", ms["ort"]))
        fused = ms.get("ort_fused", float("nan"))
        print(f"| {r['size']} | {r['flops'] / 1e9:.4g} | {ms['torch']:.2f} | {ms['ort']:.2f} | {fused:.2f} | "
              f"{ms['ort'] / ms['torch']:.2f} | {fused / ms['torch']:.2f} | {floor:.2f} | {best / floor:.2f} |")
        r["floor_ms"] = floor
    if args.json:
        args.json.write_text(json.dumps({"gemm_flops": rate, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
