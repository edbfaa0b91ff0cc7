"""What a model family hands the export pipeline: its graphs, its input, its preprocessing, its labels.

A family adapter (one module per family in export/models/) turns a checkpoint into a `Bundle`: one
`Graph` per ONNX file to write (VideoMAE: one; video-text models: a video, a text, and a head or a
per-frame graph), with what it takes to export and check each. The pipeline (export/pipeline.py)
never looks inside a family: it exports, gates and packages whatever graphs the bundle holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from runtime.artifact import InputSpec, Preprocessing
from runtime.cli.errors import TubeletError

TASKS = ("classification", "video_text")


class VideoTextExportError(TubeletError, ValueError):
    """The model or options given to the video-text export are not usable."""


@dataclass
class Graph:
    """One ONNX graph of a model, with what it takes to export and check it."""

    role: str  # video | text | head | frame
    file: str
    module: object
    example: tuple
    inputs: list[str]
    outputs: list[str]
    dynamic_axes: dict
    reference: Callable | None = None  # the library's own function (tensors → [tensors]); default: module
    scores: bool = False  # the output is a score (logits, similarity): its FP16 gate also checks top-1


@dataclass
class VideoTextSpec:
    """How the runtime runs a video-text model's graphs together (manifest.video_text)."""

    tokenizer_json: Path
    max_length: int
    pad_id: int
    embed_dim: int
    logit_scale: float
    text_normalized: bool
    video_pooling: str


@dataclass
class Bundle:
    family: str
    task: str  # classification | video_text
    input: InputSpec
    preprocessing: Preprocessing
    graphs: list[Graph]
    labels: list[str] = field(default_factory=list)  # class names (classification), default prompts (video-text)
    background: list[str] = field(default_factory=list)  # those of the labels that mean nothing is happening
    sampling: dict = field(default_factory=dict)  # Sampling fields the checkpoint asks for; options override them
    source: dict = field(default_factory=dict)
    video_text: VideoTextSpec | None = None
    end_to_end: Callable | None = None  # (pixel_values, ids, mask) → head similarity, from HF's forward

    def graph(self, role: str) -> Graph | None:
        return next((g for g in self.graphs if g.role == role), None)


@dataclass
class LoadRequest:
    """What the export options tell an adapter: the rest comes from the checkpoint."""

    model: str
    labels: list[str] | None = None  # classification: class names for configs without id2label
    frames: int | None = None  # CLIP mean-pool: frames per window (CLIP has no clip length)
    example_batch: int = 2  # batch of the example inputs the exporter traces with


class FamilyAdapter(Protocol):
    """A model family: registered in export/models/registry.py under its config's model_type."""

    name: str  # the manifest's family and build_engine.py's --family
    model_type: str  # config.json's model_type
    task: str  # classification | video_text

    def load(self, request: LoadRequest) -> Bundle: ...


def default_sampling(frames: int) -> dict:
    """Every frame taken, four windows falling due per clip span."""
    return {"frame_stride": 1, "target_fps": None, "window_stride": max(1, frames // 4)}


def checked_config(model: str, model_types: tuple[str, ...], model_class=None):
    """The transformers config, once the folder's files read cleanly and (given `model_class`) its sizes
    match the weights' shapes: all before any weight is loaded."""
    from transformers import AutoConfig

    from export.inputs import ExportInputError, check_model_folder, check_weight_shapes

    folder = Path(model)
    try:
        check_model_folder(model)
    except ExportInputError as exc:
        raise VideoTextExportError(str(exc)) from None
    if folder.exists() and not list(folder.glob("*.safetensors")):
        raise VideoTextExportError(f"{folder} has no .safetensors weights (pickled weights are refused)")
    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise VideoTextExportError(f"{model}: cannot read a transformers config ({' '.join(str(exc).split())})") from None
    if config.model_type not in model_types:
        raise VideoTextExportError(f"{model} is a {config.model_type!r} checkpoint, expected model_type {model_types}")
    if model_class is not None and folder.exists():
        try:
            check_weight_shapes(model_class, config, folder)
        except ExportInputError as exc:
            raise VideoTextExportError(str(exc)) from None
    return config
