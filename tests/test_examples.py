"""The examples run as a user runs them and stay on the public API."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import runtime
from testbed.artifacts import make_onnx_artifact

REPO = Path(__file__).resolve().parents[1]
LOOP = REPO / "examples" / "action_loop.py"

cv2 = pytest.importorskip("cv2")


def test_action_loop_prints_results_and_writes_the_overlay(tmp_path):
    artifact = make_onnx_artifact(tmp_path / "art")
    video = tmp_path / "overlay.mp4"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, str(LOOP), str(artifact), "synthetic", "--seconds", "2",
                          "--save", str(video)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line.split() for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) >= 5  # a 4-frame clip at the synthetic camera's rate: several windows in 2 s
    assert {line[0] for line in lines} <= {"left", "right", "still"}
    assert all(0.0 <= float(line[1]) <= 1.0 and line[3] == "ms" for line in lines)
    capture = cv2.VideoCapture(str(video))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert frames >= 30  # about 2 s of the demo camera, every frame written


def test_action_loop_uses_only_the_public_api():
    tree = ast.parse(LOOP.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"argparse", "cv2", "runtime"}
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "runtime"}
    assert used and used <= set(runtime.__all__)
    assert len(LOOP.read_text(encoding="utf-8").splitlines()) <= 50
