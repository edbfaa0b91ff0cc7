"""Fixtures for the Triton tests: the bundled model exported once, repositories written into tmp folders."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "models" / "videomae-motion"


@pytest.fixture(scope="session")
def bundled_artifact_dir(tmp_path_factory):
    """The bundled model exported as tests/models/test_bundled_model.py does (needs the [export] extra)."""
    pytest.importorskip("torch", reason="exporting the bundled model needs the [export] extra (torch)")
    from export.pipeline import ExportOptions, build_artifact

    out = tmp_path_factory.mktemp("bundled") / "videomae-motion"
    return Path(build_artifact(ExportOptions(model=str(BUNDLED), output=out), log=lambda _: None))


@pytest.fixture
def model_config_pb2():
    return pytest.importorskip("tritonclient.grpc.model_config_pb2",
                               reason="parsing config.pbtxt needs tritonclient: pip install 'tubelet[triton]'")
