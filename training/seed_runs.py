"""Tube vs random masking over several seeds, one resumable cell at a time.

A cell is one pretraining run: (mask kind, ratio, seed), or the random-init encoder of a seed
("none"), the floor every pretrained encoder is measured against. Its folder under the work
directory holds the pretraining checkpoint (`training.checkpoint`: safetensors and JSON, nothing
pickled) and result.json: the evaluations at each milestone of the run and the twin fine-tune at
its end. A rerun with the same arguments reads finished cells back and resumes an unfinished one
from its last checkpoint, so the grid can run for hours across restarts.

Every encoder is measured the same way on held-out clips:
- masked-patch reconstruction loss with its own mask kind and with tube masking (random masking
  leaves the same patch visible in a neighbouring slot, so its own loss is not comparable);
- a linear probe over all actions on frozen mean-pooled features;
- the temporal-order probe: a linear probe telling each action from its time-reversed twin;
- a twin fine-tune: the whole encoder trained with a head over the ten actions that have a twin,
  each training clip beside its own reversal (so temporal order is the only cue that separates
  the two), then held-out accuracy and order accuracy (the true action's logit above its twin's);
- the final encoder's token geometry (`training.probes.geometry_of`): how alike the tokens of one
  clip are, and how many directions tokens and clips spread along.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from training.config import ModelSpec
from training.data import pixel_values, with_reversed, world_clips
from training.finetune import finetune, new_classifier
from training.pretrain import (PIXEL_LOSSES, constant_prediction_loss, new_pretraining_model, noise_floor, pretrain,
                               reconstruction_loss)
from training.probes import features, linear_probe, token_geometry, twin_probe

CELLS = (("tube", 0.75), ("tube", 0.9), ("random", 0.75), ("random", 0.9))
NO_PRETRAINING = "none"
HELDOUT_SEED = 990_002
HELDOUT_PER_CLASS = 20
# Four temporal slots (tubelet 2 of 8 frames) so that random masking can leave a patch visible in
# a neighbouring slot while tube masking cannot: the difference the experiment is about. Patch 8
# so a masked patch is part of the actor or the background, not both at once.
EXPERIMENT_SPEC = ModelSpec(patch_size=8, tubelet_size=2)
# "full": the world the bundled model sees (textured background, grain, shake, distractors).
# "clean": the same actors and motions on a flat grey background with none of those, so the
# masked-patch loss is all actor: what masking can teach about motion, apart from the clutter.
WORLDS = ("full", "clean")
# The twin fine-tune's learning rate in every cell; `run_cell`'s finetune_runs adds others (and longer
# fine-tunes), each from the same encoder, to tell an encoder that holds no cue from one the
# fine-tune recipe fails to use.
FINETUNE_LR = 1e-3


def run_key(lr: float, epochs: int | None = None) -> str:
    """'0.0003' (the budget's epochs) or '0.003x60': a fine-tune as result.json keys it."""
    return f"{lr:g}" if epochs is None else f"{lr:g}x{epochs}"


def parse_run_key(key: str) -> tuple[float, int | None]:
    """The inverse of `run_key`: (learning rate, epochs or None for the budget's)."""
    rate, _, epochs = key.partition("x")
    return float(rate), int(epochs) if epochs else None


@dataclass(frozen=True)
class Budget:
    """What every cell gets; a work folder holds runs of one budget only."""

    steps: int = 1500
    batch: int = 32
    evaluations: int = 4          # milestones along the pretraining, steps / evaluations apart
    finetune_epochs: int = 15
    clips_per_class: int = 40     # pretraining clips; the probe and fine-tune clips are half that
    world: str = "full"           # one of WORLDS, for every clip of the cell
    pixel_loss: str = "normalized"  # one of training.pretrain.PIXEL_LOSSES

    def __post_init__(self):
        if self.world not in WORLDS:
            raise ValueError(f"world must be one of {WORLDS}, got {self.world!r}")
        if self.pixel_loss not in PIXEL_LOSSES:
            raise ValueError(f"pixel_loss must be one of {PIXEL_LOSSES}, got {self.pixel_loss!r}")

    @property
    def normalized(self) -> bool:
        return self.pixel_loss == "normalized"

    def variant(self) -> str:
        """'' for the full world and normalized targets, else e.g. '-clean-raw': what tells this
        budget's work folder, page and figure apart from the standard grid's."""
        return "".join(f"-{value}" for value in (self.world, self.pixel_loss) if value not in ("full", "normalized"))

    def milestone_every(self) -> int:
        return max(1, self.steps // self.evaluations)


def seed_data(seed: int, spec: ModelSpec, budget: Budget) -> dict:
    """The clips of one seed: pretraining, probe/fine-tune training, and the shared held-out set."""
    from runtime.world import make_clips

    base = seed * 1000 + 500  # apart from train_bundled's seeds
    size, frames, fps = spec.image_size, spec.num_frames, spec.fps
    clean = 1.0 if budget.world == "clean" else 0.0
    data = {"pretrain": world_clips(budget.clips_per_class, frames, size, seed=base, fps=fps,
                                    clean_fraction=clean),
            "probe_train": world_clips(budget.clips_per_class // 2, frames, size, seed=base + 1, fps=fps,
                                       clean_fraction=clean),
            "heldout": world_clips(HELDOUT_PER_CLASS, frames, size, seed=HELDOUT_SEED, fps=fps,
                                   clean_fraction=clean)}
    # The same held-out clips without sensor grain: what an oracle would predict (the loss floor;
    # the clean world has no grain, so there its clips are their own oracle).
    grainless = (data["heldout"][0] if clean else
                 make_clips(HELDOUT_PER_CLASS, frames, size, size, seed=HELDOUT_SEED, fps=fps, noise=False)[0])
    data["noise_floor"] = noise_floor(data["heldout"][0], grainless, spec, budget.normalized)
    # ... and the loss of the best prediction that ignores the clip: where a model that has learned
    # nothing of the clips' content sits
    data["constant_loss"] = constant_prediction_loss(data["heldout"][0], spec, budget.normalized)
    return data


def probe_scores(encoder, data: dict, spec: ModelSpec) -> dict:
    from runtime.world import ACTIONS, REVERSED

    train_x = features(encoder, data["probe_train"][0], spec.image_size)
    test_x = features(encoder, data["heldout"][0], spec.image_size)
    train_y, test_y = data["probe_train"][1], data["heldout"][1]
    return {"probe": linear_probe(train_x, train_y, test_x, test_y),
            "twin": twin_probe(train_x, train_y, test_x, test_y, ACTIONS, REVERSED)}


def twin_finetune(encoder, data: dict, spec: ModelSpec, epochs: int, seed: int,
                  lr: float = FINETUNE_LR) -> dict:
    """Fine-tune a copy of `encoder` on the ten twinned actions, every clip beside its reversal."""
    from runtime.world import ACTIONS, REVERSED

    twinned = tuple(a for a in ACTIONS if REVERSED[a] != a)
    to_twinned = {ACTIONS.index(a): i for i, a in enumerate(twinned)}
    twin_of = {i: twinned.index(REVERSED[a]) for i, a in enumerate(twinned)}

    def only_twinned(clips, labels):
        keep = np.isin(labels, list(to_twinned))
        return clips[keep], np.array([to_twinned[int(y)] for y in labels[keep]], np.int64)

    train = with_reversed(*only_twinned(*data["probe_train"]), twin_of)
    model = new_classifier(spec, twinned, encoder=encoder, seed=seed)
    started = time.time()
    losses = finetune(model, spec, epochs, lambda epoch: train, lr=lr, seed=seed, group=2)
    clips, labels = only_twinned(*data["heldout"])
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(pixel_values=pixel_values(clips[i:i + 64], spec.image_size)).logits
                            for i in range(0, len(clips), 64)]).numpy()
    rows = np.arange(len(labels))
    twins = np.array([twin_of[int(y)] for y in labels])
    return {"accuracy": float((logits.argmax(1) == labels).mean()),
            "order": float((logits[rows, labels] > logits[rows, twins]).mean()),
            "loss": [float(np.mean(losses[:10])), float(np.mean(losses[-10:]))],
            "minutes": (time.time() - started) / 60}


