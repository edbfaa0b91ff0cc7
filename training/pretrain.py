"""Masked-autoencoder pretraining with `transformers.VideoMAEForPreTraining`.

The HF model does what the seed sketch got wrong: it encodes the visible tokens only, gives the
decoder mask tokens (plus position embeddings) for every masked position, and takes the loss on
the masked tokens only. We supply `bool_masked_pos` from `training.masking`; every row masks the
same number of tokens, which the model needs to reshape per row. `patch_targets` recomputes its
normalized-pixel targets so tests and figures can check and invert them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from training import checkpoint as checkpoint_store
from training.config import ModelSpec
from training.data import IMAGE_MEAN, IMAGE_STD, pixel_values
from training.masking import random_mask, tube_mask

MASKS = {"tube": tube_mask, "random": random_mask}
# "normalized": targets normalized per patch and channel (VideoMAE's norm_pix_loss): structure, not
# brightness, and sensor grain in a flat patch becomes as loud as an edge. "raw": the patches'
# pixels in [0, 1], so a patch the actor barely touches costs little.
PIXEL_LOSSES = ("normalized", "raw")


def make_mask(kind: str, batch: int, spec: ModelSpec, ratio: float,
              generator: torch.Generator | None = None) -> torch.Tensor:
    if kind not in MASKS:
        raise ValueError(f"mask kind must be one of {sorted(MASKS)}, got {kind!r}")
    return MASKS[kind](batch, spec.temporal_slots, spec.patches_per_slot, ratio, generator)


def new_pretraining_model(spec: ModelSpec, seed: int, pixel_loss: str = "normalized", encoder_norm: bool = False):
    """encoder_norm: a LayerNorm on the encoder's output before the decoder, as VideoMAE's own
    pretraining encoder has. Without it (the default, so the encoder's keys are the classifier's:
    the HF model drops that norm when `use_mean_pooling` is set) the decoder reads the residual
    stream unnormalized."""
    from transformers import VideoMAEForPreTraining

    if pixel_loss not in PIXEL_LOSSES:
        raise ValueError(f"pixel_loss must be one of {PIXEL_LOSSES}, got {pixel_loss!r}")
    config = spec.videomae_config(norm_pix_loss=pixel_loss == "normalized")
    config.use_mean_pooling = not encoder_norm
    torch.manual_seed(seed)
    return VideoMAEForPreTraining(config)


def _patches(values: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """(B, T, C, H, W) -> (B, N, tubelet*patch*patch, C) in token order (see masking)."""
    b, t, c, h, w = values.shape
    x = values.view(b, t // tubelet, tubelet, c, h // patch, patch, w // patch, patch)
    x = x.permute(0, 1, 4, 6, 2, 5, 7, 3).contiguous()
    return x.view(b, -1, tubelet * patch * patch, c)


def patch_targets(values: torch.Tensor, spec: ModelSpec, normalized: bool = True) -> tuple[torch.Tensor, ...]:
    """Targets (B, N, D) as the HF model builds them, plus per-patch mean, std.

    Targets are pixels in [0, 1], normalized per patch and channel with `normalized`
    (norm_pix_loss), so the mean and std are returned to map a prediction back to pixels; without
    it they are the pixels themselves (mean 0, std 1 map them back unchanged).
    """
    mean = torch.tensor(IMAGE_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 1, 3, 1, 1)
    patches = _patches(values * std + mean, spec.tubelet_size, spec.patch_size)
    if not normalized:
        return patches.flatten(2), torch.zeros(()), torch.ones(())
    p_mean = patches.mean(dim=-2, keepdim=True)
    p_std = patches.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6
    normed = (patches - p_mean) / p_std
    return normed.flatten(2), p_mean, p_std


def unpatchify(patches: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """(B, N, tubelet*patch*patch, C) -> (B, T, C, H, W); the inverse of `_patches`."""
    b = patches.shape[0]
    n = spec.image_size // spec.patch_size
    x = patches.view(b, spec.temporal_slots, n, n, spec.tubelet_size, spec.patch_size,
                     spec.patch_size, 3)
    x = x.permute(0, 1, 4, 7, 2, 5, 3, 6).contiguous()
    return x.view(b, spec.num_frames, 3, spec.image_size, spec.image_size)


def pretrain_step(model, optimizer, values: torch.Tensor, mask: torch.Tensor) -> float:
    model.train()
    loss = model(pixel_values=values, bool_masked_pos=mask).loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach())


def warmup_cosine(optimizer, total_steps: int, warmup_steps: int):
    """Linear warm-up then cosine decay to 1% of the peak, stepped once per batch."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def pretrain(model, clips: np.ndarray, spec: ModelSpec, steps: int, batch_size: int = 32,
             lr: float = 1.5e-3, mask_kind: str = "tube", ratio: float = 0.9, seed: int = 0,
             desc: str = "pretrain", checkpoint: Path | None = None, checkpoint_every: int = 250,
             on_checkpoint: Callable[[int, object], None] | None = None) -> list[float]:
    """Pretrain on random batches of uint8 BGR `clips`; returns the loss of every step.

    Each step draws its batch and mask from a generator seeded by (seed, step), so with
    `checkpoint` (a folder) a killed run resumes at its last checkpoint and ends exactly as an
    unbroken one would. `on_checkpoint(step, model)` runs after every checkpoint (and at the end):
    a long run can be evaluated along the way.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95),
                                  weight_decay=0.05)
    schedule = warmup_cosine(optimizer, steps, max(1, steps // 10))
    losses, first = [], 0
    if checkpoint_store.exists(checkpoint):
        first, losses = checkpoint_store.load(checkpoint, model, optimizer, schedule)
        tqdm.write(f"{desc}: resumed from {checkpoint} at step {first}/{steps}")
    generator = torch.Generator()
    progress = tqdm(range(first, steps), desc=desc, leave=False, initial=first, total=steps)
    for step in progress:
        generator.manual_seed(seed * 1_000_003 + step)
        index = np.sort(torch.randint(len(clips), (batch_size,), generator=generator).numpy())
        values = pixel_values(clips[index], spec.image_size)
        mask = make_mask(mask_kind, batch_size, spec, ratio, generator)
        losses.append(pretrain_step(model, optimizer, values, mask))
        schedule.step()
        progress.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        done = step + 1
        if done % checkpoint_every == 0 or done == steps:
            # the callback first: a run killed between the two redoes these steps and the callback
            # (the same numbers again) rather than resuming past a callback that never ran
            if on_checkpoint is not None:
                on_checkpoint(done, model)
            if checkpoint is not None:
                checkpoint_store.save(checkpoint, model, optimizer, schedule, done, losses)
    return losses


@torch.no_grad()
def reconstruction_loss(model, clips: np.ndarray, spec: ModelSpec, mask_kind: str,
                        ratio: float, seed: int = 0, batch_size: int = 64) -> float:
    """Mean masked-patch loss (normalized pixels) on `clips`, with a seeded mask per batch."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(clips), batch_size):
        values = pixel_values(clips[start:start + batch_size], spec.image_size)
        mask = make_mask(mask_kind, len(values), spec, ratio, generator)
        total += float(model(pixel_values=values, bool_masked_pos=mask).loss) * len(values)
        count += len(values)
    return total / count


