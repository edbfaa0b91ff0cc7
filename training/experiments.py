"""The seed's exercises, for real: `python -m training.experiments --seeds 0,1,2 --steps 2000`.

Pretrains the same small VideoMAE under the same budget for tube and random masking at 75% and
90%, for each of several seeds, and measures each encoder against the random-init one of its seed
(`training.seed_runs`: reconstruction, linear and temporal-order probes, a twin fine-tune). Every
cell is checkpointed under --work: the same command after an interruption resumes where it
stopped, and once all cells are done it only rewrites the page. Also draws
docs/experiments_reconstruction.png and, unless --pair-epochs 0, the twin-pair studies.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np
import torch

from runtime.cli.args import non_negative_int, positive_int, seed_list
from training.config import ModelSpec
from training.figure import reconstruct, save_figure
from training.pretrain import PIXEL_LOSSES
from training.seed_runs import (ALL_CELLS, CELLS, EXPERIMENT_SPEC, FINETUNE_LR, HELDOUT_PER_CLASS, HELDOUT_SEED,
                                NO_PRETRAINING, WORLDS, Budget, cell_label, parse_run_key, read_results, run_grid,
                                run_key)

RUNS = CELLS
METRICS = (("rec_same", "rec. loss, own mask", "loss"), ("rec_tube", "rec. loss, tube mask", "loss"),
           ("probe", "linear probe", "share"), ("twin", "temporal-order probe", "share"),
           ("ft_accuracy", "fine-tune accuracy", "share"), ("ft_order", "fine-tune order", "share"))
UNITS = {metric: unit for metric, _, unit in METRICS}
# held-out clips behind each accuracy: all eleven actions for the linear probe, the ten with a twin
# for the rest
HELDOUT_CLIPS = {"probe": 11 * HELDOUT_PER_CLASS, "twin": 10 * HELDOUT_PER_CLASS,
                 "ft_accuracy": 10 * HELDOUT_PER_CLASS, "ft_order": 10 * HELDOUT_PER_CLASS}


def summary_row(result: dict) -> dict:
    """A cell's final numbers, flat: its last milestone and its fine-tune."""
    last = result["milestones"][max(result["milestones"], key=int)]
    return {**last, "ft_accuracy": result["finetune"]["accuracy"],
            "ft_order": result["finetune"]["order"], "minutes": result["minutes"],
            "ft_minutes": result["finetune"]["minutes"]}


def group(results: list[dict]) -> dict:
    """(kind, ratio) -> {metric: [value per seed]} over the finished cells."""
    cells: dict = {}
    for result in results:
        if "finetune" not in result:
            continue
        row = summary_row(result)
        entry = cells.setdefault((result["kind"], result["ratio"]), {"seeds": []})
        entry["seeds"].append(result["seed"])
        for key, value in row.items():
            entry.setdefault(key, []).append(value)
    return cells


