"""Fine-tune the pretrained encoder into `VideoMAEForVideoClassification` and save the bundle.

The saved folder is a plain `save_pretrained` directory (safetensors, id2label/label2id in
config.json) plus the `VideoMAEImageProcessor` config that training's pixel values follow, so
`from_pretrained` and the exporter need nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from training import checkpoint as checkpoint_store
from training.config import ModelSpec
from training.data import batches, make_processor, pixel_values
from training.pretrain import warmup_cosine


def new_classifier(spec: ModelSpec, actions: tuple[str, ...], encoder=None, seed: int = 0):
    """A classifier over `actions`; its encoder copied from `encoder` (a VideoMAEModel) if given."""
    from transformers import VideoMAEForVideoClassification

    config = spec.videomae_config(
        num_labels=len(actions), id2label=dict(enumerate(actions)),
        label2id={name: i for i, name in enumerate(actions)})
    torch.manual_seed(seed)
    model = VideoMAEForVideoClassification(config)
    if encoder is not None:
        # strict: a key mismatch means the two configs drifted apart, which must not pass silently
        model.videomae.load_state_dict(encoder.state_dict(), strict=True)
    return model


PATCH_KEY = "videomae.embeddings.patch_embeddings.projection.weight"


def load_weights(model, folder: str | Path, spec: ModelSpec, new_grid: bool = False, new_layers: bool = False) -> str:
    """Load a save_pretrained classifier's weights into `model` (of `spec`); return how.

    The same shape loads as it is. A folder trained at a k-times smaller input with k-times smaller
    patches (the same token grid: VideoMAE's position table is a fixed sinusoid of the token index)
    loads with each patch weight spread over the k x k pixels it now covers, divided by k squared: on a
    frame upsampled k times the model then computes exactly what the folder's model computed on the
    frame itself, a warm start for training at the higher resolution.

    With `new_grid`, a folder of the same patch side at another input size loads too: every weight has
    the same shape (the position table is not a weight), but the sinusoid now indexes a larger or
    smaller token grid, so where a token sits is relearned by the fine-tune: a partial warm start,
    asked for by name.

    With `new_grid`, a folder whose tubelet is k times this spec's loads as well (the same input and
    patch side): each new tubelet frame takes the summed kernel of the k old frames it stands for,
    so a still scene embeds as before, and the k-times-finer slots sit at positions the fine-tune
    relearns.

    With `new_layers`, a folder with fewer encoder layers loads into the first of them, and each
    layer it lacks starts as the identity (`_identity_layers`): the deeper model computes exactly
    what the folder's computed, with room the fine-tune can use. It combines with the cases above."""
    from transformers import VideoMAEForVideoClassification

    source = VideoMAEForVideoClassification.from_pretrained(str(folder))
    state = source.state_dict()
    deeper, old_layers = "", source.config.num_hidden_layers
    if old_layers != spec.num_layers:
        state = _identity_layers(model, state, old_layers, folder, spec, new_layers)
        added = spec.num_layers - old_layers
        deeper = f"; {old_layers} saved layers, then {added} new {'one' if added == 1 else 'ones'} as the identity"
    old_tubelet = source.config.tubelet_size
    if old_tubelet != spec.tubelet_size:
        return _load_finer_tubelet(model, state, source.config, folder, spec, new_grid) + deeper
    old_patch, old_size = source.config.patch_size, source.config.image_size
    if (old_patch, old_size) == (spec.patch_size, spec.image_size):
        model.load_state_dict(state, strict=True)
        return "as saved" + deeper
    if new_grid and old_patch == spec.patch_size:
        model.load_state_dict(state, strict=True)
        old_side, side = old_size // old_patch, spec.image_size // spec.patch_size
        return (f"as saved on a new token grid ({old_side}x{old_side} -> {side}x{side} per slot; "
                f"positions relearned){deeper}")
    factor = spec.patch_size // old_patch
    if factor < 2 or spec.patch_size != factor * old_patch or spec.image_size != factor * old_size:
        raise ValueError(f"{folder}: image size {old_size} with patch {old_patch} is not a whole-number "
                         f"downscale of image size {spec.image_size} with patch {spec.patch_size}; "
                         "only the same token grid at k times the pixels can be warm-started "
                         "(or, asked for by name, the same patch side on a new grid)")
    weight = state[PATCH_KEY]
    state[PATCH_KEY] = weight.repeat_interleave(factor, -1).repeat_interleave(factor, -2) / factor ** 2
    model.load_state_dict(state, strict=True)
    return f"patch weights {old_patch} px spread over {spec.patch_size} px{deeper}"


LAYER_KEY = "videomae.encoder.layer."
# The two projections that write into the residual stream of a pre-norm VideoMAE layer: with both
# zero the layer adds nothing to its input, whatever its other weights are.
RESIDUAL_WRITERS = ("attention.output.dense.", "output.dense.")


def _identity_layers(model, state: dict, old_layers: int, folder, spec: ModelSpec, new_layers: bool) -> dict:
    """`state` with the layers `old_layers`..spec.num_layers-1 added after the saved ones: `model`'s
    own fresh weights, except that the projections writing into the residual stream are zero. The
    layers are not zeroed whole: their query, key and MLP input weights stay random, so the first
    gradient reaching a zeroed projection is not zero and the new layer starts to learn."""
    if not new_layers or old_layers > spec.num_layers:
        raise ValueError(f"{folder}: {old_layers} encoder layers cannot warm-start {spec.num_layers}: only a "
                         "model with fewer layers loads into a deeper one, and only asked for by name "
                         "(--init-new-layers)")
    state = dict(state)
    for key, value in model.state_dict().items():
        if not key.startswith(LAYER_KEY):
            continue
        index, rest = key[len(LAYER_KEY):].split(".", 1)
        if int(index) < old_layers:
            continue
        state[key] = torch.zeros_like(value) if rest.startswith(RESIDUAL_WRITERS) else value.clone()
    return state


