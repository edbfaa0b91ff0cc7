"""Damaged and tampered artifacts: every case ends in a typed error within 2 s, in a child process.

A crash (segfault in a native library) or a hang fails the case instead of killing the test run.
"""

from __future__ import annotations

import json
import shutil

import pytest

from testbed.artifacts import make_onnx_artifact
from testbed.faults.case_runner import run_cases
from testbed.faults.corrupt import TRUNCATIONS, add_fake_engine, damaged_copies, schema_cases

LIMIT_S = 2.0
FLIPS = 100


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Build every damaged case once and run them all (one child process, restarted after a crash)."""
    root = tmp_path_factory.mktemp("faults")
    good = make_onnx_artifact(root / "good")
    with_engine = root / "good-engine"
    shutil.copytree(good, with_engine)
    add_fake_engine(with_engine)
    cases = (damaged_copies(good, root, "model.onnx", "artifact", "onnx-vouched", FLIPS)
             + damaged_copies(good, root, "model.onnx", "backend", "onnx-loose", FLIPS)
             + damaged_copies(good, root, "manifest.json", "artifact", "manifest", FLIPS)
             + damaged_copies(with_engine, root, "model.fp16.engine", "engine", "engine", FLIPS)
             + schema_cases(good, root)
             + [{"id": "good", "kind": "artifact", "path": str(good)},
                {"id": "good-loose", "kind": "backend", "path": str(good / "model.onnx")}])
    results = run_cases(cases, timeout_s=LIMIT_S)
    return {r.case: r for r in results}, {c["id"]: c for c in cases}


def _select(outcomes, prefix):
    results, cases = outcomes
    chosen = {k: v for k, v in results.items() if k.startswith(prefix)}
    assert chosen, f"no case starts with {prefix}"
    return chosen, cases


def test_good_artifact_loads_and_runs(outcomes):
    results, _ = outcomes
    assert results["good"].outcome == "ok", results["good"]
    assert results["good-loose"].outcome == "ok", results["good-loose"]


@pytest.mark.parametrize("prefix, error", [("onnx-vouched", "HashMismatchError"), ("engine", "EngineMismatchError")])
def test_vouched_files_refused_by_hash(outcomes, prefix, error):
    """A damaged model or engine under the export's manifest never reaches a parser: hash mismatch."""
    chosen, cases = _select(outcomes, prefix)
    assert len(chosen) == len(TRUNCATIONS) + FLIPS
    for case_id, result in chosen.items():
        assert result.outcome == "error" and result.error == error, (case_id, result)
        assert result.seconds < LIMIT_S


def test_loose_damaged_onnx_gets_typed_error_or_runs(outcomes):
    """Without a manifest, a damaged ONNX either still parses (a flipped weight) or is a BackendError."""
    chosen, _ = _select(outcomes, "onnx-loose")
    bad = {k: r for k, r in chosen.items() if r.outcome not in ("ok", "error") or (r.outcome == "error" and not r.typed)}
    assert not bad, bad
    for case_id in (f"onnx-loose-trunc-{how}" for how in TRUNCATIONS):
        assert chosen[case_id].outcome == "error" and chosen[case_id].typed, chosen[case_id]
    assert all(r.seconds < LIMIT_S for r in chosen.values())


def test_damaged_manifest_is_typed_error_or_still_vouches(outcomes):
    """A flipped manifest either fails with an ArtifactError or still names the very same bytes."""
    chosen, cases = _select(outcomes, "manifest")
    for case_id, result in chosen.items():
        assert result.outcome in ("ok", "error"), (case_id, result)
        if result.outcome == "error":
            assert result.typed, (case_id, result)
        else:
            # Only a flip that left every hash and the model's contract intact may load.
            data = json.loads(open(cases[case_id]["path"] + "/manifest.json", "rb").read())
            good = json.loads(open(cases[case_id]["path"].rsplit("/", 1)[0] + "/good/manifest.json").read())
            assert data["files"]["model.onnx"]["sha256"] == good["files"]["model.onnx"]["sha256"]
        assert result.seconds < LIMIT_S
    for how in TRUNCATIONS:
        assert chosen[f"manifest-trunc-{how}"].error in ("ManifestError", "MissingFileError")


def test_other_schema_versions_refused(outcomes):
    chosen, _ = _select(outcomes, "schema-")
    for case_id, result in chosen.items():
        assert result.outcome == "error" and result.error == "SchemaVersionError", (case_id, result)
