"""Resumable fine-tuning: model, optimizer and schedule state in safetensors + JSON (nothing pickled).

A checkpoint folder holds model.safetensors (the weights), optimizer.safetensors (AdamW's
moments and step counts, keyed "<param index>.<name>"), and state.json (the next epoch, the
schedule's step, the losses so far and the optimizer's hyper-parameters).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def save(folder: Path, model, optimizer, schedule, next_epoch: int, losses: list[float]) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = optimizer.state_dict()
    tensors = {f"{index}.{name}": value.detach().clone().contiguous()
               for index, entries in state["state"].items() for name, value in entries.items()}
    # Written under temporary names, then renamed: a run killed mid-write keeps the last good checkpoint.
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.tmp")
    save_file(tensors, folder / "optimizer.tmp")
    meta = {"next_epoch": next_epoch, "schedule_step": schedule.last_epoch, "losses": losses,
            "param_groups": state["param_groups"]}
    (folder / "state.tmp").write_text(json.dumps(meta))
    for name in ("model", "optimizer"):
        os.replace(folder / f"{name}.tmp", folder / f"{name}.safetensors")
    os.replace(folder / "state.tmp", folder / "state.json")


def load(folder: Path, model, optimizer, schedule) -> tuple[int, list[float]]:
    """Restore a checkpoint written by `save`; returns (next epoch, losses so far)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = json.loads((folder / "state.json").read_text())
    model.load_state_dict(load_file(folder / "model.safetensors"), strict=True)
    entries: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in load_file(folder / "optimizer.safetensors").items():
        index, name = key.split(".", 1)
        entries.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": entries, "param_groups": meta["param_groups"]})
    schedule.last_epoch = meta["schedule_step"]
    schedule._last_lr = [group["lr"] for group in optimizer.param_groups]  # what step() would have set
    return int(meta["next_epoch"]), list(meta["losses"])


def exists(folder: Path | None) -> bool:
    return folder is not None and (Path(folder) / "state.json").is_file()
