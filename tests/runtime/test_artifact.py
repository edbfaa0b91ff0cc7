import json

import pytest

from runtime.artifact import (SCHEMA_VERSION, HashMismatchError, ManifestError, MissingFileError, SchemaVersionError,
                              UnsafePathError, load_artifact, read_manifest)


def _edit_manifest(folder, change):
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_round_trip(onnx_artifact):
    artifact = load_artifact(onnx_artifact)
    m = artifact.manifest
    assert m.schema_version == SCHEMA_VERSION
    assert (m.input.frames, m.input.height, m.input.width, m.input.layout) == (4, 32, 32, "NTCHW")
    assert m.labels == ["left", "right", "still"]
    assert artifact.path("model.onnx").is_file()
    assert len(m.files["model.onnx"].sha256) == 64


def test_hash_mismatch_names_the_file(onnx_artifact):
    onnx_path = onnx_artifact / "model.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(HashMismatchError, match="model.onnx"):
        load_artifact(onnx_artifact)


def test_truncated_file_is_caught_by_size(onnx_artifact):
    onnx_path = onnx_artifact / "model.onnx"
    onnx_path.write_bytes(onnx_path.read_bytes()[:-10])
    with pytest.raises(HashMismatchError, match="truncated"):
        load_artifact(onnx_artifact)


def test_missing_file(onnx_artifact):
    (onnx_artifact / "model.onnx").unlink()
    with pytest.raises(MissingFileError, match="model.onnx"):
        load_artifact(onnx_artifact)


def test_missing_manifest_and_folder(tmp_path):
    with pytest.raises(MissingFileError, match="does not exist"):
        load_artifact(tmp_path / "nope")
    with pytest.raises(MissingFileError, match="manifest.json"):
        load_artifact(tmp_path)


def test_unknown_schema_version(onnx_artifact):
    _edit_manifest(onnx_artifact, lambda d: d.update(schema_version=99))
    with pytest.raises(SchemaVersionError, match="99"):
        read_manifest(onnx_artifact)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("labels"), "labels"),
    (lambda d: d["input"].update(layout="NHWC"), "layout"),
    (lambda d: d["input"].update(frames=0), "frames"),
    (lambda d: d["preprocessing"].update(std=[0, 1, 1]), "std"),
    (lambda d: d["input"].update(bogus=1), "unknown keys"),
    (lambda d: d.update(temperature=0), "temperature"),
])
def test_bad_fields(onnx_artifact, change, message):
    _edit_manifest(onnx_artifact, change)
    with pytest.raises(ManifestError, match=message):
        read_manifest(onnx_artifact)


def test_not_json(onnx_artifact):
    (onnx_artifact / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(onnx_artifact)


@pytest.mark.parametrize("name", ["../outside.onnx", "/etc/passwd", "a/../../b"])
def test_file_names_outside_the_folder_are_refused(onnx_artifact, name):
    def change(d):
        d["files"][name] = d["files"]["model.onnx"]
    _edit_manifest(onnx_artifact, change)
    with pytest.raises(UnsafePathError):
        read_manifest(onnx_artifact)


def test_symlinked_file_is_refused(onnx_artifact, tmp_path):
    real = tmp_path / "elsewhere.onnx"
    (onnx_artifact / "model.onnx").rename(real)
    (onnx_artifact / "model.onnx").symlink_to(real)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        load_artifact(onnx_artifact)
