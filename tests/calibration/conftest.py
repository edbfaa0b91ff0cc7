"""Calibration fixtures."""

import pytest

from tests.fixtures.calib_helpers import synth_artifact as _synth_artifact


@pytest.fixture
def synth_artifact(tmp_path):
    return _synth_artifact(tmp_path / "synth-artifact")
