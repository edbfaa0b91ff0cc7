"""The package as a robot gets it: imports without ROS, the colcon setup, the parameters file, the CLI's errors."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ["torch", "transformers", "tensorrt", "pycuda", "cuda", "rclpy", "rospy", "cyclonedds", "rosbags", "calibration"]


def _modules():
    import ros_bridge

    # dds_types defines DDS structs at import time, so it needs cyclonedds by design (imported lazily by dds.py).
    return [m.name for m in pkgutil.walk_packages(ros_bridge.__path__, "ros_bridge.")
            if m.name not in ("ros_bridge.transports.dds_types", "ros_bridge.__main__")]


def test_every_module_imports_without_ros_or_dds_installed():
    code = ("import sys, importlib\nfor m in %r: sys.modules[m] = None\nfor name in %r: importlib.import_module(name)"
            % (HEAVY, _modules()))
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


def test_missing_transport_dependency_names_the_fix():
    code = ("import sys\nsys.modules['rospy'] = None\nfrom ros_bridge.transports.rospy_node import RospyTransport\n"
            "try:\n    RospyTransport([])\nexcept ImportError as e:\n    print(e)")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "apt-get install python3-rospy" in run.stdout


def test_colcon_setup_builds_the_flat_package(tmp_path):
    run = subprocess.run([sys.executable, "setup.py", "-q", "build", "--build-base", str(tmp_path)],
                         cwd=REPO / "ros_bridge", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    built = tmp_path / "lib" / "ros_bridge"
    assert (built / "node.py").exists() and (built / "transports" / "rclpy_node.py").exists()
    assert (REPO / "ros_bridge" / "resource" / "ros_bridge").exists()


def test_params_file_declares_exactly_the_known_parameters():
    yaml = pytest.importorskip("yaml", reason="reading the parameters file needs PyYAML")
    from ros_bridge.params import DEFAULTS, merged

    doc = yaml.safe_load((REPO / "ros_bridge/config/params.yaml").read_text())
    params = next(iter(doc.values()))["ros__parameters"]
    assert set(params) == set(DEFAULTS)
    for name, value in params.items():
        assert type(value) is type(DEFAULTS[name]), name  # ROS 2 parameters are typed: 0 is not 0.0
    assert merged(params) == {**DEFAULTS, **params}


@pytest.mark.parametrize("args,message", [
    (["--artifact", "x", "--set", "window_stride"], "NAME=VALUE"),
    (["--artifact", "x", "--set", "nonsense=1"], "unknown parameter"),
    (["--artifact", "x", "--set", "on_threshold=0.1", "--set", "off_threshold=0.5"], "off_threshold"),
    (["--artifact", "x", "--set", "top_k=\"3\""], "top_k must be int"),
    ([], "no artifact given"),
])
def test_cli_refuses_bad_input_in_one_line(args, message):
    run = subprocess.run([sys.executable, "-m", "ros_bridge", *args], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
