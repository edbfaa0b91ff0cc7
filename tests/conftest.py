"""Shared fixtures: tiny random-init models built here, artifacts exported into tmp folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

TINY = dict(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=64)
TINY_LABELS = ["wave", "push", "pull"]


def save_tiny_videomae(folder, labels=TINY_LABELS, processor=True, **overrides):
    """A random-init VideoMAE classifier saved with save_pretrained (safetensors)."""
    torch = pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
    transformers = pytest.importorskip("transformers", reason="export tests need the [export] extra")
    torch.manual_seed(0)
    params = {**TINY, **overrides}
    config = transformers.VideoMAEConfig(num_labels=len(labels), id2label=dict(enumerate(labels)),
                                         label2id={n: i for i, n in enumerate(labels)}, **params)
    model = transformers.VideoMAEForVideoClassification(config).eval()
    model.save_pretrained(folder)
    if processor:
        size = params["image_size"]
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "VideoMAEImageProcessor", "do_resize": True, "size": {"shortest_edge": size},
            "do_center_crop": True, "crop_size": {"height": size, "width": size}, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225], "resample": 2}))
    return folder


@pytest.fixture(autouse=True)
def environment_restored():
    """Each test ends with the environment it started with. A command's main() run in-process sets
    defaults for the libraries it quiets (OPENCV_LOG_LEVEL, TORCH_LOGS, ...) as a command should; left in
    place they read as the user's own settings to every later test and to the subprocesses it starts."""
    import os

    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(scope="session", autouse=True)
def compiled_model_cache(tmp_path_factory):
    """OpenVINO's compiled-model cache lands in a tmp folder, not ~/.cache/tubelet (TUBELET_CACHE_DIR)."""
    import os

    before = os.environ.get("TUBELET_CACHE_DIR")
    os.environ["TUBELET_CACHE_DIR"] = str(tmp_path_factory.mktemp("tubelet-cache"))
    yield
    if before is None:
        os.environ.pop("TUBELET_CACHE_DIR", None)
    else:
        os.environ["TUBELET_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    return save_tiny_videomae(tmp_path_factory.mktemp("ckpt") / "tiny-videomae")


@pytest.fixture(scope="session")
def tiny_artifact_session(tmp_path_factory, tiny_checkpoint):
    from export.pipeline import ExportOptions, build_artifact

    out = tmp_path_factory.mktemp("art") / "tiny"
    build_artifact(ExportOptions(model=str(tiny_checkpoint), output=out), log=lambda _: None)
    return out


@pytest.fixture
def tiny_artifact(tmp_path, tiny_artifact_session):
    """A private copy, so a test may tamper with it."""
    copy = tmp_path / "artifact"
    shutil.copytree(tiny_artifact_session, copy)
    return copy


def moving_square_video(path, frames=24, size=(48, 64), fps=10.0):
    """Write a real video file with OpenCV: a square moving right on a gray background."""
    import cv2

    height, width = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG video on this machine"
    for t in range(frames):
        image = np.full((height, width, 3), 90, np.uint8)
        x = 2 + t * (width - 14) // max(frames - 1, 1)
        image[height // 2 - 6:height // 2 + 6, x:x + 12] = (20, 40, 240)
        writer.write(image)
    writer.release()
    return path


def make_onnx_artifact(folder, frames=4, height=32, width=32, labels=("left", "right", "still"), layout="NTCHW"):
    """A torch-free artifact: a 3-node ONNX graph (mean over time/space → linear) plus a manifest.

    The weights make the score depend on each channel's mean, so different inputs give different labels.
    """
    onnx = pytest.importorskip("onnx", reason="needs the onnx package to build test graphs")
    from onnx import TensorProto, helper

    from runtime.artifact import InputSpec, Manifest, Preprocessing, Sampling, describe_file, write_manifest

    folder.mkdir(parents=True, exist_ok=True)
    spec = InputSpec("pixel_values", layout, frames, height, width)
    shape = ["batch", *spec.shape(1)[1:]]
    axes = [1, 3, 4] if layout == "NTCHW" else [2, 3, 4]
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, len(labels))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values", "axes"], ["pooled"], keepdims=0),
         helper.make_node("MatMul", ["pooled", "w"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [3], axes),
                     onnx.numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    manifest = Manifest(
        task="classification", family="test", input=spec,
        preprocessing=Preprocessing(resize_shortest_edge=height, resize_height=None, resize_width=None,
                                    crop_height=height, crop_width=width, mean=[0.5] * 3, std=[0.5] * 3),
        sampling=Sampling(frame_stride=1, window_stride=2), labels=list(labels), outputs=["logits"])
    manifest.files["model.onnx"] = describe_file(folder / "model.onnx", "onnx", precision="fp32", opset=18)
    write_manifest(folder, manifest)
    return folder


@pytest.fixture
def onnx_artifact(tmp_path):
    return make_onnx_artifact(tmp_path / "onnx-artifact")