def _spread(values, kind: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    # raw-pixel losses are a few thousandths: three decimals would show every cell as 0.004 ± 0.000
    scale, fmt = ((100, "{:.1f}") if kind == "share" else
                  (1, "{:.3f}") if abs(np.mean(values)) >= 0.1 else (1, "{:.5f}"))
    mean = fmt.format(np.mean(values) * scale)
    if len(values) == 1:
        return mean + ("%" if kind == "share" else "")
    sd = fmt.format(np.std(values, ddof=1) * scale)
    unit = "%" if kind == "share" else ""
    return f"{mean}{unit} ± {sd}"


def _label(kind: str, ratio) -> tuple[str, str]:
    return ("random init", "–") if kind == NO_PRETRAINING else (kind, f"{ratio:.0%}")


def results_table(cells: dict) -> str:
    lines = ["| pretraining mask | ratio | seeds | " + " | ".join(m[1] for m in METRICS)
             + " | minutes per run |", "|---" * (len(METRICS) + 4) + "|"]
    for key in ((NO_PRETRAINING, None), *CELLS):
        if key not in cells:
            continue
        entry = cells[key]
        kind, ratio = _label(*key)
        values = " | ".join(_spread(entry[m], unit) for m, _, unit in METRICS)
        minutes = np.mean(entry["minutes"]) + np.mean(entry["ft_minutes"])
        lines.append(f"| {kind} | {ratio} | {len(entry['seeds'])} | {values} | {minutes:.1f} |")
    return "\n".join(lines)


def curve_table(results: list[dict]) -> str:
    """The probes along the pretraining, mean over the seeds that reached each milestone."""
    lines = ["| pretraining mask | ratio | step | seeds | rec. loss, tube mask | linear probe | temporal-order probe |",
             "|---|---|---|---|---|---|---|"]
    for kind, ratio in CELLS:
        runs = [r for r in results if (r["kind"], r["ratio"]) == (kind, ratio)]
        for step in sorted({int(s) for r in runs for s in r["milestones"]}):
            at = [r["milestones"][str(step)] for r in runs if str(step) in r["milestones"]]
            lines.append(f"| {kind} | {ratio:.0%} | {step} | {len(at)} | "
                         f"{_spread([a['rec_tube'] for a in at], 'loss')} | "
                         f"{_spread([a['probe'] for a in at], 'share')} | {_spread([a['twin'] for a in at], 'share')} |")
    return "\n".join(lines)


def separated(a: list[float], b: list[float], clips: int | None = None) -> str | None:
    """'above' / 'below' when every seed of a is above / below every seed of b, else None.

    For an accuracy over `clips` held-out clips the means must also differ by more than twice that
    accuracy's own sampling error (sqrt(p(1-p)/clips)): three seeds of each side fall apart by luck
    one time in ten, and a gap of a few clips is not a finding."""
    if len(a) < 2 or len(b) < 2:
        return None
    if clips:
        p = (np.mean(a) + np.mean(b)) / 2
        if abs(np.mean(a) - np.mean(b)) <= 2 * np.sqrt(p * (1 - p) / clips):
            return None
    if min(a) > max(b):
        return "above"
    if max(a) < min(b):
        return "below"
    return None


def reading(cells: dict, floor_loss: float, mean_loss: float = 1.0) -> str:
    """Plain statements computed from the numbers, so the text cannot drift from the tables.

    Two groups count as separated only where their seeds do not overlap at all and, for an
    accuracy, their means differ by more than the held-out set's sampling error (`separated`)."""
    lines, found, not_found, unpaired = [], [], [], []
    for ratio in (0.75, 0.9):
        tube, rand = cells.get(("tube", ratio)), cells.get(("random", ratio))
        if not tube or not rand:
            continue
        if min(len(tube["seeds"]), len(rand["seeds"])) < 2:  # `separated` needs two seeds a side
            unpaired.append(f"tube {ratio:.0%} with random {ratio:.0%} ({len(tube['seeds'])} and "
                            f"{len(rand['seeds'])} finished)")
            continue
        for metric, name, _ in METRICS[1:]:
            side = separated(tube[metric], rand[metric], HELDOUT_CLIPS.get(metric))
            unit = UNITS[metric]
            text = f"{name} at {ratio:.0%} (tube {_spread(tube[metric], unit)} vs random {_spread(rand[metric], unit)})"
            (found if side else not_found).append(f"{text}: tube {side} random on every seed" if side else text)
    floor = cells.get((NO_PRETRAINING, None))
    gains, no_gains = [], []
    if floor:
        for kind, ratio in CELLS:
            entry = cells.get((kind, ratio))
            if not entry:
                continue
            if min(len(entry["seeds"]), len(floor["seeds"])) < 2:
                unpaired.append(f"{kind} {ratio:.0%} with random init ({len(entry['seeds'])} and "
                                f"{len(floor['seeds'])} finished)")
                continue
            for metric, name, _ in METRICS[2:]:
                side = separated(entry[metric], floor[metric], HELDOUT_CLIPS.get(metric))
                label = f"{kind} {ratio:.0%}, {name}"
                (gains if side else no_gains).append(f"{label} ({side} random init on every seed)" if side else label)
    if found:
        lines.append("- Tube and random masking separated on: " + "; ".join(found) + ".")
    if not_found:
        lines.append("- Tube and random masking did not separate (their seeds overlap) on: "
                     + "; ".join(not_found) + ".")
    if unpaired:
        lines.append("- Too few seeds to compare (two a side needed): " + "; ".join(unpaired) + ".")
    if floor and (gains or no_gains):
        if gains:
            lines.append("- Pretrained encoders apart from the random-init one (no overlap of seeds): "
                         + "; ".join(gains) + ".")
        lines.append(f"- Not apart from the random-init encoder: {len(no_gains)} of "
                     f"{len(gains) + len(no_gains)} (cell, measure) pairs"
                     + (f" ({'; '.join(no_gains)})" if no_gains else "") + ".")
    lines.append(
        f"- Scale: the best prediction that ignores the clip (the targets' mean for every patch) scores "
        f"{_spread([mean_loss], 'loss')}; an oracle that knows the clip without its sensor grain scores {_spread([floor_loss], 'loss')}.")
    return "\n".join(lines)


def reconstruction_line(results: list[dict], mean_loss: float) -> str:
    """Each pretrained cell's latest held-out loss (tube mask) as a share of the constant prediction's:
    near 100% means the model has learned nothing of the clips' content yet."""
    parts = []
    for kind, ratio in CELLS:
        ends = [(int(step), r["milestones"][step]["rec_tube"]) for r in results
                if (r["kind"], r["ratio"]) == (kind, ratio) and r["milestones"]
                for step in [max(r["milestones"], key=int)]]
        if ends:
            share = 100 * np.mean([loss for _, loss in ends]) / mean_loss
            parts.append(f"{kind} {ratio:.0%} {share:.1f}% (step {max(step for step, _ in ends)}, "
                         f"{len(ends)} seed{'s' if len(ends) > 1 else ''})")
    if not parts or mean_loss <= 0:
        return ""
    return ("- Latest held-out loss with the tube mask as a share of the constant prediction's (100%: nothing of "
            "the clips' content learned): " + "; ".join(parts) + ".")


def rate_groups(results: list[dict]) -> dict:
    """(kind, ratio) -> {(learning rate, epochs): {"seeds", "ft_accuracy", "ft_order", "loss"}} over
    the finished cells: the cell's own fine-tune and those --finetune-lrs added."""
    cells: dict = {}
    for result in results:
        if "finetune" not in result:
            continue
        runs = {run_key(FINETUNE_LR): result["finetune"], **result.get("finetune_lr", {})}
        for key, run in runs.items():
            rate, epochs = parse_run_key(key)
            entry = cells.setdefault((result["kind"], result["ratio"]), {}).setdefault(
                (rate, epochs or result["budget"]["finetune_epochs"]),
                {"seeds": [], "ft_accuracy": [], "ft_order": [], "loss": []})
            entry["seeds"].append(result["seed"])
            entry["ft_accuracy"].append(run["accuracy"])
            entry["ft_order"].append(run["order"])
            entry["loss"].append(run["loss"])
    return cells


def _run_name(run: tuple[float, int]) -> str:
    return f"lr {run[0]:g}, {run[1]} epochs"


def _rate_section(results: list[dict]) -> str:
    """The twin fine-tune at every learning rate and length the cells hold, and what each separated;
    empty unless some cell has more than its own."""
    if not any(r.get("finetune_lr") for r in results if "finetune" in r):
        return ""
    cells = rate_groups(results)
    rows, lines = [], []
    for key in ((NO_PRETRAINING, None), *CELLS):
        for (rate, epochs), entry in sorted(cells.get(key, {}).items()):
            kind, ratio = _label(*key)
            first, last = (np.mean([loss[i] for loss in entry["loss"]]) for i in (0, 1))
            rows.append(f"| {kind} | {ratio} | {rate:g} | {epochs} | {len(entry['seeds'])} | "
                        f"{_spread(entry['ft_accuracy'], 'share')} | {_spread(entry['ft_order'], 'share')} | "
                        f"{first:.2f} -> {last:.2f} |")
    for run in sorted({run for by_run in cells.values() for run in by_run}):
        apart, compared = [], 0
        pairs = [((kind, ratio), (NO_PRETRAINING, None), f"{kind} {ratio:.0%}", "random init") for kind, ratio in CELLS]
        pairs += [(("tube", r), ("random", r), f"tube {r:.0%}", f"random {r:.0%}") for r in (0.75, 0.9)]
        for a, b, a_name, b_name in pairs:
            entry, base = cells.get(a, {}).get(run), cells.get(b, {}).get(run)
            if not entry or not base or min(len(entry["seeds"]), len(base["seeds"])) < 2:
                continue
            for metric, name in (("ft_accuracy", "accuracy"), ("ft_order", "order")):
                compared += 1
                side = separated(entry[metric], base[metric], HELDOUT_CLIPS[metric])
                if side:
                    apart.append(f"{a_name} {side} {b_name} on {name}")
        if compared:
            lines.append(f"- At {_run_name(run)}, apart on every seed: " + ("; ".join(apart) if apart else "none")
                         + f" ({len(apart)} of {compared} comparisons; the rest overlap).")
    best = []
    for key in ((NO_PRETRAINING, None), *CELLS):
        by_run = {run: e for run, e in cells.get(key, {}).items() if len(e["seeds"]) >= 2}
        if len(by_run) > 1:
            run = max(by_run, key=lambda r: np.mean(by_run[r]["ft_accuracy"]))
            kind, ratio = _label(*key)
            best.append(f"{kind}{'' if ratio == '–' else ' ' + ratio} at {_run_name(run)} "
                        f"({_spread(by_run[run]['ft_accuracy'], 'share')})")
    if best:
        lines.append("- Best mean fine-tune accuracy over the fine-tunes: " + "; ".join(best) + ".")
    table = "\n".join(rows)
    reading = "\n".join(lines)
    return f"""
## Twin fine-tune by learning rate

The same twin fine-tune (lr {FINETUNE_LR:g} for the budget's epochs is every cell's own, above) at other
peak learning rates and lengths, each from the same final encoder of the cell, so an encoder whose
cues the fine-tune fails to use is told apart from one that holds none. Training loss: mean over the
first and the last ten steps (label-smoothed cross-entropy; chance is 2.30). Seeds counted as apart
as above.

| pretraining mask | ratio | fine-tune lr | epochs | seeds | fine-tune accuracy | fine-tune order | training loss |
|---|---|---|---|---|---|---|---|
{table}

{reading}
"""


GEOMETRY = (("token_cosine", "token-to-clip cosine", "{:.3f}"), ("token_rank", "token effective rank", "{:.1f}"),
            ("clip_rank", "clip-feature effective rank", "{:.1f}"))


def _numbers(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values, ddof=1))}"


