"""Shared fixtures: tiny random-init models built here, artifacts exported into tmp folders."""

from __future__ import annotations

import json
import shutil

import pytest

from testbed.artifacts import make_onnx_artifact

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


@pytest.fixture
def onnx_artifact(tmp_path):
    return make_onnx_artifact(tmp_path / "onnx-artifact")
