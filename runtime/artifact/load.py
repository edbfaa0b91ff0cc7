"""Reading an artifact folder: its manifest, and every file it names checked before it is used.

An artifact is one folder holding `manifest.json` plus the files it names (ONNX graphs, engines,
embeddings). Every file the manifest names carries a sha256 that is checked before the file is used,
and every path under the folder must be a real file or folder (no links), so nothing is loaded that
the manifest does not vouch for.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.artifact.errors import (ArtifactError, HashMismatchError, ManifestError, MissingFileError, NotAFileError,
                                     UnsafePathError)
from runtime.artifact.manifest import MANIFEST_NAME, FileEntry, Manifest, safe_relative

# A manifest is a few kB; a huge one is not ours and must not be read into memory.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def describe_file(path: Path, kind: str, **extra: Any) -> FileEntry:
    return FileEntry(sha256=sha256_file(path), size=path.stat().st_size, kind=kind, **extra)


def write_manifest(folder: str | os.PathLike, manifest: Manifest) -> Path:
    manifest.check()
    target = Path(folder) / MANIFEST_NAME
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(manifest.to_json() + "\n", encoding="utf-8")
    os.replace(tmp, target)  # atomic: a reader never sees half a manifest
    return target


def file_type(path: Path) -> str | None:
    """What is at path, without following a final symlink or opening it (a FIFO would block): None if nothing."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:  # e.g. a component is a file ("not a directory"), or no permission
        return f"unreachable ({exc.strerror})"
    for test, what in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def read_manifest(folder: str | os.PathLike) -> Manifest:
    path = Path(folder) / MANIFEST_NAME
    what = "a folder" if Path(folder).is_dir() else file_type(Path(folder))  # the artifact folder may be a link
    if what is None:
        raise MissingFileError(f"artifact folder {folder} does not exist (export one with export/build_engine.py)")
    if what != "a folder":
        raise NotAFileError(f"artifact path {folder} is {what}, not a folder: pass the artifact folder that holds "
                            f"{MANIFEST_NAME} (written by export/build_engine.py)")
    _check_plain_file(Path(folder), MANIFEST_NAME, f"what makes {folder} a Tubelet artifact folder")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} is {path.stat().st_size} bytes, too large for a manifest")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:  # "[[[[..." nested past Python's recursion limit (found by fuzzing)
        raise ManifestError(f"{path} nests JSON too deeply to be a manifest") from None
    return Manifest.from_dict(data)


@dataclass
class Artifact:
    folder: Path
    manifest: Manifest

    def path(self, name: str, verify: bool = True) -> Path:
        """The path of a regular file the manifest names, reached without links; hash-checked unless told
        otherwise (a caller that hashes the bytes it reads itself, as the TensorRT backend does)."""
        if name not in self.manifest.files:
            raise MissingFileError(f"{name!r} is not listed in {self.folder / MANIFEST_NAME}")
        path = _check_plain_file(self.folder, safe_relative(name), "named in the manifest")
        if verify:
            verify_file(self.folder, name, self.manifest.files[name])
            if self.manifest.files[name].kind == "onnx":
                self._verify_external_data(name, path)
        return path

    def _verify_external_data(self, name: str, path: Path) -> None:
        """An ONNX graph's external data files must be listed in the manifest and match their hashes."""
        # Imported here: the external-data checks raise backend errors, and reading a manifest needs no backend.
        from runtime.artifact.external_data import ExternalDataError, check_external_data, normalized_location

        for data_path in check_external_data(path):
            data_name = normalized_location(str(data_path.relative_to(self.folder)))
            if data_name not in self.manifest.files:
                raise ExternalDataError(f"{name} reads external data from {data_name!r}, which "
                                        f"{self.folder / MANIFEST_NAME} does not list (no hash vouches for it); "
                                        "re-export the artifact")
            verify_file(self.folder, data_name, self.manifest.files[data_name])

    @property
    def labels(self) -> list[str]:
        return self.manifest.labels


def _check_plain_file(folder: Path, name: str, role: str) -> Path:
    """folder/name must be a regular file reached through real folders: no component under the artifact
    folder may be a symbolic link (a link could point anywhere; artifacts are plain folders).

    role: what the file is to the artifact, for the message ("named in the manifest", ...).
    """
    path = Path(folder)
    for part in Path(name).parts:
        path = path / part
        what = file_type(path)
        if what == "a symbolic link":
            raise UnsafePathError(f"{path} is a symbolic link; artifact files and the folders under the artifact "
                                  "must be real, not links: copy the files in")
        if what is None:
            raise MissingFileError(f"{Path(folder) / name} is {role} but missing")
    what = file_type(path)
    if what != "a file":
        raise NotAFileError(f"{path} is {role} but is {what}, not a regular file")
    return path


def verify_file(folder: Path, name: str, entry: FileEntry) -> None:
    path = _check_plain_file(Path(folder), safe_relative(name), "named in the manifest")
    if path.stat().st_size != entry.size:
        raise HashMismatchError(
            f"{path} is {path.stat().st_size} bytes, the manifest says {entry.size}: the file was "
            "changed or truncated after export; re-export the artifact"
        )
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if actual != entry.sha256:
        raise HashMismatchError(
            f"{path} has sha256 {actual[:16]}…, the manifest says {entry.sha256[:16]}…: the file was "
            "changed after export; re-export the artifact"
        )


def load_artifact(folder: str | os.PathLike, verify: bool = True) -> Artifact:
    """Read and (by default) verify every file of an artifact folder."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if verify:
        for name, entry in manifest.files.items():
            verify_file(folder, name, entry)
    return Artifact(folder=folder, manifest=manifest)
