"""Video-text artifacts for TensorRT: an FP16 graph per graph, gated; an engine per graph, or its trtexec line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="export needs the [export] extra")
pytest.importorskip("transformers", reason="export needs the [export] extra")

from testbed.tiny_videotext import save_tiny_xclip  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.export


@pytest.fixture(scope="module")
def xclip_fp16(tmp_path_factory):
    root = tmp_path_factory.mktemp("xclip-fp16")
    model = save_tiny_xclip(root / "ckpt")
    (root / "prompts.txt").write_text("the cat\na dog running in the rain\nWaving!\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(root)}
    # import tensorrt fails in the child even where TensorRT is installed: the no-engine path is what runs.
    blocker = root / "blocker"
    blocker.mkdir()
    (blocker / "tensorrt.py").write_text("raise ImportError('TensorRT hidden by the test')\n", encoding="utf-8")
    env["PYTHONPATH"] = f"{blocker}:{REPO}"
    run = subprocess.run([sys.executable, str(REPO / "export" / "build_engine.py"), "--model", str(model), "--output",
                          str(root / "art"), "--prompts", str(root / "prompts.txt"), "--precision", "fp16",
                          "--workspace", "1024"], capture_output=True, text=True, timeout=600, env=env)
    return root / "art", run


def test_every_graph_gets_a_gated_fp16_graph(xclip_fp16):
    from runtime.artifact import load_artifact

    folder, run = xclip_fp16
    assert run.returncode == 0, run.stderr[-3000:]
    m = load_artifact(folder).manifest
    for name, kind in (("model.fp16.onnx", "onnx"), ("text.fp16.onnx", "onnx_text"), ("head.fp16.onnx", "onnx_head")):
        assert (m.files[name].kind, m.files[name].precision) == (kind, "fp16")
    for key in ("onnx_fp16", "onnx_fp16_text", "onnx_fp16_head"):
        assert m.validation[key]["passed"], m.validation[key]["problems"]
    assert m.validation["onnx_fp16_head"]["same_top1_required"] and not m.validation["onnx_fp16_text"]["same_top1_required"]
    assert m.file_of_kind("onnx", "fp32") == "model.onnx" and m.file_of_kind("engine") is None


def test_without_tensorrt_the_export_prints_an_engine_command_per_graph(xclip_fp16):
    from runtime.artifact import load_artifact

    folder, run = xclip_fp16
    out = run.stdout
    assert "no engine: TensorRT is not importable here" in out and f"tubelet-engine --artifact {folder}" in out
    strong = [line for line in out.splitlines() if "--stronglyTyped" in line]
    assert [next(p for p in line.split() if p.startswith("--onnx=")).rsplit("/", 1)[1] for line in strong] == [
        "model.fp16.onnx", "text.fp16.onnx", "head.fp16.onnx"]
    max_length = load_artifact(folder).manifest.video_text.max_length
    text = next(line for line in strong if "text.fp16.onnx" in line)
    # texts up to 64 (the runtime encodes prompts in chunks of 64), tokens up to the tokenizer's maximum
    assert f"input_ids:64x{max_length}" in text and f"attention_mask:64x{max_length}" in text
    assert "input_ids:1x1" in text
    head = next(line for line in strong if "head.fp16.onnx" in line)
    assert "text_embeds:64x" in head and "video_embeds:8x" in head
    assert all("--memPoolSize=workspace:1024M" in line for line in strong)
    weak = [line for line in out.splitlines() if line.strip().startswith("trtexec") and "--fp16" in line]
    assert len(weak) == 3 and all("--layerPrecisions=" in line for line in weak[:2])
