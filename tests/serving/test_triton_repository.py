"""tubelet-triton: every config.pbtxt parsed into Triton's own ModelConfig and checked against the manifest."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from runtime.artifact import describe_file, load_artifact, read_manifest, write_manifest
from runtime.triton_repo import RepositoryError, RepositoryOptions, write_repository
from runtime.triton_repo.config import MANIFEST_PARAMETER
from testbed.artifacts import make_onnx_artifact

TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16"}


def _parse(model_config_pb2, path):
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())


def _check_against_manifest(pb, config, art, entry_dir, platform, max_batch, kind):
    """Field by field: what the server will be told is what the artifact is (pb: model_config_pb2)."""
    m = art.manifest
    assert config.name == entry_dir.name
    assert config.platform == platform
    assert config.max_batch_size == max_batch
    assert [i.name for i in config.input] == [m.input.name]
    assert list(config.input[0].dims) == list(m.input.shape(1)[1:])
    assert pb.DataType.Name(config.input[0].data_type) == TYPES[m.input.dtype]
    assert [o.name for o in config.output] == m.outputs
    assert list(config.output[0].dims) == [len(m.labels)]
    assert pb.DataType.Name(config.output[0].data_type) == "TYPE_FP32"
    assert config.output[0].label_filename == "labels.txt"
    assert (entry_dir / "labels.txt").read_text(encoding="utf-8").splitlines() == m.labels
    assert len(config.instance_group) == 1 and config.instance_group[0].count == 1
    assert config.instance_group[0].kind == pb.ModelInstanceGroup.Kind.Value(kind)
    manifest_bytes = (art.folder / "manifest.json").read_bytes()
    assert (entry_dir / "manifest.json").read_bytes() == manifest_bytes
    assert config.parameters[MANIFEST_PARAMETER].string_value == hashlib.sha256(manifest_bytes).hexdigest()
    assert config.HasField("dynamic_batching")


def test_onnx_entry_of_the_bundled_model_parses_into_triton_model_config(bundled_artifact_dir, tmp_path,
                                                                         model_config_pb2):
    art = load_artifact(bundled_artifact_dir)
    [entry] = write_repository(art, tmp_path / "repo", log=lambda _: None)
    assert entry == tmp_path / "repo" / "videomae-motion"  # the artifact's name by default
    config = _parse(model_config_pb2, entry / "config.pbtxt")
    profile = art.manifest.files["model.onnx"].details["batch_profile"]
    _check_against_manifest(model_config_pb2, config, art, entry, "onnxruntime_onnx", profile[2], "KIND_AUTO")
    assert list(config.dynamic_batching.preferred_batch_size) == [profile[2] // 2, profile[2]]
    assert config.dynamic_batching.max_queue_delay_microseconds == 1000
    assert (entry / "1" / "model.onnx").read_bytes() == (art.folder / "model.onnx").read_bytes()
    marker = json.loads((entry / "tubelet.json").read_text())
    assert marker["written_by"] == "tubelet-triton"
    assert set(marker["files"]) == {"config.pbtxt", "labels.txt", "manifest.json", "1/model.onnx"}


def _with_engine(folder):
    """A small ONNX artifact plus an engine entry as the engine builder records it (the plan bytes are opaque here)."""
    m = read_manifest(folder)
    (folder / "model.fp16.engine").write_bytes(b"plan bytes: copied, never parsed by the writer")
    shapes = [list(m.input.shape(b)) for b in (1, 2, 4)]
    m.files["model.fp16.engine"] = describe_file(folder / "model.fp16.engine", "engine", precision="fp16", details={
        "profile": {m.input.name: shapes}, "onnx_sha256": m.files["model.onnx"].sha256, "tensorrt": "10.15"})
    write_manifest(folder, m)
    return folder


def test_options_and_a_tensorrt_plan_entry_where_the_artifact_holds_an_engine(tmp_path, model_config_pb2):
    art = load_artifact(_with_engine(make_onnx_artifact(tmp_path / "art", labels=("a", "b", "c", "d"))))
    options = RepositoryOptions(name="motion", preferred_batch_sizes=(2, 4), queue_delay_us=250, instance_count=3,
                                instance_kind="cpu")
    onnx_dir, plan_dir = write_repository(art, tmp_path / "repo", options, log=lambda _: None)
    assert (onnx_dir.name, plan_dir.name) == ("motion", "motion_trt_fp16")
    onnx_cfg = _parse(model_config_pb2, onnx_dir / "config.pbtxt")
    assert list(onnx_cfg.dynamic_batching.preferred_batch_size) == [2, 4]
    assert onnx_cfg.dynamic_batching.max_queue_delay_microseconds == 250
    assert onnx_cfg.instance_group[0].count == 3
    assert onnx_cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.Kind.KIND_CPU
    plan_cfg = _parse(model_config_pb2, plan_dir / "config.pbtxt")
    plan_cfg.instance_group[0].count = 1  # checked above; the rest as for any entry
    _check_against_manifest(model_config_pb2, plan_cfg, art, plan_dir, "tensorrt_plan", 4, "KIND_GPU")  # the engine's profile max
    assert list(plan_cfg.dynamic_batching.preferred_batch_size) == [2, 4]
    assert (plan_dir / "1" / "model.plan").read_bytes() == (art.folder / "model.fp16.engine").read_bytes()


def test_an_existing_entry_is_replaced_only_with_overwrite_and_only_when_ours(onnx_artifact, tmp_path):
    repo = tmp_path / "repo"
    [entry] = write_repository(onnx_artifact, repo, RepositoryOptions(name="m"), log=lambda _: None)
    with pytest.raises(RepositoryError, match="already exists; pass --overwrite"):
        write_repository(onnx_artifact, repo, RepositoryOptions(name="m"), log=lambda _: None)
    (entry / "labels.txt").write_text("stale\n")  # ours but changed: refused, untouched
    with pytest.raises(RepositoryError, match="labels.txt was changed"):
        write_repository(onnx_artifact, repo, RepositoryOptions(name="m"), overwrite=True, log=lambda _: None)
    assert (entry / "labels.txt").read_text() == "stale\n"
    (entry / "labels.txt").write_text("left\nright\nstill\n")  # as written: replaceable again
    (entry / "notes.txt").write_text("someone's file")
    with pytest.raises(RepositoryError, match="notes.txt was not written by tubelet-triton"):
        write_repository(onnx_artifact, repo, RepositoryOptions(name="m"), overwrite=True, log=lambda _: None)
    (entry / "notes.txt").unlink()
    write_repository(onnx_artifact, repo, RepositoryOptions(name="m"), overwrite=True, log=lambda _: None)
    assert sorted(p.name for p in repo.iterdir()) == ["m"]  # no staging or old folders left behind


def test_a_foreign_entry_is_never_touched(onnx_artifact, tmp_path):
    foreign = tmp_path / "repo" / "m"
    (foreign / "1").mkdir(parents=True)
    (foreign / "config.pbtxt").write_text('name: "m"\nbackend: "python"\n')
    with pytest.raises(RepositoryError, match="not ours to replace .no readable tubelet.json"):
        write_repository(onnx_artifact, tmp_path / "repo", RepositoryOptions(name="m"), overwrite=True,
                         log=lambda _: None)
    assert (foreign / "config.pbtxt").read_text() == 'name: "m"\nbackend: "python"\n'
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["m"]


def test_a_tampered_model_is_refused_before_anything_is_written(onnx_artifact, tmp_path):
    from runtime.artifact import HashMismatchError

    with open(onnx_artifact / "model.onnx", "r+b") as handle:
        handle.seek(40)
        byte = handle.read(1)
        handle.seek(40)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(HashMismatchError):
        write_repository(onnx_artifact, tmp_path / "repo", log=lambda _: None)
    assert not (tmp_path / "repo").exists()


def test_a_failed_write_leaves_the_repository_as_it_was(onnx_artifact, tmp_path, monkeypatch):
    from runtime.triton_repo import writer

    repo = tmp_path / "repo"
    write_repository(onnx_artifact, repo, RepositoryOptions(name="m"), log=lambda _: None)
    before = {p.relative_to(repo): p.read_bytes() for p in repo.rglob("*") if p.is_file()}

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_copy_verified", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_repository(onnx_artifact, repo, RepositoryOptions(name="m"), overwrite=True, log=lambda _: None)
    assert {p.relative_to(repo): p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before


def test_preferred_batch_sizes_beyond_the_profile_are_refused(onnx_artifact, tmp_path):
    with pytest.raises(RepositoryError, match=r"preferred batch sizes \[16\] lie outside 1..8"):
        write_repository(onnx_artifact, tmp_path / "repo", RepositoryOptions(preferred_batch_sizes=(4, 16)),
                         log=lambda _: None)
    assert not (tmp_path / "repo").exists()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "runtime.triton_repo", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_cli_writes_refuses_video_text_and_reports_errors_in_one_line(onnx_artifact, tmp_path):
    run = _cli("--artifact", onnx_artifact, "--repository", tmp_path / "repo", "--name", "tiny")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "repo" / "tiny" / "1" / "model.onnx").is_file()
    again = _cli("--artifact", onnx_artifact, "--repository", tmp_path / "repo", "--name", "tiny")
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "--overwrite" in again.stderr
    usage = _cli("--artifact", onnx_artifact, "--repository", tmp_path / "repo", "--preferred-batch", "4,x")
    assert usage.returncode == 2 and "comma-separated integers" in usage.stderr
    from tests.fixtures.videotext_toy import make_toy_videotext

    video_text = make_toy_videotext(tmp_path / "videotext")
    refused = _cli("--artifact", video_text, "--repository", tmp_path / "repo2")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "video_text artifact; tubelet-triton writes classification artifacts only" in refused.stderr
    assert not (tmp_path / "repo2").exists()
