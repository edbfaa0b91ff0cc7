"""The model an artifact holds must match its manifest: checked when the backend opens, not at the first window."""

import json

import pytest

from runtime.artifact import ArtifactError, ModelMismatchError, describe_file, load_artifact
from runtime.backends import open_backend
from testbed.artifacts import make_onnx_artifact


def _edit(folder, change):
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("change, message", [
    (lambda d: d["labels"].append("extra"), "gives 3 scores per window but the manifest has 4 labels"),
    (lambda d: d.update(labels=["left", "right"]), "gives 3 scores per window but the manifest has 2 labels"),
    (lambda d: d.update(outputs=["probs"]), r"outputs \['probs'\] named in the manifest are not outputs"),
    (lambda d: d["input"].update(name="video"), "input 'video' named in the manifest is not an input"),
])
def test_manifest_that_differs_from_the_model_is_refused_at_open(onnx_artifact, change, message):
    _edit(onnx_artifact, change)
    with pytest.raises(ModelMismatchError, match=message):
        open_backend(load_artifact(onnx_artifact), "cpu")


def test_another_valid_model_with_a_matching_hash_is_refused(tmp_path):
    """A different graph (8 frames, 5 labels) put in place of model.onnx, its hash updated in the manifest."""
    artifact = make_onnx_artifact(tmp_path / "art")
    other = make_onnx_artifact(tmp_path / "other", frames=8, labels=tuple("abcde"))
    (artifact / "model.onnx").write_bytes((other / "model.onnx").read_bytes())

    def rehash(d):
        entry = describe_file(artifact / "model.onnx", "onnx", precision="fp32", opset=18)
        d["files"]["model.onnx"].update(sha256=entry.sha256, size=entry.size)
    _edit(artifact, rehash)
    with pytest.raises(ModelMismatchError, match=r"is \(N, 8, 3, 32, 32\), the manifest's NTCHW clip is \(N, 4, 3"):
        open_backend(load_artifact(artifact), "cpu")


def test_model_mismatch_is_an_artifact_error():
    assert issubclass(ModelMismatchError, ArtifactError)
