"""The artifact contract: what export writes and the runtime reads.

An artifact is one folder holding `manifest.json` plus the files it names (ONNX graphs, engines,
embeddings). The manifest is typed and versioned; every file it names carries a sha256 that is
checked before the file is used, so nothing is loaded that the manifest does not vouch for.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
# A manifest is a few kB; a huge one is not ours and must not be read into memory.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
LAYOUTS = ("NTCHW", "NCTHW")
TASKS = ("classification", "video_text")


class ArtifactError(Exception):
    """Base of every error about an artifact folder or its manifest."""


class ManifestError(ArtifactError):
    """The manifest is missing, unreadable, or has wrong or missing fields."""


class SchemaVersionError(ManifestError):
    """The manifest was written by an incompatible schema version."""


class MissingFileError(ArtifactError):
    """A file the manifest names is not in the artifact folder."""


class HashMismatchError(ArtifactError):
    """A file's sha256 differs from the manifest's: it was changed after export."""


class UnsafePathError(ArtifactError):
    """A file name in the manifest points outside the artifact folder."""


class ModelMismatchError(ArtifactError):
    """The model's inputs or outputs differ from what the manifest describes (names, dims, label count)."""


@dataclass
class InputSpec:
    name: str
    layout: str  # NTCHW (HF VideoMAE pixel_values) or NCTHW (3D CNNs)
    frames: int
    height: int
    width: int
    dtype: str = "float32"
    channels: int = 3

    def shape(self, batch: int) -> tuple[int, ...]:
        if self.layout == "NTCHW":
            return (batch, self.frames, self.channels, self.height, self.width)
        return (batch, self.channels, self.frames, self.height, self.width)


@dataclass
class Preprocessing:
    """How one BGR uint8 camera frame becomes one model frame (mirrors the HF image processor)."""

    resize_shortest_edge: int | None  # None: resize straight to (resize_height, resize_width)
    resize_height: int | None
    resize_width: int | None
    crop_height: int
    crop_width: int
    mean: list[float]
    std: list[float]
    rescale: float = 1.0 / 255.0
    color: str = "RGB"  # channel order the model expects
    interpolation: str = "bilinear"


@dataclass
class Sampling:
    frame_stride: int = 1  # take every n-th camera frame
    target_fps: float | None = None  # or sample by timestamps at this rate
    window_stride: int = 4  # a window falls due every n sampled frames


