"""The sources run on the robot: no torch, no ROS, heavy modules only when a source needs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cv2", reason="sources need OpenCV (the [opencv] extra)")

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import sys
for name in ("torch", "rclpy", "rospy", "tensorrt", "rosbags", "rosbags.highlevel"):
    sys.modules[name] = None  # importing any of these now fails
import runtime.sources, runtime.sources.live, runtime.sources.opencv, runtime.sources.video
import runtime.sources.folder, runtime.sources.rosbag
from runtime.sources import open_source
frames = list(open_source("synthetic://?seed=0&fps=10&width=32&height=24&frames=5", realtime=False))
assert len(frames) == 5, len(frames)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("export", "calibration", "ros_bridge", "training"))
assert not heavy, heavy
print("ok")
"""


def test_sources_import_and_run_without_torch_or_ros():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
