"""checkpoint folder → build_engine.py → artifact: parity, external data, and every refusal."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.tiny_videomae import TINY_LABELS, save_tiny_videomae

torch = pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
pytestmark = pytest.mark.export

from export.models.videomae import CheckpointError  # noqa: E402
from export.pipeline import ExportOptions, OutputExistsError, build_artifact  # noqa: E402
from runtime.artifact import load_artifact  # noqa: E402
from runtime.backends import open_backend  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_cli_writes_a_validated_artifact(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(REPO / "export" / "build_engine.py"), "--model", str(tiny_checkpoint),
                          "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "parity vs PyTorch" in run.stdout and "PASS" in run.stdout
    artifact = load_artifact(out)
    m = artifact.manifest
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.fp16.onnx", "model.onnx"]
    assert m.labels == TINY_LABELS and m.input.shape(1) == (1, 4, 3, 32, 32)
    assert m.files["model.onnx"].opset == 17 and "LayerNormalization" in m.files["model.onnx"].details["ops"]
    assert m.files["model.onnx"].details["exporter"] in ("dynamo", "torchscript")
    parity = m.validation["onnx_fp32"]
    assert parity["passed"] and parity["max_abs_error"] <= 1e-4 and parity["top1_agreement"] == 1.0
    assert parity["batches"] == [1, 3, 2]
    assert m.preprocessing.mean == [0.485, 0.456, 0.406]  # from preprocessor_config.json
    assert {"torch", "transformers", "onnx", "onnxruntime"} <= set(m.tool_versions)


@pytest.mark.parametrize("overrides", [
    dict(num_frames=6, tubelet_size=3, image_size=24, patch_size=6),
    dict(num_frames=2, tubelet_size=1, image_size=16, patch_size=16, use_mean_pooling=False),
])
def test_other_shapes_match_pytorch_at_several_batches(tmp_path, overrides):
    ckpt = save_tiny_videomae(tmp_path / "ckpt", labels=["a", "b", "c", "d", "e"], **overrides)
    out = build_artifact(ExportOptions(model=str(ckpt), output=tmp_path / "out", opset=18), log=lambda _: None)
    artifact = load_artifact(out)
    assert artifact.manifest.files["model.onnx"].opset == 18
    from transformers import VideoMAEForVideoClassification

    net = VideoMAEForVideoClassification.from_pretrained(ckpt).eval()
    spec = artifact.manifest.input
    with open_backend(artifact, "cpu") as backend:
        for batch in (1, 5):
            x = np.random.default_rng(batch).standard_normal(spec.shape(batch)).astype(np.float32)
            got = backend.infer({"pixel_values": x})["logits"]
            with torch.no_grad():
                want = net(pixel_values=torch.from_numpy(x)).logits.numpy()
            assert np.abs(got - want).max() <= 1e-4


def test_external_data_with_a_lowered_threshold(tmp_path, tiny_checkpoint):
    import onnx

    out = build_artifact(ExportOptions(model=str(tiny_checkpoint), output=tmp_path / "out",
                                       external_data_threshold=0), log=lambda _: None)
    m = load_artifact(out).manifest
    assert m.files["model.onnx"].details["external_data"] == "model.onnx.data"
    assert m.files["model.onnx.data"].kind == "onnx_data"
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
    external = [t.name for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert external and (out / "model.onnx.data").stat().st_size > 0
    onnx.checker.check_model(str(out / "model.onnx"))  # the path-based checker resolves the data file
    tampered = bytearray((out / "model.onnx.data").read_bytes())
    tampered[100] ^= 1
    (out / "model.onnx.data").write_bytes(bytes(tampered))
    from runtime.artifact import HashMismatchError

    with pytest.raises(HashMismatchError, match="model.onnx.data"):
        load_artifact(out)


def test_existing_output_is_refused_then_replaced_atomically(tmp_path, tiny_checkpoint):
    from export.pipeline import UnsafeOutputError

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(UnsafeOutputError, match="not a Tubelet artifact"):  # an ordinary folder, even with --overwrite
        build_artifact(ExportOptions(model=str(tiny_checkpoint), output=out, overwrite=True), log=lambda _: None)
    assert (out / "keep.txt").read_text() == "old"
    (out / "keep.txt").unlink()
    build_artifact(ExportOptions(model=str(tiny_checkpoint), output=out, overwrite=True), log=lambda _: None)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        build_artifact(ExportOptions(model=str(tiny_checkpoint), output=out), log=lambda _: None)
    first = (out / "model.onnx").stat().st_ino
    build_artifact(ExportOptions(model=str(tiny_checkpoint), output=out, overwrite=True), log=lambda _: None)
    assert (out / "model.onnx").stat().st_ino != first and (out / "manifest.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_failed_export_leaves_the_old_artifact_untouched(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    build_artifact(ExportOptions(model=str(tiny_checkpoint), output=out), log=lambda _: None)
    before = (out / "manifest.json").read_bytes()
    from export.validate import ParityError

    with pytest.raises(ParityError, match="atol"):  # a zero tolerance makes the gate fail after the ONNX export
        build_artifact(ExportOptions(model=str(tiny_checkpoint), output=out, overwrite=True, atol=0.0), log=lambda _: None)
    assert (out / "manifest.json").read_bytes() == before
    with pytest.raises(ValueError, match="atol must be a finite number >= 0"):  # refused before the long work
        build_artifact(ExportOptions(model=str(tiny_checkpoint), output=out, overwrite=True, atol=-1.0), log=lambda _: None)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_refusals(tmp_path, tiny_checkpoint):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        build_artifact(ExportOptions(model=str(empty), output=tmp_path / "o1"), log=lambda _: None)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (other / "model.safetensors").write_bytes(len(b"{}").to_bytes(8, "little") + b"{}")  # valid, holds nothing
    with pytest.raises(CheckpointError, match="not VideoMAE"):
        build_artifact(ExportOptions(model=str(other), output=tmp_path / "o2"), log=lambda _: None)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((tiny_checkpoint / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(CheckpointError, match="pickled weights are refused"):
        build_artifact(ExportOptions(model=str(pickled), output=tmp_path / "o3"), log=lambda _: None)


def test_config_without_labels(tmp_path):
    import transformers

    from tests.fixtures.tiny_videomae import TINY

    config = transformers.VideoMAEConfig(num_labels=3, **TINY)
    transformers.VideoMAEForVideoClassification(config).save_pretrained(tmp_path / "nolabels")
    with pytest.raises(CheckpointError, match="no class labels"):
        build_artifact(ExportOptions(model=str(tmp_path / "nolabels"), output=tmp_path / "o"), log=lambda _: None)
    out = build_artifact(ExportOptions(model=str(tmp_path / "nolabels"), output=tmp_path / "o",
                                       labels=["x", "y", "z"]), log=lambda _: None)
    assert load_artifact(out).manifest.labels == ["x", "y", "z"]


def test_cli_usage_errors(tmp_path, tiny_checkpoint):
    script = str(REPO / "export" / "build_engine.py")
    for args, message in [(["--opset", "13"], "opset"), (["--batch", "4,2,1"], "MIN <= OPT <= MAX")]:
        run = subprocess.run([sys.executable, script, "--model", str(tiny_checkpoint), "--output",
                              str(tmp_path / "x"), *args], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and message in run.stderr
    run = subprocess.run([sys.executable, script, "--model", str(tmp_path / "missing"), "--output", str(tmp_path / "y")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "error:" in run.stderr and "Traceback" not in run.stderr


def test_runtime_path_agrees_with_the_hf_path(tiny_artifact_session, tiny_checkpoint):
    """The seed's classify_video (HF processor + PyTorch) vs preprocess + ORT on the same frames."""
    pytest.importorskip("PIL", reason="the HF reference processor needs pillow")
    from transformers import VideoMAEForVideoClassification, VideoMAEImageProcessorPil

    from runtime.preprocess import Preprocessor

    artifact = load_artifact(tiny_artifact_session)
    processor = VideoMAEImageProcessorPil.from_pretrained(tiny_checkpoint)
    net = VideoMAEForVideoClassification.from_pretrained(tiny_checkpoint).eval()
    pre = Preprocessor(artifact.manifest.preprocessing)
    rng = np.random.default_rng(3)
    agree, worst = 0, 0.0
    with open_backend(artifact, "cpu") as backend:
        for clip in range(8):
            base = rng.integers(0, 256, (7, 9, 3)).astype(np.uint8)
            import cv2

            frames = [np.roll(cv2.resize(base, (64, 48), interpolation=cv2.INTER_CUBIC), 3 * t * (1 if clip % 2 else -1), axis=1)
                      for t in range(4)]
            ours = backend.infer({"pixel_values": np.stack([pre(f) for f in frames])[None]})["logits"][0]
            inputs = processor([f[:, :, ::-1] for f in frames], return_tensors="pt")
            with torch.no_grad():
                theirs = net(**inputs).logits[0].numpy()
            agree += int(ours.argmax() == theirs.argmax())
            worst = max(worst, float(np.abs(ours - theirs).max()))
    assert agree == 8, (agree, worst)
    assert worst < 0.05  # logits move by a few hundredths through the resize difference alone