@torch.no_grad()
def noise_floor(noisy: np.ndarray, clean: np.ndarray, spec: ModelSpec, normalized: bool = True) -> float:
    """The masked-patch loss of an oracle that knows every clip without its sensor noise.

    With normalized targets the grain is most of what is left in a flat patch: this is the part
    of the loss no model can remove (the mask does not matter: it is independent of the pixels,
    so the mean over all patches is the expected mean over masked ones).
    """
    mean = torch.tensor(IMAGE_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 1, 3, 1, 1)
    target, p_mean, p_std = patch_targets(pixel_values(noisy, spec.image_size), spec, normalized)
    truth = _patches(pixel_values(clean, spec.image_size) * std + mean, spec.tubelet_size, spec.patch_size)
    return float((((truth - p_mean) / p_std).flatten(2) - target).pow(2).mean())


@torch.no_grad()
def constant_prediction_loss(clips: np.ndarray, spec: ModelSpec, normalized: bool = True) -> float:
    """The masked-patch loss of the best prediction that ignores the clip: the same target for
    every patch (the targets' mean), i.e. the targets' variance. Where a model that has learned
    nothing of the clips' content sits: about 1.0 for normalized targets where every patch has
    texture or grain, in a flat world the share of patches something crosses."""
    target, _, _ = patch_targets(pixel_values(clips, spec.image_size), spec, normalized)
    return float((target - target.mean(dim=(0, 1), keepdim=True)).pow(2).mean())
