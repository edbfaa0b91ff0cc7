"""Where an ONNX file's external data lives, read without the `onnx` package, and checked before loading.

An ONNX graph over 2 GB keeps its weights in side files: each TensorProto names one in
`external_data` entries ({"location": "weights.bin", "offset": ..., "length": ...}). ONNX Runtime
opens whatever a location names, relative to the model file. A hostile model can therefore point at
`../../etc/shadow`, at `/dev/zero`, or at a symlink leading out of the folder (the onnx checker's
CVE-2022-25882 and its bypass CVE-2024-27318), and the artifact's hashes never saw those files.

So before ONNX Runtime sees a model, `check_external_data` walks the protobuf wire format (the few
message types that can hold tensors: graphs, nodes, attributes, sparse tensors, functions, training
info) and refuses any location that is empty, absolute, contains '..', or resolves (after symlinks)
outside the model's folder. Only field headers are read and tensor bytes are skipped, so a large
model costs a few milliseconds; the file is memory-mapped, not read into memory. Parsing the wire
format here keeps `onnx` (and its C++ extension) off the robot.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from runtime.artifact.errors import ArtifactError, UnsafePathError
from runtime.backends.base import BackendError

# message kind → {field number: child kind}, from onnx.proto (ModelProto.graph = 7, ...).
_CHILDREN = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "function": {7: "node", 11: "attribute"},
    "training": {1: "graph", 2: "graph"},
    "tensor": {13: "entry"},  # TensorProto.external_data: StringStringEntryProto {key = 1, value = 2}
}
MAX_DEPTH = 64  # nested subgraphs (If/Loop bodies); protobuf's own parser stops at 100


class MalformedOnnxError(ArtifactError, BackendError):
    """The file is not a well-formed ONNX protobuf (truncated, corrupted, or not ONNX at all)."""


class ExternalDataError(UnsafePathError, BackendError):
    """An ONNX tensor's external data points outside the model's folder (or is not vouched for)."""


def external_data_locations(path: str | os.PathLike) -> list[str]:
    """Every distinct external-data location named in the ONNX file, in order of appearance."""
    path = Path(path)
    if not path.is_file():
        raise MalformedOnnxError(f"could not load ONNX model {path}: it does not exist or is not a file")
    if path.stat().st_size == 0:
        raise _malformed(path, "it is empty (0 bytes)")
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        found: list[str] = []
        view = memoryview(data)
        try:
            _walk(view, 0, len(view), "model", 0, found, path)
        finally:
            view.release()
    return list(dict.fromkeys(found))


def check_external_data(model_path: str | os.PathLike) -> list[Path]:
    """Refuse unsafe external-data locations; return the files the model will read (beside it, unresolved)."""
    model_path = Path(model_path)
    folder = model_path.resolve().parent
    files = []
    for location in external_data_locations(model_path):
        _check_location(model_path, location)
        target = (folder / location).resolve()
        try:
            target.relative_to(folder)
        except ValueError:
            raise ExternalDataError(
                f"{model_path}: external data location {location!r} resolves to {target}, outside the model's "
                f"folder {folder} (a symbolic link?); refusing to load it: copy the data file into the folder"
            ) from None
        files.append(model_path.parent / normalized_location(location))
    return files


def normalized_location(location: str) -> str:
    """The location as a manifest file name ('./w.bin' → 'w.bin')."""
    return PurePosixPath(location.replace("\\", "/")).as_posix()


def _check_location(model_path: Path, location: str) -> None:
    parts = PurePosixPath(location.replace("\\", "/")).parts
    why = None
    if not location or not parts:
        why = "is empty"
    elif "\x00" in location:
        why = "contains a NUL byte"
    elif location.startswith(("/", "\\")) or PureWindowsPath(location).drive or PurePosixPath(location).is_absolute():
        why = "is an absolute path"
    elif ".." in parts:
        why = "contains '..'"
    if why:
        raise ExternalDataError(f"{model_path}: external data location {location!r} {why}; ONNX external data must "
                                "be a plain file name inside the model's folder; re-export the model")


def _malformed(path: Path, why: str) -> MalformedOnnxError:
    return MalformedOnnxError(f"could not load ONNX model {path}: {why}; the file is truncated or corrupt "
                              "(not a valid ONNX protobuf): re-export it")


def _varint(data: memoryview, pos: int, end: int, path: Path) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise _malformed(path, f"a varint runs past its message at byte {pos}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _walk(data: memoryview, pos: int, end: int, kind: str, depth: int, found: list[str], path: Path) -> None:
    """Parse one message in data[pos:end]; recurse into fields that can hold tensors."""
    if depth > MAX_DEPTH:
        raise _malformed(path, f"messages nested deeper than {MAX_DEPTH}")
    children = _CHILDREN.get(kind, {})
    entry: dict[int, bytes] = {}
    while pos < end:
        key, pos = _varint(data, pos, end, path)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(data, pos, end, path)
        elif wire == 1 or wire == 5:
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            length, pos = _varint(data, pos, end, path)
            if length > end - pos:
                raise _malformed(path, f"a field at byte {pos} claims {length} bytes, past the end of its message")
            if kind == "entry" and number in (1, 2):
                entry[number] = bytes(data[pos:pos + length])
            elif number in children:
                _walk(data, pos, pos + length, children[number], depth + 1, found, path)
            pos += length
        else:  # groups (3, 4) are not used by onnx.proto; 6 and 7 do not exist
            raise _malformed(path, f"protobuf wire type {wire} at byte {pos}")
        if number == 0 or pos > end:
            raise _malformed(path, f"a corrupt field header near byte {pos}")
    if kind == "entry" and entry.get(1) == b"location":
        try:
            found.append(entry.get(2, b"").decode("utf-8"))
        except UnicodeDecodeError:
            raise ExternalDataError(f"{path}: an external data location is not valid UTF-8: "
                                    f"{entry.get(2)[:64]!r}; refusing to load it") from None