def _geometry_section(results: list[dict]) -> str:
    """The final encoders' token geometry (`training.probes.geometry_of`) and what it separated;
    empty unless some finished cell has it."""
    cells: dict = {}
    for result in results:
        if "finetune" in result and "geometry" in result:
            entry = cells.setdefault((result["kind"], result["ratio"]), {"seeds": []})
            entry["seeds"].append(result["seed"])
            for metric, _, _ in GEOMETRY:
                entry.setdefault(metric, []).append(result["geometry"][metric])
    if not cells:
        return ""
    rows = []
    for key in ((NO_PRETRAINING, None), *CELLS):
        if key in cells:
            kind, ratio = _label(*key)
            rows.append(f"| {kind} | {ratio} | {len(cells[key]['seeds'])} | "
                        + " | ".join(_numbers(cells[key][m], fmt) for m, _, fmt in GEOMETRY) + " |")
    apart, not_apart = [], []
    pairs = [(("tube", r), ("random", r), f"tube vs random {r:.0%}") for r in (0.75, 0.9)]
    pairs += [(cell, (NO_PRETRAINING, None), f"{cell[0]} {cell[1]:.0%} vs random init") for cell in CELLS]
    for a, b, label in pairs:
        if a not in cells or b not in cells or min(len(cells[a]["seeds"]), len(cells[b]["seeds"])) < 2:
            continue
        for metric, name, fmt in GEOMETRY:
            side = separated(cells[a][metric], cells[b][metric])
            text = f"{label}, {name} ({_numbers(cells[a][metric], fmt)} vs {_numbers(cells[b][metric], fmt)})"
            (apart if side else not_apart).append(f"{text}: {side} on every seed" if side else text)
    lines = (["- Apart (no seed of one reaches any seed of the other): " + "; ".join(apart) + "."] if apart else []) + \
        (["- Not apart: " + "; ".join(not_apart) + "."] if not_apart else [])
    table = "\n".join(rows)
    reading = "\n".join(lines)
    return f"""
## Token geometry of the final encoders

Last hidden states of the held-out clips, whole and unmasked (`training.probes.geometry_of`):
the mean cosine of each token to its clip's mean token (1: every token of a clip the same vector,
nothing local left for a head to read); the effective rank of one clip's tokens (exp of the entropy of
their squared singular values' shares, mean over clips) and of the clips' mean-pooled features (how
many directions they spread along). Descriptions of the encoders, not measures of their quality.

| pretraining mask | ratio | seeds | {" | ".join(name for _, name, _ in GEOMETRY)} |
|---|---|---|---|---|---|
{table}

{reading}
"""


