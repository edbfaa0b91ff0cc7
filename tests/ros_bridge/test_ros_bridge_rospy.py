"""ROS 1: a real roscore, a rospy camera process → the bridge process → a rospy listener."""

import json
import os
import socket
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEBIAN = "/usr/lib/python3/dist-packages"
SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = [
    pytest.mark.ros1,
    pytest.mark.skipif(not os.path.exists(f"{DEBIAN}/rospy") or not os.path.exists("/usr/bin/roscore"),
                       reason="needs Debian's ROS 1: apt-get install python3-rospy ros-core python3-sensor-msgs "
                              "python3-diagnostic-msgs"),
]
# The venv's Python sees Debian's rospy after its own packages (appended, so the venv's numpy wins).
BRIDGE = f"import sys; sys.path.append({DEBIAN!r}); from ros_bridge.cli import main; sys.exit(main())"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def roscore(tmp_path):
    port = _free_port()
    env = {**os.environ, "ROS_MASTER_URI": f"http://127.0.0.1:{port}", "ROS_IP": "127.0.0.1",
           "ROS_HOME": str(tmp_path / "ros_home"), "ROS_LOG_DIR": str(tmp_path / "ros_log")}
    proc = subprocess.Popen(["roscore", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    master = xmlrpc.client.ServerProxy(env["ROS_MASTER_URI"])
    deadline = time.monotonic() + 30
    while True:
        try:
            if master.getSystemState("/test")[0] == 1:
                break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError("roscore did not come up")
        time.sleep(0.2)
    yield env
    os.killpg(proc.pid, 15)  # roscore's own session: it and the rosmaster/rosout it started
    proc.wait(timeout=20)


def test_rospy_camera_to_bridge_to_listener(roscore, onnx_artifact):
    bridge = subprocess.Popen([sys.executable, "-c", BRIDGE, "--transport", "rospy", "--artifact", str(onnx_artifact),
                               "--image-topic", "/cam/image_raw", "--seconds", "60", "--set", "diagnostics_period=0.5"],
                              cwd=REPO, env={**roscore, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert bridge.stdout.readline().strip() == "ready", bridge.stderr.read()[-2000:]
        peer = subprocess.run([SYSTEM_PYTHON, str(REPO / "tests/ros_bridge/ros1_peer.py"), "--count", "30"],
                              env={k: v for k, v in roscore.items() if k != "PYTHONPATH"}, capture_output=True,
                              text=True, timeout=90)
        assert peer.returncode == 0, peer.stderr[-2000:]
        report = json.loads(peer.stdout.strip().splitlines()[-1])
    finally:
        bridge.terminate()
        bridge.wait(timeout=20)
    assert report["connected"] == 1 and report["sent"] == 30
    received = report["received"]
    assert len(received) >= 5  # 30 frames, a window every 2 frames from the 4th
    for msg in received:
        stamp = msg["header"]["stamp"]
        index = (stamp["secs"] - 1000) * 30 + stamp["nsecs"] // 33_333_333
        assert index >= 3 and index % 2 == 1 and msg["header"]["frame_id"] == "peer_cam"
        assert [r["class_id"] for r in msg["results"]] and abs(sum(r["score"] for r in msg["results"]) - 1) < 1e-4
    diag = report["diagnostics"]
    assert diag["received"] == "31" and diag["dropped_size"] == "1"
    assert bridge.returncode == 0, bridge.stderr.read()[-2000:]
