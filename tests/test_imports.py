"""Every runtime module imports with only the core dependencies, and never pulls in torch."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _runtime_modules():
    import runtime

    return ["runtime"] + [m.name for m in pkgutil.walk_packages(runtime.__path__, "runtime.")]


@pytest.mark.parametrize("name", _runtime_modules())
def test_runtime_module_imports_without_torch(name):
    # Heavy optional modules are blocked: importing a runtime module must not need any of them.
    blocked = ["torch", "transformers", "tensorrt", "pycuda", "cuda", "rclpy", "rospy", "cyclonedds",
               "prometheus_client", "rosbags", "tokenizers", "matplotlib", "openvino"]
    code = "import sys\nfor m in %r: sys.modules[m] = None\nimport importlib; importlib.import_module(%r)" % (blocked, name)
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]