def _pair_section(pairs: list[dict]) -> str:
    if not pairs:
        return ""
    lines = "\n".join(
        f"| {p['pair'][0]} vs {p['pair'][1]} | {p['spec']} | {p['epochs']} | {p['loss'][0]:.3f} -> {p['loss'][1]:.3f} "
        f"| {p['clean']:.0%} | {p['cluttered']:.0%} | {p['minutes']:.1f} |" for p in pairs)
    return f"""
## Twin pairs in isolation

`training.pair_study`: a two-class `VideoMAEForVideoClassification` of the bundled model's shape, from
random init, trained only on one action and its time-reversed twin, on clean clips (flat background,
no noise, shake or distractors), {pairs[0]['clips_per_class']} fresh clips per class per epoch, lr 1e-3; held-out accuracy
on 50 clips per class (50% = blind to temporal order). Same command per row:
`python -m training.pair_study --pair "<first action>" --epochs <epochs>`.

| pair | model | epochs | loss | held-out, clean | held-out, cluttered | minutes |
|---|---|---|---|---|---|---|
{lines}
"""


WORLD_TEXT = {"full": "in the full world (textured background, sensor grain, camera shake, distractors)",
              "clean": ("in the clean world: the same actors and motions on a flat grey background "
                        "without grain, shake or distractors")}


