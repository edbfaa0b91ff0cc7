"""The artifact contract: what export writes and the runtime reads.

An artifact is one folder holding `manifest.json` plus the files it names (ONNX graphs, engines,
embeddings). The manifest is typed and versioned; every file it names carries a sha256 that is
checked before the file is used, so nothing is loaded that the manifest does not vouch for.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from runtime.manifest_check import type_and_range_problems, video_text_problems

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


class NotAFileError(MissingFileError):
    """A path the artifact needs as a regular file (or folder) is something else: a folder, a FIFO, a device."""


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

    @property
    def batch_profile(self) -> tuple[int, int, int] | None:
        """(min, opt, max) batch the graph was exported for (validated at read time), or None."""
        profile = self.details.get("batch_profile")
        return tuple(profile) if profile else None


@dataclass
class VideoTextSpec:
    """How a video-text artifact's graphs work together (written by export/videotext.py)."""

    video_graph: str
    text_graph: str
    tokenizer: str
    max_length: int
    pad_id: int
    logit_scale: float = 100.0
    head_graph: str | None = None  # X-CLIP's prompt-conditioned head
    frame_graph: str | None = None  # CLIP mean-pool's per-frame encoder
    embeddings: str | None = None  # the label prompts, encoded at export (text_embeddings.npy)
    embed_dim: int | None = None
    text_normalized: bool = False
    video_pooling: str | None = None

    def files(self) -> dict[str, str | None]:
        """Role → the file name it refers to (None where the model has no such part)."""
        return {"video_graph": self.video_graph, "text_graph": self.text_graph, "tokenizer": self.tokenizer,
                "head_graph": self.head_graph, "frame_graph": self.frame_graph, "embeddings": self.embeddings}

    def problems(self, files: dict) -> list[str]:
        return video_text_problems(self, files)


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
    # task video_text: how the graphs work together; written by export/videotext.py. Optional key,
    # so manifests without it still read: no schema version change. A dict assigned by a writer
    # becomes a VideoTextSpec in check().
    video_text: VideoTextSpec | None = None
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
        files = data.get("files", {})
        if not isinstance(files, dict):
            raise ManifestError(f"manifest field 'files' must be an object, got {type(files).__name__}")
        try:
            # Values are taken as they are, never coerced: list("abc") would make labels of letters.
            manifest = cls(
                task=data["task"],
                family=data["family"],
                input=_typed(InputSpec, data["input"], "input"),
                preprocessing=_typed(Preprocessing, data["preprocessing"], "preprocessing"),
                sampling=_typed(Sampling, data["sampling"], "sampling"),
                labels=data["labels"],
                outputs=data["outputs"],
                files={k: _typed(FileEntry, v, f"files.{k}") for k, v in files.items()},
                temperature=data.get("temperature", 1.0),
                source=data.get("source", {}),
                tool_versions=data.get("tool_versions", {}),
                validation=data.get("validation", {}),
                video_text=_typed(VideoTextSpec, data["video_text"], "video_text") if data.get("video_text") else None,
            )
        except KeyError as exc:
            raise ManifestError(f"manifest is missing the field {exc.args[0]!r}") from None
        manifest.check()
        return manifest

    def check(self) -> None:
        """Validate values the runtime relies on, so a bad manifest fails here and not mid-stream."""
        if isinstance(self.video_text, dict):  # as a writer assigns it: typed here, checked below
            self.video_text = _typed(VideoTextSpec, self.video_text, "video_text") if self.video_text else None
        problems = type_and_range_problems(self)
        if problems:  # the value checks below assume the types are right
            raise ManifestError("invalid manifest: " + "; ".join(problems))
        if self.task not in TASKS:
            problems.append(f"task {self.task!r} not in {TASKS}")
        if self.input.layout not in LAYOUTS:
            problems.append(f"input.layout {self.input.layout!r} not in {LAYOUTS}")
        pre = self.preprocessing
        if len(pre.mean) != self.input.channels or len(pre.std) != self.input.channels:
            problems.append("preprocessing.mean/std need one value per channel")
        if any(s <= 0 for s in pre.std):
            problems.append(f"preprocessing.std must be positive, got {pre.std}")
        if pre.color not in ("RGB", "BGR"):
            problems.append(f"preprocessing.color {pre.color!r} must be RGB or BGR")
        if (pre.crop_height, pre.crop_width) != (self.input.height, self.input.width):
            problems.append("preprocessing crop size differs from the input height/width")
        if self.task == "classification" and not self.labels:
            problems.append("a classification artifact needs labels")
        if self.task == "video_text" and self.video_text is None:
            problems.append("a video_text artifact needs its video_text section (re-export with export/build_engine.py)")
        if self.video_text is not None:
            problems.extend(self.video_text.problems(self.files))
        for name in self.files:
            _safe_relative(name)
        if problems:
            raise ManifestError("invalid manifest: " + "; ".join(problems))

    def file_of_kind(self, kind: str, precision: str | None = None, compute: str | None = None) -> str | None:
        """The first file of that kind and precision. A graph recorded with a `compute` detail (the INT8 Q/DQ
        graph in FP16 that strongly typed TensorRT builds from) is returned only when asked for by it."""
        for name, entry in self.files.items():
            if (entry.kind == kind and (precision is None or entry.precision == precision)
                    and entry.details.get("compute") == compute):
                return name
        return None


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
        path = _check_plain_file(self.folder, _safe_relative(name), "named in the manifest")
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
    path = _check_plain_file(Path(folder), _safe_relative(name), "named in the manifest")
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
