"""Can the experiments' masked autoencoder fit its task at all? One batch, one mask, many steps.

The tube-vs-random grid (training.experiments) ends every cell at 95-100% of the loss of a
prediction that ignores the clip, on held-out clips. That alone does not say whether the budget is
short or the task is out of the model's reach. This trains a fresh pretraining model of the grid's
shape on one fixed batch under one fixed mask, so nothing but fitting is asked, and reports the
masked-patch loss as a share of that batch's constant prediction (100%: nothing of the clips'
content used). Control scenes tell the model's reach apart:

- "uniform": every clip one random colour: a masked patch is any visible patch (no position needed);
  the control scenes are scored on raw pixels (their patches are flat: normalized targets are all zero);
- "halves": the left and right halves of each clip two random colours: a masked patch needs the
  visible patches of its own side, i.e. routing by position;
- "clean" and "full": the world's clips as the grid renders them (training.data.world_clips).

    python -m training.pretrain_capacity --steps 400
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from training.pretrain import PIXEL_LOSSES, make_mask, new_pretraining_model, patch_targets
from training.seed_runs import EXPERIMENT_SPEC

SCENES = ("uniform", "halves", "clean", "full")


def scene_clips(scene: str, count: int, spec=EXPERIMENT_SPEC, seed: int = 0) -> np.ndarray:
    """`count` uint8 BGR clips (count, frames, size, size, 3) of `scene`."""
    from training.data import world_clips

    size, frames = spec.image_size, spec.num_frames
    if scene in ("clean", "full"):
        per_class = -(-count // 11)
        clips, _ = world_clips(per_class, frames, size, seed=seed, fps=spec.fps,
                               clean_fraction=1.0 if scene == "clean" else 0.0)
        return clips[:count]
    if scene not in SCENES:
        raise ValueError(f"scene must be one of {SCENES}, got {scene!r}")
    rng = np.random.default_rng(seed)
    clips = np.empty((count, frames, size, size, 3), np.uint8)
    for clip in clips:
        clip[...] = rng.integers(0, 256, 3)
        if scene == "halves":
            clip[:, :, size // 2:] = rng.integers(0, 256, 3)
    return clips


def fit_one_batch(clips: np.ndarray, steps: int, mask_kind: str = "random", ratio: float = 0.75,
                  pixel_loss: str = "normalized", lr: float = 1e-3, seed: int = 0, spec=EXPERIMENT_SPEC,
                  report_every: int = 100) -> list[tuple[int, float]]:
    """(step, loss as a share of the constant prediction) every `report_every` steps and at the end."""
    from training.data import pixel_values

    values = pixel_values(clips, spec.image_size)
    model = new_pretraining_model(spec, seed, pixel_loss)
    mask = make_mask(mask_kind, len(clips), spec, ratio, torch.Generator().manual_seed(seed))
    targets, _, _ = patch_targets(values, spec, pixel_loss == "normalized")
    masked = targets[mask].reshape(len(clips), -1, targets.shape[-1])
    constant = float((masked - masked.mean(dim=(0, 1), keepdim=True)).pow(2).mean())
    if pixel_loss == "normalized":
        raw, _, _ = patch_targets(values, spec, normalized=False)
        if float(raw.view(*raw.shape[:2], -1, 3).std(dim=2).max()) < 1e-4:
            raise ValueError("every patch is flat (the control scenes), so normalized targets are all zero up to "
                             "rounding: use pixel_loss='raw'")
    # the grid's optimizer settings (training.pretrain.pretrain), without its schedule: a fixed rate
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
    shares = []
    model.train()
    for step in range(1, steps + 1):
        loss = model(pixel_values=values, bool_masked_pos=mask).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % report_every == 0 or step == steps:
            shares.append((step, float(loss.detach()) / constant))
    return shares


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", default=",".join(SCENES),
                        help=f"comma-separated, of {', '.join(SCENES)}")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--clips", type=int, default=32, help="clips in the one batch")
    parser.add_argument("--mask", choices=("random", "tube"), default="random")
    parser.add_argument("--ratio", type=float, default=0.75)
    parser.add_argument("--pixel-loss", choices=PIXEL_LOSSES, default="normalized")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
    unknown = [s for s in scenes if s not in SCENES]
    if unknown or not scenes:
        parser.error(f"--scenes takes names of {', '.join(SCENES)}, got {args.scenes!r}")
    if args.steps < 1 or args.clips < 1:
        parser.error("--steps and --clips must be at least 1")
    torch.set_num_threads(args.threads)
    every = max(1, args.steps // 4)
    print(f"one batch of {args.clips} clips, one {args.mask} mask at {args.ratio:.0%}, {args.pixel_loss} pixels, "
          f"lr {args.lr:g}, seed {args.seed}: masked-patch loss as a share of the batch's constant prediction")
    for scene in scenes:
        started = time.time()
        # the control scenes' patches are flat, so normalized targets would all be zero
        pixel_loss = args.pixel_loss if scene in ("clean", "full") else "raw"
        shares = fit_one_batch(scene_clips(scene, args.clips, seed=args.seed), args.steps, args.mask,
                               args.ratio, pixel_loss, args.lr, args.seed, report_every=every)
        line = ", ".join(f"step {step} {100 * share:.1f}%" for step, share in shares)
        print(f"  {scene} ({pixel_loss} pixels): {line} ({time.time() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
