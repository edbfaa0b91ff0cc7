"""ONNX external data that leaves the model's folder is refused before ONNX Runtime opens anything."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from runtime.artifact import HashMismatchError, UnsafePathError, describe_file, load_artifact, read_manifest, write_manifest
from runtime.artifact.external_data import ExternalDataError, MalformedOnnxError, external_data_locations
from runtime.backends import BackendError, open_backend
from runtime.backends.onnxruntime import OnnxRuntimeBackend
from testbed.artifacts import make_onnx_artifact
from testbed.faults.case_runner import run_cases
from tests.fixtures.onnx_cases import WEIGHT, external_model

onnx = pytest.importorskip("onnx", reason="needs the onnx package to build test graphs")


def _escapes(tmp_path):
    """(case id → model path) for every way out of the folder."""
    outside = tmp_path / "outside"
    secret = outside / "secret.bin"
    cases = {
        "dotdot": external_model(tmp_path / "dotdot" / "model", "../secret.bin", tmp_path / "dotdot" / "secret.bin"),
        "dotdot-nested": external_model(tmp_path / "nested", "data/../../outside/secret.bin", secret),
        "absolute": external_model(tmp_path / "absolute", str(secret), secret),
        "backslash-dotdot": external_model(tmp_path / "backslash" / "m", "..\\secret.bin"),
        "in-constant-node": external_model(tmp_path / "constant" / "m", "../secret.bin", tmp_path / "constant" / "secret.bin",
                                           in_constant=True),
    }
    link_file = tmp_path / "symlink-file"
    link_file.mkdir()
    os.symlink(secret, link_file / "w.bin")
    cases["symlink-file"] = external_model(link_file, "w.bin")
    link_dir = tmp_path / "symlink-dir"
    link_dir.mkdir()
    os.symlink(outside, link_dir / "data")
    cases["symlink-dir"] = external_model(link_dir, "data/secret.bin")
    return cases


def test_escaping_locations_refused_before_ort_opens(tmp_path, monkeypatch):
    import onnxruntime

    opened = []
    real = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: opened.append(a) or real(*a, **k))
    for case_id, model in _escapes(tmp_path).items():
        with pytest.raises(ExternalDataError) as info:
            OnnxRuntimeBackend(model, device="cpu")
        # One error that both kinds of caller recognise, naming the location and the fix.
        assert isinstance(info.value, UnsafePathError) and isinstance(info.value, BackendError), case_id
        assert "external data location" in str(info.value), case_id
    assert opened == []  # ONNX Runtime never saw any of them


def test_escapes_are_typed_errors_in_a_child_within_2s(tmp_path):
    cases = [{"id": k, "kind": "backend", "path": str(v)} for k, v in _escapes(tmp_path).items()]
    results = run_cases(cases, timeout_s=2.0)
    assert {r.case: r.error for r in results} == {c["id"]: "ExternalDataError" for c in cases}
    assert max(r.seconds for r in results) < 2.0


def _artifact_with_external_data(folder):
    """A real artifact whose weights are ONNX external data (as onnx.save writes them for > 2 GB)."""
    model = external_model(folder, "weights.bin", folder / "weights.bin")
    from runtime.artifact import InputSpec, Manifest, Preprocessing, Sampling

    manifest = Manifest(task="classification", family="test", input=InputSpec("x", "NTCHW", 1, 1, 3),
                        preprocessing=Preprocessing(None, 1, 3, 1, 3, [0.0] * 3, [1.0] * 3), sampling=Sampling(),
                        labels=["a", "b", "c"], outputs=["y"])
    manifest.files["model.onnx"] = describe_file(model, "onnx", precision="fp32")
    manifest.files["weights.bin"] = describe_file(folder / "weights.bin", "onnx_data")
    write_manifest(folder, manifest)
    return folder


def test_vouched_external_data_loads_and_runs(tmp_path):
    folder = _artifact_with_external_data(tmp_path / "art")
    with OnnxRuntimeBackend(load_artifact(folder).path("model.onnx"), device="cpu") as backend:
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        np.testing.assert_array_equal(backend.infer({"x": x})["y"], x @ WEIGHT)


def test_unlisted_external_data_is_not_loaded(tmp_path):
    """A data file inside the folder that the manifest does not list: no hash vouches for it."""
    folder = _artifact_with_external_data(tmp_path / "art")
    manifest = read_manifest(folder)
    del manifest.files["weights.bin"]
    write_manifest(folder, manifest)
    with pytest.raises(ExternalDataError, match="does not list"):
        load_artifact(folder).path("model.onnx")


def test_tampered_external_data_is_not_loaded(tmp_path):
    folder = _artifact_with_external_data(tmp_path / "art")
    artifact = load_artifact(folder)
    (folder / "weights.bin").write_bytes((2 * WEIGHT).tobytes())  # same size, other weights
    with pytest.raises(HashMismatchError, match="weights.bin"):
        artifact.path("model.onnx")


def test_scanner_agrees_with_onnx_on_mutated_models(tmp_path):
    """Differential check: on 300 seeded mutations, whenever the onnx package parses a file our wire
    scan finds the same external locations, and it never calls a parseable model malformed."""
    model = external_model(tmp_path, "weights.bin", tmp_path / "weights.bin", in_constant=True)
    data = model.read_bytes()
    rng = random.Random(1)
    parsed = 0
    for case in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        path = tmp_path / f"m{case}.onnx"
        path.write_bytes(bytes(mutated))
        try:
            proto = onnx.load_model_from_string(bytes(mutated))
        except Exception:  # noqa: BLE001 - the onnx package refused it; ours may refuse or not
            proto = None
        try:
            ours = external_data_locations(path)
        except (MalformedOnnxError, ExternalDataError):
            ours = None
        if proto is not None:
            parsed += 1
            expected = _onnx_locations(proto)
            if ours is None:  # only a location that is not UTF-8 may be refused on a parseable file
                with pytest.raises(ExternalDataError, match="not valid UTF-8"):
                    external_data_locations(path)
            else:
                assert ours == expected, case
    assert parsed > 30  # the comparison really ran on parseable files


def _onnx_locations(proto):
    found = []

    def tensor(t):
        found.extend(e.value for e in t.external_data if e.key == "location")

    def graph(g):
        for t in g.initializer:
            tensor(t)
        for n in g.node:
            for a in n.attribute:
                if a.HasField("t"):
                    tensor(a.t)
                for t in a.tensors:
                    tensor(t)
                if a.HasField("g"):
                    graph(a.g)
                for sub in a.graphs:
                    graph(sub)

    graph(proto.graph)
    return list(dict.fromkeys(found))


def test_artifact_onnx_export_round_trip(tmp_path):
    """The normal artifact (no external data) still opens through open_backend."""
    folder = make_onnx_artifact(tmp_path / "plain")
    with open_backend(load_artifact(folder), "cpu") as backend:
        assert backend.inputs[0].name == "pixel_values"
