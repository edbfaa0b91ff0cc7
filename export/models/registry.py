"""The model families the exporter knows, keyed by the checkpoint config's `model_type`.

Each family module in export/models/ registers itself when imported; export/models/__init__.py
imports them all, so importing anything from export.models fills this registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from export.models.contract import TASKS, Bundle, LoadRequest, VideoTextExportError

DEFAULT_FAMILY = "videomae"  # hub ids and folders without config.json: VideoMAE, whose checks then say what is wrong


@dataclass(frozen=True)
class Family:
    """One registered family (export.models.contract.FamilyAdapter)."""

    name: str
    model_type: str
    task: str
    loader: Callable[[LoadRequest], Bundle]

    def load(self, request: LoadRequest) -> Bundle:
        return self.loader(request)


_BY_MODEL_TYPE: dict[str, Family] = {}


def register(name: str, model_type: str, task: str, loader: Callable[[LoadRequest], Bundle]) -> Family:
    if task not in TASKS:
        raise ValueError(f"family {name!r}: task {task!r} is not one of {TASKS}")
    family = Family(name, model_type, task, loader)
    for known in _BY_MODEL_TYPE.values():
        if known.name == name and known.model_type != model_type:
            raise ValueError(f"family {name!r} is registered already, for model_type {known.model_type!r}")
    _BY_MODEL_TYPE[model_type] = family
    return family


def families() -> list[Family]:
    """In registration order (export/models/__init__.py's)."""
    return list(_BY_MODEL_TYPE.values())


def names() -> tuple[str, ...]:
    return tuple(f.name for f in families())


def _known() -> str:
    return ", ".join(f"{f.model_type!r} ({f.name})" for f in families())


def family_named(name: str) -> Family:
    for family in families():
        if family.name == name:
            return family
    raise VideoTextExportError(f"family {name!r} unknown; choose one of {', '.join(names())}")


def family_for_model_type(model_type, model: str) -> Family:
    family = _BY_MODEL_TYPE.get(model_type)
    if family is None:
        raise VideoTextExportError(f"{model}: model_type {model_type!r} is not a family this exporter knows "
                                   f"(known model types: {_known()})")
    return family


def detect_family(model: str) -> str:
    """The family name, from config.json's model_type."""
    path = Path(model) / "config.json"
    if not path.is_file():
        raise VideoTextExportError(f"{model} has no config.json; pass --family to say what it is")
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise VideoTextExportError(f"{path} is not a JSON object ({exc})") from None
    return family_for_model_type(model_type, model).name


def resolve_family(model: str, name: str | None = None) -> Family:
    """`name` where given, else the family config.json names; VideoMAE where that says nothing usable, so
    hub ids and broken folders get VideoMAE's own errors (which say what is wrong with the checkpoint)."""
    if name is not None:
        return family_named(name)
    try:
        return family_named(detect_family(model))
    except VideoTextExportError:
        return family_named(DEFAULT_FAMILY)
