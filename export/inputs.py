"""What an export is given, checked before the long work: the model folder, its config and weights
files, and the labels or prompts files.

Everything here reads files only (no torch), so a damaged checkpoint, a file where a folder
belongs or a typo in a path is a one-line error in a fraction of a second rather than a traceback
after the model loaded. `check_weight_shapes` is the one torch check: it builds the model on the
meta device (no memory, no weights read) and compares its tensor shapes with the safetensors
headers, so a config whose sizes do not match its weights is named before anything is loaded.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from runtime.cli.errors import TubeletError

# A Hugging Face hub repo id: `name` or `org/name` (letters, digits, '-', '_', '.').
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors caps its JSON header at 100 MB


class ExportInputError(TubeletError, ValueError):
    """A model folder, labels file or prompts file given to the export is not usable."""


def looks_like_hub_id(model: str) -> bool:
    """True for `org/name`-shaped strings that are not meant as local paths (their first part is no local folder)."""
    if not _HUB_ID.fullmatch(model) or ".." in model or model.endswith("."):
        return False
    return "/" not in model or not Path(model.split("/", 1)[0]).exists()


def check_model_folder(model: str) -> dict | None:
    """config.json of a local checkpoint folder, its weights files checked; None for a hub id (read online)."""
    folder = Path(model).expanduser()
    if not folder.exists():
        if looks_like_hub_id(model):
            return None
        raise ExportInputError(f"--model {model}: no such folder (give a save_pretrained folder, or a hub id org/name)")
    if not folder.is_dir():
        raise ExportInputError(f"--model {model} is a file; give the folder written by save_pretrained")
    config = read_config(folder)
    check_safetensors(folder)
    return config


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise ExportInputError(f"{folder} has no config.json: it is not a save_pretrained checkpoint folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ExportInputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ExportInputError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ExportInputError(f"{path} nests JSON too deeply to be a model config") from None
    if not isinstance(data, dict):
        raise ExportInputError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def check_safetensors(folder: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape over every .safetensors file of the folder, each checked to be complete."""
    shapes: dict[str, tuple[int, ...]] = {}
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        for name in sorted(set(_index_files(index))):
            if not (folder / name).is_file():
                raise ExportInputError(f"{index} lists {name}, which is missing: the checkpoint is incomplete")
    for path in sorted(folder.glob("*.safetensors")):
        shapes.update(safetensors_shapes(path))
    return shapes


def _index_files(index: Path) -> list[str]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        files = list(data["weight_map"].values())
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ExportInputError(f"{index} is not a safetensors index ({exc})") from None
    if not all(isinstance(f, str) and "/" not in f and f not in ("", ".", "..") for f in files):
        raise ExportInputError(f"{index} names files outside the checkpoint folder")
    return files


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Shapes from one safetensors header; the file must hold every byte the header describes."""
    size = path.stat().st_size
    damaged = f"{path} is truncated or damaged"
    fix = "re-download or re-save it (save_pretrained)"
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ExportInputError(f"{damaged}: {size} bytes, less than a safetensors header; {fix}")
        length = int.from_bytes(head, "little")
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise ExportInputError(f"{damaged}: its header claims {length} bytes, the file has {size}; {fix}")
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
        tensors = {k: v for k, v in header.items() if k != "__metadata__"}
        ends = [int(v["data_offsets"][1]) for v in tensors.values()]
        shapes = {k: tuple(int(d) for d in v["shape"]) for k, v in tensors.items()}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise ExportInputError(f"{damaged}: its header is not safetensors JSON; {fix}") from None
    held = size - 8 - length
    if ends and max(ends) > held:
        raise ExportInputError(f"{damaged}: its header describes {max(ends)} bytes of tensors, the file holds {held}; {fix}")
    return shapes


def check_weight_shapes(model_class, config, folder: Path) -> None:
    """Refuse a config whose sizes do not match the weights, before any weight is loaded.

    The model is built on the meta device (shapes only, no memory); every tensor it shares with the
    checkpoint (also under the base model's prefix) must have the checkpoint's shape.
    """
    import torch

    stored = check_safetensors(folder)
    if not stored:
        return
    try:
        with torch.device("meta"):
            model = model_class(config)
    except (ValueError, TypeError, RuntimeError, AttributeError, ZeroDivisionError) as exc:
        raise ExportInputError(f"{folder}/config.json describes no buildable {model_class.__name__}: "
                               f"{one_line(exc, 400)}") from None
    prefix = getattr(model, "base_model_prefix", "") or ""
    for name, tensor in model.state_dict().items():
        candidates = (name, name[len(prefix) + 1:] if name.startswith(prefix + ".") else f"{prefix}.{name}")
        found = next((stored[c] for c in candidates if c in stored), None)
        if found is not None and tuple(tensor.shape) != found:
            raise ExportInputError(
                f"{folder}/config.json does not match the weights: {name} is {tuple(found)} in the safetensors "
                f"but the config gives {tuple(tensor.shape)}; use the config.json saved with these weights")


def check_sampling(data: dict, where: str) -> None:
    """frame_stride / window_stride whole numbers >= 1, target_fps null or a positive rate, in the manifest's bounds."""
    from runtime.artifact.bounds import MAX_STRIDE, MAX_TARGET_FPS, is_int, is_number

    problems = []
    for key in ("frame_stride", "window_stride"):
        if key in data and not (is_int(data[key]) and 1 <= data[key] <= MAX_STRIDE):
            problems.append(f"{key} must be a whole number in [1, {MAX_STRIDE}], got {data[key]!r}")
    fps = data.get("target_fps")
    if fps is not None and not (is_number(fps) and 0 < fps <= MAX_TARGET_FPS):
        problems.append(f"target_fps must be null or a number in (0, {MAX_TARGET_FPS:g}], got {fps!r}")
    if problems:
        raise ExportInputError(f"{where}: " + "; ".join(problems))


def read_labels_file(path: str | Path, option: str, what: str = "labels") -> list[str]:
    """One entry per non-blank line of a UTF-8 text file, all different."""
    path = Path(path)
    if not path.exists():
        raise ExportInputError(f"{option} {path}: no such file")
    if not path.is_file():
        raise ExportInputError(f"{option} {path} is not a regular file; give a text file with one entry per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ExportInputError(f"{option} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    entries = [line.strip() for line in lines if line.strip()]
    if not entries:
        raise ExportInputError(f"{option} {path} has no {what}: its {len(lines)} line(s) are blank; "
                               f"write one per line")
    check_unique(entries, f"{option} {path}", what)
    return entries


def check_unique(entries: list[str], where: str, what: str = "labels") -> None:
    repeated = sorted(name for name, count in Counter(entries).items() if count > 1)
    if repeated:
        raise ExportInputError(f"{where} repeats {what} {repeated}: each must name one class "
                               "(a repeated one would split its score); remove the repeats")


def one_line(exc: BaseException | str, limit: int = 2000) -> str:
    """An error's message on one line (library messages carry newlines and pages of context)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + " ..."