def _other_pages(path: Path) -> str:
    """Links to the other pages of these experiments written beside this one (other budgets and
    worlds, and training.pretrain_capacity's)."""
    others = sorted(p.name for p in path.parent.glob("EXPERIMENTS*.md") if p.name != path.name)
    return ("" if not others else
            "\nOther pages of these experiments: " + ", ".join(f"[{name}]({name})" for name in others) + ".\n")


LOSS_TEXT = {"normalized": "normalized-pixel loss", "raw": "raw-pixel loss (pixels in [0, 1], not normalized per patch)"}
TARGET_TEXT = {"normalized": "pixels normalized per patch", "raw": "pixels in [0, 1]"}


def _figure_section(figure: Path, seed: int, budget: Budget) -> str:
    return f"""![one held-out clip, its 90% tube mask, and the tube-90% model's reconstruction]({figure.name})

`{figure.name}`: rows are the input frames, the tube mask (gray = masked, the same squares in
every frame), and the reconstruction of seed {seed}'s tube-90% model (visible patches copied,
masked ones predicted{"; predictions mapped back to pixels with each patch's true mean/std because the loss is on normalized pixels" if budget.normalized else ""}).
"""


def write_markdown(path: Path, results: list[dict], seeds: list[int], budget: Budget, spec: ModelSpec,
                   command: str, figure: Path, floor_loss: float, pairs: list[dict] = (),
                   mean_loss: float = 1.0) -> None:
    cells = group(results)
    done = sorted({r["seed"] for r in results if "finetune" in r})
    expected = len(seeds) * (len(CELLS) + 1)
    finished = sum("finetune" in r for r in results)
    status = ("" if finished == expected else
              f"\n**Partial: {finished} of {expected} cells finished.** Run the same command to resume.\n")
    seed_list = ", ".join(str(s) for s in seeds)
    text = f"""# Experiments: tube vs random masking

Reproduce (CPU; every cell is checkpointed under `--work`, so the same command after an
interruption resumes where it stopped, and once every cell is done it only rewrites this page):

```
{command}
```

Date: {datetime.date.today().isoformat()}. Seeds {seed_list} (finished: {", ".join(map(str, done)) or "none"}).
For seed s: model init, batches and masks from s; pretraining clips rendered with seed s·1000+500
({budget.clips_per_class} per class), probe and fine-tune training clips s·1000+501
({budget.clips_per_class // 2} per class); held-out clips {HELDOUT_SEED} for every seed (20 per class;
`training.data.world_clips`, {spec.num_frames} frames at {spec.fps:g} fps), {WORLD_TEXT[budget.world]}. Each pretrained encoder
starts from the random-init encoder of its seed, which is also the floor row.
Model: {spec.as_dict()}.
Budget per cell: {budget.steps} pretraining steps of batch {budget.batch} (AdamW, warm-up + cosine,
{LOSS_TEXT[budget.pixel_loss]}), evaluated every {budget.milestone_every()} steps; twin fine-tune
{budget.finetune_epochs} epochs.
{status}{_other_pages(path)}
Columns: masked-patch reconstruction loss on held-out clips (MSE of the {TARGET_TEXT[budget.pixel_loss]}, lower is
better) with the run's own mask kind and with tube masking at the same ratio; linear-probe
accuracy over all {len(__import__("runtime.world", fromlist=["ACTIONS"]).ACTIONS)} actions on frozen
mean-pooled features; temporal-order probe (a linear probe per action / time-reversed-twin pair; 50% =
blind to order); twin fine-tune: the whole encoder and a head over the ten actions that have a twin,
trained on the probe clips each beside its own reversal, then held-out accuracy over the ten (10% =
chance) and order accuracy (the true action's logit above its twin's; 50% = blind to order). Values
are mean ± standard deviation over the seeds.

## At the end of the budget

{results_table(cells)}

## Along the pretraining

{curve_table(results)}

## What separated

Two groups count as apart only where no seed of one reaches any seed of the other and, for an
accuracy, their means differ by more than twice its sampling error on the held-out clips.

{reading(cells, floor_loss, mean_loss)}
{reconstruction_line(results, mean_loss)}

{_rate_section(results)}{_geometry_section(results)}
{_figure_section(figure, seeds[0], budget) if figure.is_file() else ""}{_pair_section(list(pairs))}"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _pairs(work: Path, epochs: int, seed: int, run: bool = True) -> list[dict]:
    """The twin-pair studies, each kept as JSON under `work` so a rerun does not repeat it."""
    from training.pair_study import study

    bundled, pairs = ModelSpec(), []
    for action in ("moving right", "rotating clockwise"):
        path = work / f"pair-{action.replace(' ', '-')}-{epochs}.json"
        if path.is_file():
            pairs.append(json.loads(path.read_text()))
            continue
        if not run:
            continue
        result = study(action, bundled, epochs, clips_per_class=40, seed=seed)
        pairs.append({**result, "clips_per_class": 40,
                      "spec": f"patch {bundled.patch_size}, tubelet {bundled.tubelet_size}"})
        path.write_text(json.dumps(pairs[-1]))
        print(_pair_section(pairs[-1:]).strip().splitlines()[-1], flush=True)
    return pairs


def _cells(text: str) -> tuple:
    """'none,tube-90' -> ((NO_PRETRAINING, None), ("tube", 0.9)), in ALL_CELLS's order."""
    names = {cell_label(kind, ratio): (kind, ratio) for kind, ratio in ALL_CELLS}
    asked = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in asked if name not in names]
    if not asked or unknown:
        raise argparse.ArgumentTypeError(f"--cells takes names from {', '.join(names)} separated by commas, "
                                         f"got {text!r}")
    return tuple(cell for name, cell in names.items() if name in asked)


