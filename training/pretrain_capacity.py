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
import dataclasses
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from runtime.cli.args import seed_list
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
                  report_every: int = 100, encoder_norm: bool = False) -> list[tuple[int, float]]:
    """(step, loss as a share of the constant prediction) every `report_every` steps and at the end."""
    from training.data import pixel_values

    values = pixel_values(clips, spec.image_size)
    model = new_pretraining_model(spec, seed, pixel_loss, encoder_norm)
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
    for step in tqdm(range(1, steps + 1), desc="fit one batch", leave=False):
        loss = model(pixel_values=values, bool_masked_pos=mask).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % report_every == 0 or step == steps:
            shares.append((step, float(loss.detach()) / constant))
    return shares


def _names(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or any(name not in allowed for name in names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"takes distinct names of {', '.join(allowed)} separated by commas, "
                                         f"got {text!r}")
    return names


def _cell(values: list[float]) -> str:
    mean = float(np.mean(values))
    return f"{100 * mean:.1f}%" if len(values) == 1 else f"{100 * mean:.1f}% ± {100 * float(np.std(values, ddof=1)):.1f}"


def write_page(path: Path, rows: list[dict], args, command: str, spec) -> None:
    steps = [step for step, _ in rows[0]["shares"][0]]
    finals = {f"{r['scene']} ({r['mask']})": [shares[-1][1] for shares in r["shares"]] for r in rows}
    fitted = [name for name, values in finals.items() if max(values) < 0.5]
    stuck = [name for name, values in finals.items() if min(values) >= 0.5]
    mixed = [name for name in finals if name not in fitted and name not in stuck]
    table = "\n".join(
        f"| {r['scene']} | {r['mask']} | {r['pixel_loss']} | "
        + " | ".join(_cell([shares[at][1] for shares in r["shares"]]) for at in range(len(steps)))
        + f" | {r['seconds'] / 60 / len(r['shares']):.1f} |"
        for r in rows)
    seeds = ", ".join(map(str, args.seeds))
    spread = "" if len(args.seeds) == 1 else " (mean ± standard deviation over the seeds)"
    verdict = (f"Below half of the constant prediction by step {steps[-1]} on every seed: {', '.join(fitted) or 'none'}. "
               f"At or above it on every seed: {', '.join(stuck) or 'none'}."
               + (f" Below on some seeds only: {', '.join(mixed)}." if mixed else ""))
    path.write_text(f"""# Experiments: can the masked autoencoder fit one batch?

A check on the tube-vs-random grid ([EXPERIMENTS.md](EXPERIMENTS.md), other budgets beside it).

Reproduce (CPU; {args.threads} threads):

```
{command}
```

Date: {datetime.date.today().isoformat()}. `training.pretrain_capacity`: a fresh `VideoMAEForPreTraining` of the
{"tube-vs-random grid's shape" if spec == EXPERIMENT_SPEC else "grid's shape with another decoder"} ({spec.as_dict()}) trained on one fixed batch of {args.clips} clips under
one fixed mask at {args.ratio:.0%}, seeds {seeds} (each its own clips, model init and mask), AdamW at a fixed lr {args.lr:g} (the grid's betas, weight decay
and gradient clipping). Nothing but fitting is asked: the value is the batch's own masked-patch loss as a share of
the best prediction that ignores the clips (100%: nothing of their content used). Scenes:

- uniform: every clip one random colour; a masked patch equals any visible one (no position needed);
- halves: each clip's left and right halves two random colours; a masked patch needs the visible patches of its
  own side (routing by position);
- clean, full: the world's clips (`training.data.world_clips`, 8 frames at 7.5 fps) on a flat background, and
  with texture, grain, shake and distractors.

The control scenes are scored on raw pixels (their patches are flat, so normalized targets are all zero).
"+ encoder norm": a LayerNorm on the encoder's output before the decoder, as VideoMAE's own pretraining encoder
has; the grid's encoder has none (the HF model drops it when it shares the classifier's mean-pooling keys).

Values{spread}:

| scene | mask | pixels | {" | ".join(f"step {step}" for step in steps)} | minutes per run |
|---|---|---|{"---|" * len(steps)}---|
{table}

{verdict}
""")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=lambda text: _names(text, SCENES), default=list(SCENES),
                        help=f"comma-separated, of {', '.join(SCENES)} (default: all)")
    parser.add_argument("--masks", type=lambda text: _names(text, ("random", "tube")), default=["random"],
                        help="comma-separated mask kinds, each run on every world scene (the control scenes take "
                             "the first: their clips do not move, so the kind changes nothing)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--clips", type=int, default=32, help="clips in the one batch")
    parser.add_argument("--ratio", type=float, default=0.75)
    parser.add_argument("--pixel-loss", choices=PIXEL_LOSSES, default="normalized",
                        help="targets of the world scenes (the control scenes always take raw pixels)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=seed_list, default=[0],
                        help="comma-separated seeds; each draws its own clips, model init and mask (default 0)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decoder-hidden-size", type=int, default=EXPERIMENT_SPEC.decoder_hidden_size,
                        help="the decoder's width (default: the grid's)")
    parser.add_argument("--decoder-layers", type=int, default=EXPERIMENT_SPEC.decoder_layers,
                        help="the decoder's depth (default: the grid's)")
    parser.add_argument("--encoder-norm", action="store_true",
                        help="also run every world scene and mask with a LayerNorm on the encoder's output (VideoMAE's "
                             "own pretraining encoder has one; the grid's, sharing the classifier's keys, does not)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as a markdown page here")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.clips < 1:
        parser.error("--steps and --clips must be at least 1")
    if not 0 < args.ratio < 1:
        parser.error(f"--ratio must be between 0 and 1, got {args.ratio}")
    if args.decoder_hidden_size < 1 or args.decoder_hidden_size % EXPERIMENT_SPEC.decoder_heads or args.decoder_layers < 1:
        parser.error(f"--decoder-hidden-size must be a positive multiple of the decoder's "
                     f"{EXPERIMENT_SPEC.decoder_heads} heads and --decoder-layers at least 1")
    spec = dataclasses.replace(EXPERIMENT_SPEC, decoder_hidden_size=args.decoder_hidden_size,
                               decoder_layers=args.decoder_layers)
    torch.set_num_threads(args.threads)
    every = max(1, args.steps // 4)
    print(f"one batch of {args.clips} clips, one mask at {args.ratio:.0%}, lr {args.lr:g}, seeds {args.seeds}: "
          "masked-patch loss as a share of the batch's constant prediction")
    rows = []
    for scene in args.scenes:
        world = scene in ("clean", "full")
        pixel_loss = args.pixel_loss if world else "raw"
        norms = (False, True) if world and args.encoder_norm else (False,)
        for mask in (args.masks if world else args.masks[:1]):
            for norm in norms:
                row = {"scene": scene, "mask": mask + (" + encoder norm" if norm else ""),
                       "pixel_loss": pixel_loss, "shares": [], "seconds": 0.0}
                for seed in args.seeds:
                    started = time.time()
                    shares = fit_one_batch(scene_clips(scene, args.clips, spec, seed=seed), args.steps, mask,
                                           args.ratio, pixel_loss, args.lr, seed, spec=spec, report_every=every,
                                           encoder_norm=norm)
                    row["shares"].append(shares)
                    row["seconds"] += time.time() - started
                    line = ", ".join(f"step {step} {100 * share:.1f}%" for step, share in shares)
                    print(f"  {scene}, {row['mask']} ({pixel_loss} pixels), seed {seed}: {line} "
                          f"({time.time() - started:.0f} s)", flush=True)
                rows.append(row)
    if args.out is not None:
        command = "python -m training.pretrain_capacity " + " ".join(argv if argv is not None else sys.argv[1:])
        write_page(args.out, rows, args, command.strip(), spec)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
