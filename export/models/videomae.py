"""VideoMAE (transformers.VideoMAEForVideoClassification) export adapter."""

from __future__ import annotations

import json
import re
from pathlib import Path

from export.models.contract import Bundle, Graph, LoadRequest, default_sampling
from export.models.registry import register
from runtime.artifact import InputSpec, Preprocessing
from runtime.cli.errors import TubeletError

FAMILY = "videomae"
# Used when a checkpoint has no preprocessor_config.json: the VideoMAE image processor's defaults.
DEFAULT_MEAN = [0.485, 0.456, 0.406]
DEFAULT_STD = [0.229, 0.224, 0.225]
_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


class CheckpointError(TubeletError, ValueError):
    """The model given to export is not a usable VideoMAE checkpoint."""


def load(request: LoadRequest) -> Bundle:
    """One graph, `pixel_values` → `logits`, from a local save_pretrained folder or, when online, a hub
    id. Safetensors only.

    Every check that reads only small files (config, labels, sampling, preprocessing, the weights'
    shapes) runs before the weights are loaded.
    """
    from transformers import AutoConfig, VideoMAEForVideoClassification

    import torch

    from export.inputs import ExportInputError, check_model_folder, check_unique, check_weight_shapes

    model, labels = request.model, request.labels
    local = Path(model)
    try:
        check_model_folder(model)
        if local.exists():
            _check_local_folder(local)
    except ExportInputError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{model}: cannot read a transformers config ({_one_line(exc)})") from None
    if config.model_type != "videomae":
        raise CheckpointError(f"{model} is a {config.model_type!r} checkpoint, not VideoMAE (model_type 'videomae')")
    if labels is not None and not labels:
        raise CheckpointError(f"the labels list for {model} is empty: give one label per class, or None to read id2label")
    labels = labels or _labels_from_config(config, model)
    if len(labels) != config.num_labels:
        raise CheckpointError(f"{len(labels)} labels given but the classifier has {config.num_labels} outputs")
    spec = InputSpec(name="pixel_values", layout="NTCHW", frames=int(config.num_frames),
                     height=int(config.image_size), width=int(config.image_size))
    try:
        check_unique(labels, f"{model}: the labels")
        if local.exists():
            check_weight_shapes(VideoMAEForVideoClassification, config, local)
    except ExportInputError as exc:
        raise CheckpointError(str(exc)) from None
    pre, pre_source = _preprocessing(model, local, spec)
    stored = read_sampling(local, spec.frames)
    sampling = default_sampling(spec.frames) if stored is None else stored
    # use_safetensors=True: never fall back to a pickled pytorch_model.bin.
    net = VideoMAEForVideoClassification.from_pretrained(model, use_safetensors=True).eval()
    source = {"model": str(model), "local": local.exists(), "preprocessing_from": pre_source,
              "tubelet_size": int(config.tubelet_size), "patch_size": int(config.patch_size),
              "hidden_size": int(config.hidden_size), "layers": int(config.num_hidden_layers)}
    source["sampling_from"] = "defaults" if stored is None else "sampling.json"
    graph = Graph("video", "model.onnx", logits_module(net), (torch.zeros(spec.shape(request.example_batch)),),
                  [spec.name], ["logits"], {spec.name: {0: "batch"}}, scores=True)
    return Bundle(family=FAMILY, task="classification", input=spec, preprocessing=pre, graphs=[graph], labels=labels,
                  sampling=sampling, source=source)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def logits_module(net):
    """The classifier as a module of one tensor in, one out (`pixel_values` → `logits`), for export."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values):
            return self.inner(pixel_values=pixel_values).logits

    return Logits(net).eval()


def read_sampling(folder: Path, frames: int) -> dict | None:
    """How the runtime must sample a camera for this checkpoint, from its `sampling.json`; None without one.

    `sampling.json` is Tubelet's own small file beside a checkpoint ({"target_fps": 7.5,
    "window_stride": 2}). Keys it leaves out take the defaults for a clip of `frames` frames; without
    the file the exporter takes every frame and lets four windows fall due per clip span. Training's
    tools read the clip rate here too, so a file export would refuse is refused everywhere.
    """
    from export.inputs import ExportInputError, check_sampling

    defaults = default_sampling(frames)
    path = Path(folder) / "sampling.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from None
    unknown = set(data) - set(defaults) if isinstance(data, dict) else {"<not an object>"}
    if unknown:
        raise CheckpointError(f"{path}: unknown keys {sorted(unknown)}; allowed {sorted(defaults)}")
    try:
        check_sampling(data, str(path))
    except ExportInputError as exc:
        raise CheckpointError(str(exc)) from None
    return {**defaults, **data}


def _check_local_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is a file; give the folder written by save_pretrained")
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder} has no config.json: it is not a save_pretrained checkpoint folder")
    weights = list(folder.glob("*.safetensors"))
    if not weights:
        pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt*")]
        hint = f" (found {pickled}: pickled weights are refused; re-save with save_pretrained(safe_serialization=True))" if pickled else ""
        raise CheckpointError(f"{folder} has no .safetensors weights{hint}")


def _labels_from_config(config, model: str) -> list[str]:
    id2label = {int(k): v for k, v in (config.id2label or {}).items()}
    names = [id2label.get(i) for i in range(config.num_labels)]
    # transformers fills LABEL_0, LABEL_1, ... when a config has no labels of its own.
    if any(n is None for n in names) or all(re.fullmatch(r"LABEL_\d+", n) for n in names):
        raise CheckpointError(
            f"{model}: the config has no class labels (id2label is missing or the LABEL_0.. placeholders); "
            "set id2label before save_pretrained, or pass --labels FILE (one label per line)"
        )
    return names


def _preprocessing(model: str, local: Path, spec: InputSpec) -> tuple[Preprocessing, str]:
    data = None
    if local.exists():
        path = local / "preprocessor_config.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CheckpointError(f"{path} is not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise CheckpointError(f"{path} must hold a JSON object, got {type(data).__name__}")
    else:
        try:  # hub id: the processor config is a small JSON file next to the weights
            from huggingface_hub import hf_hub_download

            data = json.loads(Path(hf_hub_download(model, "preprocessor_config.json")).read_text(encoding="utf-8"))
        except Exception:  # no processor config published: fall back to defaults, reported in the manifest
            data = None
    if data is None:
        pre = Preprocessing(resize_shortest_edge=spec.height, resize_height=None, resize_width=None,
                            crop_height=spec.height, crop_width=spec.width,
                            mean=list(DEFAULT_MEAN), std=list(DEFAULT_STD))
        warn_default_preprocessing(model, "VideoMAE image processor", pre)
        return pre, "defaults"
    return preprocessing_from_processor_config(data, spec.height, spec.width), "preprocessor_config.json"


def warn_default_preprocessing(model: str, whose: str, pre: Preprocessing) -> None:
    """One warning line: the checkpoint has no preprocessor_config.json, so these steps are assumed."""
    import logging

    logging.getLogger("tubelet.export").warning(
        f"{model} has no preprocessor_config.json: using the {whose} defaults (resize shortest edge "
        f"{pre.resize_shortest_edge}, center crop {pre.crop_height}x{pre.crop_width}, mean {pre.mean}, std {pre.std}, "
        f"{pre.interpolation}); the manifest records them as defaults. Save the model's image processor beside it "
        "if it was trained otherwise")


def preprocessing_from_processor_config(data: dict, height: int, width: int) -> Preprocessing:
    """The manifest's preprocessing for a `VideoMAEImageProcessor` config (a dict) of a model whose input
    is height x width: the one reading of that config, for export and for training's own pixels."""
    size = data.get("size") or {}
    if isinstance(size, int):
        size = {"shortest_edge": size}
    crop = data.get("crop_size") or {}
    if isinstance(crop, int):
        crop = {"height": crop, "width": crop}
    if not data.get("do_center_crop", True) or not crop:
        crop = {"height": height, "width": width}
    if (crop.get("height"), crop.get("width")) != (height, width):
        raise CheckpointError(
            f"preprocessor crop_size {crop} differs from the model's image_size {height}: the position "
            "table fixes the resolution, so the processor config must crop to it"
        )
    do_resize = data.get("do_resize", True)
    normalize = data.get("do_normalize", True)
    shortest = size.get("shortest_edge") if do_resize else None
    return Preprocessing(
        resize_shortest_edge=shortest,
        resize_height=None if shortest else (size.get("height") if do_resize else None),
        resize_width=None if shortest else (size.get("width") if do_resize else None),
        crop_height=height, crop_width=width,
        mean=[float(v) for v in data.get("image_mean", DEFAULT_MEAN)] if normalize else [0.0, 0.0, 0.0],
        std=[float(v) for v in data.get("image_std", DEFAULT_STD)] if normalize else [1.0, 1.0, 1.0],
        rescale=float(data.get("rescale_factor", 1 / 255)) if data.get("do_rescale", True) else 1.0,
        interpolation=_RESAMPLE.get(data.get("resample", 2), "bilinear"),
    )


register(FAMILY, "videomae", "classification", load)