def _load_finer_tubelet(model, state: dict, config, folder, spec: ModelSpec, new_grid: bool) -> str:
    old = config.tubelet_size
    factor = old // spec.tubelet_size
    if not new_grid or factor < 2 or old != factor * spec.tubelet_size or \
            (config.patch_size, config.image_size) != (spec.patch_size, spec.image_size):
        raise ValueError(f"{folder}: tubelet {old} at image size {config.image_size}, patch {config.patch_size} "
                         f"cannot warm-start tubelet {spec.tubelet_size} at image size {spec.image_size}, patch "
                         f"{spec.patch_size}: only a whole-number finer tubelet at the same input and patch "
                         "loads, and only asked for by name (--init-new-grid)")
    weight = state[PATCH_KEY]  # (hidden, channels, old tubelet, patch, patch)
    shape = weight.shape
    state[PATCH_KEY] = weight.view(shape[0], shape[1], spec.tubelet_size, factor, *shape[3:]).sum(dim=3)
    model.load_state_dict(state, strict=True)
    return (f"tubelet {old} kernels summed into tubelet {spec.tubelet_size} "
            f"({config.num_frames // old} -> {spec.temporal_slots} temporal slots; positions relearned)")


def finetune(model, spec: ModelSpec, epochs: int, data: Callable[[int], tuple[np.ndarray, np.ndarray]],
             batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
             label_smoothing: float = 0.1,
             on_epoch: Callable[[int, object], str] | None = None, group: int = 1,
             checkpoint: Path | None = None, checkpoint_every: int = 10) -> list[float]:
    """Train on `data(epoch)` -> (uint8 BGR clips or float32 pixel values, labels); a fresh draw per
    epoch augments. Every epoch draws the same data for the same epoch, so with `checkpoint` (a
    folder) a killed run resumes where its last checkpoint left it and ends as an unbroken one would
    (up to the batch order, seeded per epoch).

    `on_epoch(epoch, model)` may return a line to print after each epoch (e.g. a validation
    accuracy), so a long run shows whether it is still improving.
    """
    generator = torch.Generator()
    clips, labels = data(0)
    steps_per_epoch = -(-len(clips) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    schedule = warmup_cosine(optimizer, epochs * steps_per_epoch, steps_per_epoch)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    losses, first = [], 0
    if checkpoint_store.exists(checkpoint):
        first, losses = checkpoint_store.load(checkpoint, model, optimizer, schedule)
        tqdm.write(f"resumed from {checkpoint} at epoch {first + 1}/{epochs}")
    for epoch in range(first, epochs):
        generator.manual_seed(seed * 100_003 + epoch)
        if epoch:
            clips, labels = data(epoch)
        model.train()
        progress = tqdm(batches(clips, labels, batch_size, spec.image_size, generator, group=group),
                        total=steps_per_epoch, desc=f"finetune {epoch + 1}/{epochs}", leave=False)
        for values, target in progress:
            loss = loss_fn(model(pixel_values=values).logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            progress.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if on_epoch is not None:
            tqdm.write(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses[-steps_per_epoch:]):.3f} "
                       f"{on_epoch(epoch, model)}")
        if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs):
            checkpoint_store.save(checkpoint, model, optimizer, schedule, epoch + 1, losses)
    return losses


@torch.no_grad()
def predict(model, clips: np.ndarray, size: int, batch_size: int = 64) -> np.ndarray:
    model.eval()
    def values(part: np.ndarray) -> torch.Tensor:  # uint8 BGR clips, or float32 pixel values already made
        return torch.from_numpy(part) if part.dtype == np.float32 else pixel_values(part, size)

    out = [model(pixel_values=values(clips[i:i + batch_size])).logits.argmax(-1)
           for i in range(0, len(clips), batch_size)]
    return torch.cat(out).numpy()


def evaluate(predictions: np.ndarray, labels: np.ndarray, actions: tuple[str, ...],
             reversed_of: dict[str, str]) -> dict:
    """Accuracy and the count of right answers, per-class accuracy, and the twin confusion: the share
    of clips of an action that has a time-reversed twin which were predicted as that twin. Actions
    that are their own twin ("no action") are left out of the confusion: for them the twin is the
    right answer."""
    per_class = {name: float((predictions[labels == i] == i).mean())
                 for i, name in enumerate(actions) if (labels == i).any()}
    twin_hits, twin_total = 0, 0
    for i, name in enumerate(actions):
        if reversed_of.get(name, name) != name and (labels == i).any():
            twin = actions.index(reversed_of[name])
            twin_hits += int((predictions[labels == i] == twin).sum())
            twin_total += int((labels == i).sum())
    hits = predictions == labels
    return {"accuracy": float(hits.mean()), "per_class": per_class, "twin_confusion": twin_hits / max(1, twin_total),
            "clips": int(len(labels)), "right": int(hits.sum())}


def save_bundle(model, out: Path, spec: ModelSpec) -> Path:
    """save_pretrained (safetensors) + preprocessor_config.json in one folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    make_processor(spec.image_size, spec.full_frame).save_pretrained(out)
    # How the runtime must sample a camera to see what training saw; export reads this into the
    # artifact's manifest, so the robot never retypes it.
    (out / "sampling.json").write_text(json.dumps({"target_fps": spec.fps, "window_stride": 2}, indent=2) + "\n")
    return out