def test_sampling_comes_from_the_checkpoint_unless_overridden(tmp_path, tiny_checkpoint):
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    default = load_artifact(build_artifact(ExportOptions(model=str(ckpt), output=tmp_path / "a"), log=lambda _: None))
    assert (default.manifest.sampling.frame_stride, default.manifest.sampling.target_fps,
            default.manifest.sampling.window_stride) == (1, None, 1)  # 4 frames // 4
    (ckpt / "sampling.json").write_text(json.dumps({"target_fps": 7.5, "window_stride": 2}))
    trained = load_artifact(build_artifact(ExportOptions(model=str(ckpt), output=tmp_path / "b"), log=lambda _: None))
    assert (trained.manifest.sampling.target_fps, trained.manifest.sampling.window_stride) == (7.5, 2)
    assert trained.manifest.source["sampling_from"] == "sampling.json"
    override = load_artifact(build_artifact(ExportOptions(model=str(ckpt), output=tmp_path / "c",
                                                          sampling={"window_stride": 3}), log=lambda _: None))
    assert (override.manifest.sampling.target_fps, override.manifest.sampling.window_stride) == (7.5, 3)
    (ckpt / "sampling.json").write_text(json.dumps({"fps": 7.5}))
    with pytest.raises(CheckpointError, match="unknown keys"):
        build_artifact(ExportOptions(model=str(ckpt), output=tmp_path / "d"), log=lambda _: None)
