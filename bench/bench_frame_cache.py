"""CLIP mean-pool through the streaming recognizer: a window's cost with and without the frame cache.

    nice -n 10 python bench/bench_frame_cache.py --threads 2 --frames 60 --json frame-cache.json

A random-init CLIP (the same ViT as bench/bench_videotext.py: 6 layers, 192 wide, 96², 8 frames per
window), exported as a CLIP mean-pool video-text artifact and opened zero-shot (ONNX Runtime CPU).
One stream, window stride 1 (every new frame completes a window), offline so every window runs.
Timed per window: the recognizer's own inference time per published result (RecognizerConfig
frame_cache on vs off: the frame cache encodes the one new frame and averages the cached ones; off,
the video graph encodes all 8), against one frame's encode through the frame graph (batch 1).
The passes alternate on/off per round. Also: two streams batched (both streams' new frames in one
call) and the largest score difference between the two paths.
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


def build_clip(tmp: Path) -> Path:
    import torch
    import transformers

    from export.pipeline import ExportOptions, build_artifact
    from testbed.tiny_videotext import TEXT, clip_tokenizer

    folder = tmp / "clip"
    folder.mkdir()
    tok = clip_tokenizer(folder)
    torch.manual_seed(0)
    vision = dict(hidden_size=192, intermediate_size=768, num_hidden_layers=6, num_attention_heads=3, image_size=96,
                  patch_size=16)
    config = transformers.CLIPConfig(text_config=dict(TEXT, vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
                                     vision_config=vision, projection_dim=128)
    transformers.CLIPModel(config).eval().save_pretrained(folder)
    return build_artifact(ExportOptions(model=str(folder), output=tmp / "art", frames=8, sampling={"window_stride": 4}), log=lambda _: None)


def frames(stream_id: str, n: int, seed: int):
    from runtime.sources.base import Frame

    rng = np.random.default_rng(seed)
    return [Frame(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), i / 15, i, stream_id) for i in range(n)]


def window_costs(engine, streams, frame_cache: bool):
    """Per-window inference ms (each result's share of its batch call) and the results."""
    from runtime.recognizer import Recognizer, RecognizerConfig

    rec = Recognizer(engine.artifact, engine.backend, RecognizerConfig(mode="offline", window_stride=1,
                                                                      frame_cache=frame_cache))
    results = []
    for round_frames in zip(*streams):
        pending = [p for p in (rec.prepare(f) for f in round_frames) if p is not None]
        results += rec.run(pending)
    return [r.inference_ms / r.batch for r in results[len(streams):]], results  # the first window fills the cache


def run(args) -> dict:
    from runtime.model import open_model

    with tempfile.TemporaryDirectory(prefix="tubelet-fc-") as tmp:
        art = build_clip(Path(tmp))
        engine = open_model(str(art), "cpu", threads=args.threads, prompts=["a person waving", "a car", "a dog running"])
        encoder = engine.backend.frame_encoder
        one = np.random.default_rng(0).standard_normal((1, 3, 96, 96)).astype(np.float32)
        name = encoder.inputs[0].name
        for _ in range(3):  # warm-up
            encoder.infer({name: one})
        frame_ms, cached_ms, direct_ms, two_ms = [], [], [], []
        diffs = []
        for r in range(args.rounds):
            streams = [frames("cam", args.frames, seed=r)]
            for _ in range(5):
                start = time.perf_counter()
                encoder.infer({name: one})
                frame_ms.append((time.perf_counter() - start) * 1000)
            costs, cached = window_costs(engine, streams, True)
            cached_ms += costs
            costs, direct = window_costs(engine, streams, False)
            direct_ms += costs
            diffs.append(max(abs(a.score - b.score) for a, b in zip(cached, direct)))
            costs, _ = window_costs(engine, [frames("a", args.frames, seed=r), frames("b", args.frames, seed=r + 50)],
                                    True)
            two_ms += costs
        engine.close()
    f = statistics.median(frame_ms)
    return {"threads": args.threads, "frames_per_stream": args.frames, "rounds": args.rounds,
            "one_frame_ms": f, "cached_window_ms": statistics.median(cached_ms),
            "uncached_window_ms": statistics.median(direct_ms), "cached_window_two_streams_ms": statistics.median(two_ms),
            "cached_ratio": statistics.median(cached_ms) / f, "uncached_ratio": statistics.median(direct_ms) / f,
            "two_streams_ratio": statistics.median(two_ms) / f, "max_score_difference": max(diffs)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=60, help="frames per stream and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args()
    out = run(args)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