def _rates(text: str) -> tuple:
    """'3e-3,3e-3x60' -> (0.003, (0.003, 60)): learning rates, each with the budget's epochs or its own."""
    runs = []
    for part in (part.strip() for part in text.split(",") if part.strip()):
        try:
            rate, epochs = parse_run_key(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--finetune-lrs takes RATE or RATExEPOCHS separated by commas "
                                             f"(e.g. 3e-3,3e-3x60), got {part!r}")
        if not 0 < rate < 1 or (epochs is not None and epochs < 1):
            raise argparse.ArgumentTypeError(f"--finetune-lrs needs rates between 0 and 1 and at least one epoch, "
                                             f"got {part!r}")
        runs.append(rate if epochs is None else (rate, epochs))
    keys = [run_key(*(run if isinstance(run, tuple) else (run,))) for run in runs]
    if not runs or len(set(keys)) != len(keys):
        raise argparse.ArgumentTypeError(f"--finetune-lrs needs distinct fine-tunes, got {text!r}")
    return tuple(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help="the page (default: docs/EXPERIMENTS.md, docs/EXPERIMENTS-clean-raw.md and "
                             "so on for another --world or --pixel-loss, so a variant never overwrites "
                             "the standard grid's page)")
    parser.add_argument("--figure", type=Path, default=None,
                        help="PNG path (default: experiments_reconstruction.png beside --out, with the "
                             "variant in its name as for --out)")
    parser.add_argument("--work", type=Path, default=None,
                        help="checkpoints and per-cell results (default: runs/experiments-<steps>, "
                             "with the variant as for --out, in the working directory); one budget per folder")
    parser.add_argument("--seeds", type=seed_list, default=[0, 1, 2],
                        help="pretraining seeds, comma-separated; each runs every cell")
    parser.add_argument("--steps", type=positive_int, default=Budget.steps, help="pretraining steps per cell")
    parser.add_argument("--evaluations", type=positive_int, default=Budget.evaluations,
                        help="evaluations (and checkpoints) along each pretraining")
    parser.add_argument("--finetune-epochs", type=positive_int, default=Budget.finetune_epochs)
    parser.add_argument("--pair-epochs", type=non_negative_int, default=300,
                        help="epochs of each twin-pair study (0 skips them)")
    parser.add_argument("--world", choices=WORLDS, default="full",
                        help="clips of every cell: the bundled model's cluttered world, or its actors "
                             "and motions alone on a flat background (no grain, shake or distractors)")
    parser.add_argument("--cells", type=_cells, default=None,
                        help="the cells this process runs, comma-separated (default: all); processes "
                             "with different cells can share one --work folder and run side by side, "
                             "and each writes the page from every cell the folder holds")
    parser.add_argument("--pixel-loss", choices=PIXEL_LOSSES, default="normalized",
                        help="masked-patch targets: normalized per patch (VideoMAE's default) or the raw pixels")
    parser.add_argument("--finetune-lrs", type=_rates, default=(),
                        help=f"more twin fine-tunes, comma-separated: RATE (the budget's epochs) or "
                             f"RATExEPOCHS, e.g. 3e-3,3e-3x60 (every cell has {FINETUNE_LR:g} for the budget's "
                             f"epochs): each cell adds one per item from its same final encoder, finished "
                             f"cells included, and the page gets a table of them")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--report-only", action="store_true",
                        help="write the page from the cells --work has finished, running nothing "
                             "(a long grid can be read while it runs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    budget = Budget(steps=args.steps, evaluations=args.evaluations, finetune_epochs=args.finetune_epochs,
                    world=args.world, pixel_loss=args.pixel_loss)
    variant = budget.variant()
    work = args.work or Path("runs") / f"experiments-{args.steps}{variant}"
    args.out = args.out or Path("docs") / f"EXPERIMENTS{variant}.md"
    figure = args.figure or args.out.parent / f"experiments{variant.replace('-', '_')}_reconstruction.png"
    # the command that makes the numbers: a --report-only run shows the run it reports on
    command = "python -m training.experiments " + " ".join(
        part for part in (sys.argv[1:] if argv is None else argv) if part != "--report-only")
    spec = EXPERIMENT_SPEC

    if args.report_only:
        from training.seed_runs import seed_data

        results = read_results(work, args.seeds, budget, spec)
        pairs = _pairs(work, args.pair_epochs, args.seeds[0], run=False) if args.pair_epochs > 0 else []
        data = seed_data(args.seeds[0], spec, budget)
        write_markdown(args.out, results, args.seeds, budget, spec, command.strip(), figure, data["noise_floor"],
                       pairs, data["constant_loss"])
        print(results_table(group(results)))
        return 0
    _, first = run_grid(args.seeds, budget, work, spec, cells=args.cells or ALL_CELLS,
                        finetune_runs=args.finetune_lrs)
    if ("tube", 0.9) in first["models"]:
        clip = first["data"]["heldout"][0][int(np.argmax(first["data"]["heldout"][1] > 0))]
        videos = reconstruct(first["models"][("tube", 0.9)], clip, spec, "tube", 0.9, args.seeds[0])
        save_figure(list(zip(["input", "tube mask 90%", "reconstruction\n(tube 90% model)"], videos)), figure)
    # every cell the folder holds, not only this process's: the last of several side by side
    # writes the whole page
    results = read_results(work, args.seeds, budget, spec)
    pairs = _pairs(work, args.pair_epochs, args.seeds[0]) if args.pair_epochs > 0 else []
    write_markdown(args.out, results, args.seeds, budget, spec, command.strip(), figure,
                   first["data"]["noise_floor"], pairs, first["data"]["constant_loss"])
    print(results_table(group(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
