"""A picture of masked reconstruction: frames, the tube mask over them, and what the model fills in.

Drawn with OpenCV (already a dependency) so no plotting library is needed. The model predicts
normalized patches (norm_pix_loss); they are mapped back to pixels with each patch's true mean
and std, as the VideoMAE authors do for their figures, so the picture shows structure and
motion, not the absolute brightness the loss never asked for. A model trained on raw pixels
predicts pixels, drawn as they are.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from training.config import ModelSpec
from training.data import IMAGE_MEAN, IMAGE_STD, pixel_values
from training.pretrain import _patches, make_mask, patch_targets, unpatchify

GRAY = 0.5


@torch.no_grad()
def reconstruct(model, clip_bgr: np.ndarray, spec: ModelSpec, kind: str, ratio: float,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB float [0, 1] (T, H, W, 3) videos: input, masked input, reconstruction."""
    model.eval()
    values = pixel_values(clip_bgr[None], spec.image_size)
    mask = make_mask(kind, 1, spec, ratio, torch.Generator().manual_seed(seed))
    logits = model(pixel_values=values, bool_masked_pos=mask).logits
    _, p_mean, p_std = patch_targets(values, spec, normalized=bool(model.config.norm_pix_loss))
    mean = torch.tensor(IMAGE_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 1, 3, 1, 1)
    patches = _patches(values * std + mean, spec.tubelet_size, spec.patch_size)
    if p_mean.ndim:  # normalized targets: back to pixels with each masked patch's own mean and std
        p_mean, p_std = p_mean[mask][None], p_std[mask][None]
    predicted = logits.view(1, -1, patches.shape[2], 3) * p_std + p_mean
    filled, hidden = patches.clone(), patches.clone()
    filled[mask] = predicted[0]
    hidden[mask] = GRAY

    def video(p: torch.Tensor) -> np.ndarray:
        return unpatchify(p, spec)[0].permute(0, 2, 3, 1).clamp(0, 1).numpy()

    return video(patches), video(hidden), video(filled)


def save_figure(rows: list[tuple[str, np.ndarray]], path: Path, frames: int = 8,
                scale: int = 2) -> Path:
    """Grid: one row per (title, RGB video), `frames` evenly spaced frames per row."""
    label_w, gap = 150, 2
    lines = []
    for title, video in rows:
        picks = np.linspace(0, len(video) - 1, frames).round().astype(int)
        tiles = [cv2.resize((video[i] * 255).astype(np.uint8), None, fx=scale, fy=scale,
                            interpolation=cv2.INTER_NEAREST) for i in picks]
        spacer = np.full((tiles[0].shape[0], gap, 3), 255, np.uint8)
        label = np.full((tiles[0].shape[0], label_w, 3), 255, np.uint8)
        for k, part in enumerate(title.split("\n")):
            cv2.putText(label, part, (4, 20 + 18 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0),
                        1, cv2.LINE_AA)
        strip = [label]
        for tile in tiles:
            strip += [tile, spacer]
        lines.append(np.concatenate(strip, axis=1))
        lines.append(np.full((gap, lines[-1].shape[1], 3), 255, np.uint8))
    image = np.concatenate(lines, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path