@dataclass
class FileEntry:
    sha256: str
    size: int
    kind: str  # onnx | onnx_data | engine | embeddings | tokenizer | timing_cache | other
    precision: str | None = None
    opset: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    task: str
    family: str
    input: InputSpec
    preprocessing: Preprocessing
    sampling: Sampling
    labels: list[str]
    outputs: list[str]
    files: dict[str, FileEntry] = field(default_factory=dict)
    temperature: float = 1.0
    source: dict[str, Any] = field(default_factory=dict)
    tool_versions: dict[str, str] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    # task video_text: how the graphs work together (text/head/frame graph names, tokenizer,
    # max prompt length, logit scale, ...); written by export/videotext.py. Optional key, so
    # manifests without it still read: no schema version change.
    video_text: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> "Manifest":
        if not isinstance(data, dict):
            raise ManifestError(f"manifest must be a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        # type check: JSON true == 1 and 1.0 == 1 in Python, and neither is version 1.
        if type(version) is not int or version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"manifest schema version {version!r} is not supported (this runtime reads version "
                f"{SCHEMA_VERSION}); re-export the model with this version of export/build_engine.py"
            )
        try:
            manifest = cls(
                task=data["task"],
                family=data["family"],
                input=_typed(InputSpec, data["input"], "input"),
                preprocessing=_typed(Preprocessing, data["preprocessing"], "preprocessing"),
                sampling=_typed(Sampling, data["sampling"], "sampling"),
                labels=list(data["labels"]),
                outputs=list(data["outputs"]),
                files={k: _typed(FileEntry, v, f"files.{k}") for k, v in data.get("files", {}).items()},
                temperature=float(data.get("temperature", 1.0)),
                source=dict(data.get("source", {})),
                tool_versions=dict(data.get("tool_versions", {})),
                validation=dict(data.get("validation", {})),
                video_text=dict(data.get("video_text") or {}),
            )
        except KeyError as exc:
            raise ManifestError(f"manifest is missing the field {exc.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"manifest has a malformed field: {exc}") from None
        type_problems = _type_problems(manifest)
        if type_problems:
            raise ManifestError("invalid manifest: " + "; ".join(type_problems))
        manifest.check()
        return manifest

    def check(self) -> None:
        """Validate values the runtime relies on, so a bad manifest fails here and not mid-stream."""
        problems = _type_problems(self)
        if problems:  # the value checks below assume the types are right
            raise ManifestError("invalid manifest: " + "; ".join(problems))
        if self.task not in TASKS:
            problems.append(f"task {self.task!r} not in {TASKS}")
        if self.input.layout not in LAYOUTS:
            problems.append(f"input.layout {self.input.layout!r} not in {LAYOUTS}")
        for name in ("frames", "height", "width", "channels"):
            value = getattr(self.input, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"input.{name} must be a positive integer, got {value!r}")
        pre = self.preprocessing
        if len(pre.mean) != self.input.channels or len(pre.std) != self.input.channels:
            problems.append("preprocessing.mean/std need one value per channel")
        if any(not isinstance(s, (int, float)) or s <= 0 for s in pre.std):
            problems.append(f"preprocessing.std must be positive, got {pre.std}")
        if pre.color not in ("RGB", "BGR"):
            problems.append(f"preprocessing.color {pre.color!r} must be RGB or BGR")
        if (pre.crop_height, pre.crop_width) != (self.input.height, self.input.width):
            problems.append("preprocessing crop size differs from the input height/width")
        if self.sampling.frame_stride < 1 or self.sampling.window_stride < 1:
            problems.append("sampling strides must be >= 1")
        if self.task == "classification" and not self.labels:
            problems.append("a classification artifact needs labels")
        if self.task == "video_text" and not self.video_text.get("text_graph"):
            problems.append("a video_text artifact needs video_text.text_graph (re-export with export/build_engine.py)")
        if not (self.temperature > 0):
            problems.append(f"temperature must be > 0, got {self.temperature}")
        for name in self.files:
            _safe_relative(name)
        if problems:
            raise ManifestError("invalid manifest: " + "; ".join(problems))

    def file_of_kind(self, kind: str, precision: str | None = None) -> str | None:
        for name, entry in self.files.items():
            if entry.kind == kind and (precision is None or entry.precision == precision):
                return name
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_problems(m: "Manifest") -> list[str]:
    """Fields whose JSON type is wrong (a string stride, a NaN std): found by fuzzing the reader."""
    problems = []
    pre, sampling = m.preprocessing, m.sampling
    for where, values in (("preprocessing.mean", pre.mean), ("preprocessing.std", pre.std)):
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            problems.append(f"{where} must be a list of finite numbers, got {values!r}")
    for where, value in (("sampling.frame_stride", sampling.frame_stride), ("sampling.window_stride", sampling.window_stride)):
        if not _is_int(value):
            problems.append(f"{where} must be an integer, got {value!r}")
    if sampling.target_fps is not None and not (_is_number(sampling.target_fps) and sampling.target_fps > 0):
        problems.append(f"sampling.target_fps must be a positive number or null, got {sampling.target_fps!r}")
    for where, value in (("preprocessing.crop_height", pre.crop_height), ("preprocessing.crop_width", pre.crop_width)):
        if not _is_int(value):
            problems.append(f"{where} must be an integer, got {value!r}")
    for where, value in (("resize_shortest_edge", pre.resize_shortest_edge), ("resize_height", pre.resize_height),
                         ("resize_width", pre.resize_width)):
        if value is not None and not (_is_int(value) and value > 0):
            problems.append(f"preprocessing.{where} must be a positive integer or null, got {value!r}")
    if not _is_number(pre.rescale) or not _is_number(m.temperature):
        problems.append(f"preprocessing.rescale and temperature must be finite numbers, got {pre.rescale!r}, {m.temperature!r}")
    if not m.outputs or not all(isinstance(o, str) for o in m.outputs) or not all(isinstance(x, str) for x in m.labels):
        problems.append("outputs must be a non-empty list of names and labels a list of strings")
    for name, entry in m.files.items():
        if not isinstance(entry.sha256, str) or len(entry.sha256) != 64 or not _is_int(entry.size) or entry.size < 0:
            problems.append(f"files.{name} needs a 64-character sha256 and a byte size, got {entry.sha256!r}, {entry.size!r}")
    return problems


def _typed(cls, data: Any, where: str):
    if not isinstance(data, dict):
        raise ManifestError(f"manifest field {where!r} must be an object")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ManifestError(f"manifest field {where!r} has unknown keys {sorted(unknown)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ManifestError(f"manifest field {where!r}: {exc}") from None


def _safe_relative(name: str) -> str:
    """File names are plain relative paths inside the folder: no '..', no absolute paths."""
    path = Path(name)
    if not name or path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")) or "\x00" in name:
        raise UnsafePathError(f"file name {name!r} in the manifest points outside the artifact folder")
    return name


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


def read_manifest(folder: str | os.PathLike) -> Manifest:
    path = Path(folder) / MANIFEST_NAME
    if not Path(folder).is_dir():
        raise MissingFileError(f"artifact folder {folder} does not exist (export one with export/build_engine.py)")
    if not path.is_file():
        raise MissingFileError(f"{path} is missing: {folder} is not a Tubelet artifact folder")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} is {path.stat().st_size} bytes, too large for a manifest")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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
        """The path of a file the manifest names, hash-checked unless told otherwise."""
        if name not in self.manifest.files:
            raise MissingFileError(f"{name!r} is not listed in {self.folder / MANIFEST_NAME}")
        path = self.folder / _safe_relative(name)
        if verify:
            verify_file(self.folder, name, self.manifest.files[name])
            if self.manifest.files[name].kind == "onnx":
                self._verify_external_data(name, path)
        return path

    def _verify_external_data(self, name: str, path: Path) -> None:
        """An ONNX graph's external data files must be listed in the manifest and match their hashes."""
        from runtime.onnx_external import ExternalDataError, check_external_data, normalized_location

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


def verify_file(folder: Path, name: str, entry: FileEntry) -> None:
    path = Path(folder) / _safe_relative(name)
    if path.is_symlink():
        # A symlink could point anywhere; artifacts are plain folders.
        raise UnsafePathError(f"{path} is a symbolic link; artifact files must be regular files")
    if not path.is_file():
        raise MissingFileError(f"{path} is named in the manifest but missing")
    if path.stat().st_size != entry.size:
        raise HashMismatchError(
            f"{path} is {path.stat().st_size} bytes, the manifest says {entry.size}: the file was "
            "changed or truncated after export; re-export the artifact"
        )
    actual = sha256_file(path)
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
