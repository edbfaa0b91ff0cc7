"""The typed, versioned manifest: what export writes into `manifest.json` and the runtime reads.

Every value is typed at read time (`Manifest.from_dict`) and checked against what the runtime relies
on (`Manifest.check`, with the numeric bounds in `runtime.artifact.bounds`), so a bad manifest fails
here with one line naming the field, and not mid-stream.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from runtime.artifact.bounds import type_and_range_problems, video_text_problems
from runtime.artifact.errors import ManifestError, SchemaVersionError, UnsafePathError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
LAYOUTS = ("NTCHW", "NCTHW")
TASKS = ("classification", "video_text")


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
    # Labels (a video-text model's default prompts) that mean nothing is happening: no action events,
    # no onsets. Optional key, so manifests without it still read (the recognizer then takes "no
    # action" alone, where a label: runtime.postprocess.default_background).
    background: list[str] = field(default_factory=list)
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
                background=data.get("background", []),
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
        stray = [b for b in self.background if b not in self.labels]
        if stray:
            problems.append(f"background label(s) {stray} are not among the labels")
        if self.task == "classification" and not self.labels:
            problems.append("a classification artifact needs labels")
        if self.task == "video_text" and self.video_text is None:
            problems.append("a video_text artifact needs its video_text section (re-export with export/build_engine.py)")
        if self.video_text is not None:
            problems.extend(self.video_text.problems(self.files))
        for name in self.files:
            safe_relative(name)
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


def safe_relative(name: str) -> str:
    """File names are plain relative paths inside the folder: no '..', no absolute paths."""
    path = Path(name)
    if not name or path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")) or "\x00" in name:
        raise UnsafePathError(f"file name {name!r} in the manifest points outside the artifact folder")
    return name
