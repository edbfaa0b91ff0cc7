"""Held-out clip accuracy of trained classifiers over several render seeds, side by side.

`training.train_bundled` scores a model on one held-out set (550 clips, render seed 990001); a
candidate's lead of a point there is about five clips. This scores each model folder on the same
fresh clips of every seed given (50 per class by default, rendered at the model's own input size and
clip rate), so two models are compared on identical clips and a gap can be read against the spread
across seeds:

    python -m training.heldout --models models/videomae-motion,OTHER --seeds 990011,990021,990031

Held-out render seeds lie from 990000 up: `training.train_bundled` renders its clips with seeds from
seed x 1000 to seed x 1000 + 999 (epochs under 500), so no recipe seed under 990 reaches them.
Needs the [export] extra (torch and transformers), as training does.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from pathlib import Path

from runtime.cli.args import seed_list


def score(folder: Path, seeds: list[int], render) -> list[dict]:
    """Held-out metrics of one folder per seed; `render(seed, frames, size, fps)` gives the clips and
    labels (`main` passes one that renders each set once for every model)."""
    import torch
    from transformers import VideoMAEForVideoClassification

    from runtime.world import ACTIONS, REVERSED
    from training.finetune import evaluate, predict

    model = VideoMAEForVideoClassification.from_pretrained(str(folder))
    config = model.config
    if [config.id2label[i] for i in range(len(config.id2label))] != list(ACTIONS):
        raise SystemExit(f"{folder}: its labels are not the synthetic world's {len(ACTIONS)} actions")
    fps = _clip_rate(folder, config.num_frames)
    results = []
    with torch.inference_mode():
        for seed in seeds:
            clips, labels = render(seed, config.num_frames, config.image_size, fps)
            results.append(evaluate(predict(model, clips, config.image_size), labels, ACTIONS, REVERSED))
    return results


def _clip_rate(folder: Path, frames: int) -> float:
    """The clip rate training rendered at, from the folder's sampling.json: export's reader, so both refuse alike."""
    from export.models.videomae import CheckpointError, read_sampling

    try:
        sampling = read_sampling(folder, frames)
    except CheckpointError as exc:
        raise SystemExit(str(exc)) from None
    if sampling is None:
        raise SystemExit(f"{folder}: no sampling.json (the clip rate training used); name a train_bundled folder")
    if sampling["target_fps"] is None:
        raise SystemExit(f"{folder}: its sampling.json names no target_fps (the clip rate training used)")
    return float(sampling["target_fps"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True,
                        help="comma-separated save_pretrained folders written by training.train_bundled")
    parser.add_argument("--seeds", type=seed_list, default=seed_list("990011,990021,990031"),
                        help="comma-separated render seeds, one held-out set each (default 990011,990021,990031)")
    parser.add_argument("--clips-per-class", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.clips_per_class < 1:
        parser.error("--clips-per-class must be at least 1")
    folders = [Path(name) for name in args.models.split(",") if name]
    for folder in folders:
        if not (folder / "model.safetensors").is_file():
            parser.error(f"{folder} holds no model.safetensors")
    import torch

    torch.set_num_threads(args.threads)
    from runtime.world import ACTIONS

    print(f"{args.clips_per_class} clips per class ({args.clips_per_class * len(ACTIONS)} per seed), "
          f"render seeds {', '.join(map(str, args.seeds))}\n")
    print("| model | " + " | ".join(f"seed {s}" for s in args.seeds) +
          " | mean ± sd | pooled | twin confusion | rotating cw / acw |")
    print("|---|" + "---|" * (len(args.seeds) + 4))
    from training.data import world_clips

    @functools.lru_cache(maxsize=None)  # models of one input size and clip rate share each rendered set
    def render(seed, frames, size, fps):
        return world_clips(args.clips_per_class, frames, size, seed=seed, fps=fps)

    for folder in folders:
        runs = score(folder, args.seeds, render)
        accuracies = [r["accuracy"] for r in runs]
        spread = statistics.stdev(accuracies) if len(runs) > 1 else 0.0
        clips = sum(r["clips"] for r in runs)
        right = sum(r["right"] for r in runs)
        twins = statistics.fmean(r["twin_confusion"] for r in runs)
        cw = statistics.fmean(r["per_class"]["rotating clockwise"] for r in runs)
        acw = statistics.fmean(r["per_class"]["rotating anticlockwise"] for r in runs)
        print(f"| {folder} | " + " | ".join(f"{a:.1%}" for a in accuracies) +
              f" | {statistics.fmean(accuracies):.1%} ± {spread * 100:.1f} | {right}/{clips} | {twins:.1%} "
              f"| {cw:.0%} / {acw:.0%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