def _write_json(path: Path, value: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=1))
    os.replace(temporary, path)  # a run killed mid-write keeps the last whole result


def cell_label(kind: str, ratio: float | None) -> str:
    """'none', 'tube-90': a cell as --cells names it."""
    return kind if ratio is None else f"{kind}-{round(ratio * 100)}"


def cell_name(kind: str, ratio: float | None, seed: int) -> str:
    return f"{cell_label(kind, ratio)}-seed{seed}"


def run_cell(kind: str, ratio: float | None, seed: int, budget: Budget, spec: ModelSpec,
             work: Path, data: dict, finetune_runs: tuple = ()) -> tuple[dict, object]:
    """One cell to its end, resuming what `work` already holds; returns (result, pretraining model).

    Each of `finetune_runs`, a learning rate or (learning rate, epochs), other than the cell's own
    (FINETUNE_LR for the budget's epochs) adds a twin fine-tune from the same final encoder, kept
    under result["finetune_lr"] by `run_key` (so the budget, and a finished cell's own numbers, stay
    as they were: a later run can add fine-tunes to finished cells)."""
    folder = Path(work) / cell_name(kind, ratio, seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "result.json"
    fresh = {"kind": kind, "ratio": ratio, "seed": seed, "budget": asdict(budget),
             "spec": spec.as_dict(), "milestones": {}, "minutes": 0.0}
    result = json.loads(path.read_text()) if path.is_file() else fresh
    for key in ("budget", "spec"):
        if result[key] != fresh[key]:
            raise ValueError(f"{folder} holds a run with {key} {result[key]}, not {fresh[key]}: "
                             "give this budget its own --work folder")
    model = new_pretraining_model(spec, seed, budget.pixel_loss)
    if kind == NO_PRETRAINING and "0" not in result["milestones"]:
        result["milestones"]["0"] = {"rec_same": None, "rec_tube": None,
                                     **probe_scores(model.videomae, data, spec)}
    elif kind != NO_PRETRAINING:
        minutes_before, started = result["minutes"], time.time()

        def evaluate(step: int, trained) -> None:
            heldout = data["heldout"][0]
            result["milestones"][str(step)] = {
                "rec_same": reconstruction_loss(trained, heldout, spec, kind, ratio, seed=seed),
                "rec_tube": reconstruction_loss(trained, heldout, spec, "tube", ratio, seed=seed),
                **probe_scores(trained.videomae, data, spec)}
            result["minutes"] = minutes_before + (time.time() - started) / 60
            _write_json(path, result)

        pretrain(model, data["pretrain"][0], spec, budget.steps, budget.batch, mask_kind=kind,
                 ratio=ratio, seed=seed, desc=cell_name(kind, ratio, seed),
                 checkpoint=folder / "checkpoint", checkpoint_every=budget.milestone_every(),
                 on_checkpoint=evaluate)
    if "finetune" not in result:
        result["finetune"] = twin_finetune(model.videomae, data, spec, budget.finetune_epochs, seed)
    if "geometry" not in result:  # of the final encoder; seconds, so finished cells get it on any rerun
        result["geometry"] = token_geometry(model.videomae, data["heldout"][0], spec.image_size)
    _write_json(path, result)
    for run in finetune_runs:
        lr, epochs = run if isinstance(run, tuple) else (run, None)
        epochs = None if epochs == budget.finetune_epochs else epochs
        key = run_key(lr, epochs)
        if key != run_key(FINETUNE_LR) and key not in result.setdefault("finetune_lr", {}):
            result["finetune_lr"][key] = twin_finetune(model.videomae, data, spec, epochs or budget.finetune_epochs,
                                                       seed, lr=lr)
            _write_json(path, result)  # one at a time: an interrupted sweep keeps what it did
    return result, model


ALL_CELLS = ((NO_PRETRAINING, None), *CELLS)


def run_grid(seeds: list[int], budget: Budget, work: Path, spec: ModelSpec = EXPERIMENT_SPEC,
             on_cell=None, cells=ALL_CELLS, finetune_runs: tuple = ()) -> tuple[list[dict], dict]:
    """`cells` (default: all) of every seed, seed by seed (an interrupted grid has whole seeds
    first). Processes given different cells can share one `work` folder and run side by side.

    Returns the results and, for the figure, seed `seeds[0]`'s data and trained models."""
    results, first = [], {}
    for seed in seeds:
        data = seed_data(seed, spec, budget)
        for kind, ratio in cells:
            result, model = run_cell(kind, ratio, seed, budget, spec, work, data, finetune_runs)
            results.append(result)
            if on_cell is not None:
                on_cell(result)
            if seed == seeds[0]:
                first.setdefault("data", data)
                first.setdefault("models", {})[(kind, ratio)] = model
    return results, first


def read_results(work: Path, seeds: list[int], budget: Budget, spec: ModelSpec) -> list[dict]:
    """The result.json of every cell of `seeds` that `work` holds for this budget (finished or not)."""
    results = []
    for seed in seeds:
        for kind, ratio in ALL_CELLS:
            path = Path(work) / cell_name(kind, ratio, seed) / "result.json"
            if path.is_file():
                result = json.loads(path.read_text())
                if result["budget"] == asdict(budget) and result["spec"] == spec.as_dict():
                    results.append(result)
    return results
