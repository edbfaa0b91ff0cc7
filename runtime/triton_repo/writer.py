"""Write repository entries atomically, and replace only entries that are ours and unchanged.

Each entry is built whole in a hidden staging folder inside the repository (same filesystem, so
the final step is a rename) and moved into place; a failure leaves the repository as it was. An
entry is "ours" when its `tubelet.json` marker says tubelet-triton wrote it and every file in the
entry is one the marker lists, with the sha256 it lists: a hand-tuned config.pbtxt or a file
someone added is not replaced, even with --overwrite. Every check runs before anything is written.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from runtime.artifact import MANIFEST_NAME, Artifact, load_artifact, sha256_file
from runtime.triton_repo.config import LABELS_FILE, ModelEntry, model_config_text
from runtime.triton_repo.entries import RepositoryError, RepositoryOptions, entries_for, manifest_sha256

MARKER = "tubelet.json"
WRITER = "tubelet-triton"
VERSION_DIR = "1"


def write_repository(artifact: Artifact | str | os.PathLike, repository: str | os.PathLike,
                     options: RepositoryOptions | None = None, overwrite: bool = False,
                     log: Callable[[str], None] = print) -> list[Path]:
    """Write the artifact's entries into `repository`; return their folders. Nothing is written on error."""
    options = options or RepositoryOptions()
    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)  # every hash checked
    entries = entries_for(art, options)
    repo = Path(repository)
    if repo.exists() and not repo.is_dir():
        raise RepositoryError(f"repository {repo} exists and is not a folder; choose another --repository")
    for entry in entries:
        _check_replaceable(repo / entry.name, overwrite)
    repo.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in entries:
        written.append(_write_entry(art, repo, entry))
        log(f"wrote {written[-1]} ({entry.platform}, max_batch_size {entry.max_batch_size})")
    return written


def _check_replaceable(target: Path, overwrite: bool) -> None:
    if not target.exists() and not target.is_symlink():
        return
    if not overwrite:
        raise RepositoryError(f"{target} already exists; pass --overwrite to replace it (only entries written by "
                              f"{WRITER} and left unchanged are replaced)")
    reason = not_ours(target)
    if reason:
        raise RepositoryError(f"{target} is not ours to replace ({reason}); nothing was touched: remove it yourself "
                              "or write under another --name")


def not_ours(folder: Path) -> str | None:
    """Why `folder` is not an unchanged entry written here, or None when it is."""
    if folder.is_symlink() or not folder.is_dir():
        return "not a plain folder"
    marker = folder / MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return f"no readable {MARKER} marker"
    if not isinstance(data, dict) or data.get("written_by") != WRITER or not isinstance(data.get("files"), dict):
        return f"{MARKER} was not written by {WRITER}"
    listed = data["files"]
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            return f"{rel} is a symbolic link"
        if path.is_dir() or rel == MARKER:
            continue
        if rel not in listed:
            return f"{rel} was not written by {WRITER}"
        if sha256_file(path) != listed[rel]:
            return f"{rel} was changed after {WRITER} wrote it"
    return None


def _write_entry(art: Artifact, repo: Path, entry: ModelEntry) -> Path:
    target = repo / entry.name
    staging = repo / f".{WRITER}-staging-{entry.name}-{uuid.uuid4().hex[:8]}"
    try:
        files = _fill(art, staging, entry)
        _write_text(staging / MARKER, json.dumps({
            "written_by": WRITER, "format": 1, "artifact": str(art.folder.resolve()), "model": entry.name,
            "platform": entry.platform, "manifest_sha256": manifest_sha256(art), "files": files}, indent=1) + "\n")
        _swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def _fill(art: Artifact, staging: Path, entry: ModelEntry) -> dict[str, str]:
    """Write the entry's files into `staging`; return {relative path: sha256}."""
    (staging / VERSION_DIR).mkdir(parents=True)
    _write_text(staging / "config.pbtxt", model_config_text(entry))
    _write_text(staging / LABELS_FILE, "".join(f"{label}\n" for label in art.manifest.labels))
    shutil.copyfile(art.folder / MANIFEST_NAME, staging / MANIFEST_NAME)
    _copy_verified(art, entry.source, staging / VERSION_DIR / entry.model_file)
    for name in entry.data_files:  # external data keeps its name: the graph refers to it by name
        _copy_verified(art, name, staging / VERSION_DIR / Path(name).name)
    files = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        files[path.relative_to(staging).as_posix()] = sha256_file(path)
    return files


def _copy_verified(art: Artifact, name: str, destination: Path) -> None:
    """Copy an artifact file, then hash the copy: what the server will load is what the manifest vouches for."""
    shutil.copyfile(art.path(name), destination)
    expected = art.manifest.files[name].sha256
    actual = sha256_file(destination)
    if actual != expected:
        raise RepositoryError(f"the copy of {art.folder / name} has sha256 {actual[:16]}…, the manifest says "
                              f"{expected[:16]}…: the file changed while it was copied; run again")


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _swap_in(staging: Path, target: Path) -> None:
    """Rename the staged entry into place; an old entry (checked as ours) is moved aside, then removed."""
    old = None
    if target.exists():
        old = target.with_name(f".{WRITER}-old-{target.name}-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
    try:
        os.rename(staging, target)
    except OSError:
        if old is not None:
            os.rename(old, target)  # put the previous entry back
        raise
    if old is not None:
        shutil.rmtree(old)
