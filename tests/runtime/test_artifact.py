import json

import pytest

from runtime.artifact import (SCHEMA_VERSION, HashMismatchError, ManifestError, MissingFileError, NotAFileError,
                              SchemaVersionError,
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


def test_background_labels_are_read_and_optional(onnx_artifact):
    assert load_artifact(onnx_artifact).manifest.background == []  # a manifest without the key
    _edit_manifest(onnx_artifact, lambda d: d.update(background=["still"]))
    assert load_artifact(onnx_artifact).manifest.background == ["still"]


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
    (lambda d: d.update(labels="abc"), "labels must be a list of non-empty strings, got 'abc'"),
    (lambda d: d.update(labels={"left": 0, "right": 1}), "labels must be a list"),
    (lambda d: d.update(outputs="logits"), "outputs must be a list"),
    (lambda d: d.update(labels=["left", "left", "still"]), r"labels must be distinct, \['left'\]"),
    (lambda d: d["files"]["model.onnx"]["details"].update(batch_profile=[1, 8]), r"batch_profile must be \[min, opt, max\]"),
    (lambda d: d["files"]["model.onnx"]["details"].update(batch_profile=[0, 0, 0]), "1 <= min <= opt <= max"),
    (lambda d: d["sampling"].update(target_fps=1e300), r"target_fps must be a finite number in \(0, 1000\]"),
    (lambda d: (d["input"].update(height=100000, width=100000),
                d["preprocessing"].update(crop_height=100000, crop_width=100000)), r"input.height must be an integer in 1..4096"),
    (lambda d: d["input"].update(frames=512, height=4096, width=4096), "more than the 67108864 one clip may hold"),
    (lambda d: d.update(background="still"), "background must be a list of non-empty strings"),
    (lambda d: d.update(background=["stil"]), r"background label\(s\) \['stil'\] are not among the labels"),
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


def test_file_reached_through_a_symlinked_folder_is_refused(onnx_artifact, tmp_path):
    """sub/model.onnx with sub -> elsewhere: the file itself is regular, its folder is a link."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (onnx_artifact / "model.onnx").rename(elsewhere / "model.onnx")
    (onnx_artifact / "sub").symlink_to(elsewhere, target_is_directory=True)

    def move(d):
        d["files"]["sub/model.onnx"] = d["files"].pop("model.onnx")
    _edit_manifest(onnx_artifact, move)
    with pytest.raises(UnsafePathError, match=r"sub is a symbolic link"):
        load_artifact(onnx_artifact)


def test_symlinked_manifest_is_refused(onnx_artifact, tmp_path):
    real = tmp_path / "manifest-elsewhere.json"
    (onnx_artifact / "manifest.json").rename(real)
    (onnx_artifact / "manifest.json").symlink_to(real)
    with pytest.raises(UnsafePathError, match="manifest.json is a symbolic link"):
        read_manifest(onnx_artifact)


def test_artifact_path_that_is_a_file_says_so(onnx_artifact):
    with pytest.raises(NotAFileError, match=r"model.onnx is a file, not a folder"):
        load_artifact(onnx_artifact / "model.onnx")


@pytest.mark.parametrize("make, what", [
    (lambda p: p.mkdir(), "a folder"),
    (lambda p: __import__("os").mkfifo(p), r"a FIFO \(named pipe\)"),
])
def test_model_that_is_not_a_regular_file_says_what_it_is(onnx_artifact, make, what):
    (onnx_artifact / "model.onnx").unlink()
    make(onnx_artifact / "model.onnx")
    with pytest.raises(NotAFileError, match=rf"model.onnx is named in the manifest but is {what}, not a regular file"):
        load_artifact(onnx_artifact)  # and a FIFO is never opened: opening one would block


def test_manifest_that_is_a_folder_says_so(onnx_artifact):
    (onnx_artifact / "manifest.json").unlink()
    (onnx_artifact / "manifest.json").mkdir()
    with pytest.raises(NotAFileError, match="manifest.json is what makes .* a Tubelet artifact folder but is a folder"):
        read_manifest(onnx_artifact)


def test_sampling_bounds_can_be_checked_before_a_manifest_exists():
    from runtime.artifact import Sampling
    from runtime.artifact.bounds import sampling_problems

    assert sampling_problems(Sampling(frame_stride=1, target_fps=8.0, window_stride=4)) == []
    assert sampling_problems(Sampling(target_fps=1e20)) == [
        "sampling.target_fps must be a finite number in (0, 1000] or null, got 1e+20"]
    assert "sampling.window_stride must be an integer in 1..10000" in sampling_problems(Sampling(window_stride=0))[0]


def test_unhashed_paths_are_refused_through_a_symlinked_folder_too(onnx_artifact, tmp_path):
    """path(verify=False) (the TensorRT backend hashes what it reads itself) still walks real folders only."""
    artifact = load_artifact(onnx_artifact)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (onnx_artifact / "model.onnx").rename(elsewhere / "model.onnx")
    (onnx_artifact / "model.onnx").symlink_to(elsewhere / "model.onnx")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        artifact.path("model.onnx", verify=False)
