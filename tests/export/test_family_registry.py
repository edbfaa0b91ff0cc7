"""The family registry: every family under its config's model_type, unknown ones refused with the known listed."""

from __future__ import annotations

import json

import pytest

from export.models.contract import VideoTextExportError
from export.models.registry import detect_family, families, family_named, resolve_family


def test_every_family_is_registered_under_its_model_type():
    assert [(f.name, f.model_type, f.task) for f in families()] == [
        ("videomae", "videomae", "classification"), ("xclip", "xclip", "video_text"),
        ("clip-meanpool", "clip", "video_text"), ("videotext-motion", "tubelet-videotext-motion", "video_text")]


def test_an_unknown_model_type_lists_the_known_ones(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(VideoTextExportError) as err:
        detect_family(str(tmp_path))
    assert all(f"'{f.model_type}' ({f.name})" in str(err.value) for f in families())
    with pytest.raises(VideoTextExportError, match="choose one of videomae, xclip, clip-meanpool, videotext-motion"):
        family_named("bert")


def test_folders_that_name_no_family_keep_the_videomae_path(tmp_path):
    """Hub ids and folders without a usable config.json get VideoMAE's own checks, which say what is wrong."""
    assert resolve_family(str(tmp_path / "missing")).name == "videomae"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip"}))
    assert resolve_family(str(tmp_path)).name == "clip-meanpool"
    assert resolve_family(str(tmp_path), "xclip").name == "xclip"
