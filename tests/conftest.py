"""Shared fixtures: tiny random-init models built here, artifacts exported into tmp folders."""

from __future__ import annotations

import shutil

import pytest

from testbed.artifacts import make_onnx_artifact
from tests.fixtures.tiny_videomae import save_tiny_videomae

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
