"""The public API in runtime.__all__: every name resolves, and `import runtime` alone stays cheap."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import runtime

REPO = Path(__file__).resolve().parents[1]


def test_every_public_name_resolves_to_its_defining_module():
    assert len(set(runtime.__all__)) == len(runtime.__all__)
    assert set(runtime.__all__) == set(runtime._PUBLIC) | {"__version__"}
    for name in runtime.__all__:
        value = getattr(runtime, name)
        assert value is not None, name
        if name != "__version__":
            assert getattr(importlib.import_module(runtime._PUBLIC[name]), name) is value, name
    assert set(runtime.__all__) <= set(dir(runtime))


def test_unknown_names_are_attribute_errors_and_submodules_still_import():
    with pytest.raises(AttributeError, match="no_such_name"):
        runtime.no_such_name  # noqa: B018
    # a submodule, not a public name: the import system falls back to importing runtime.clips
    from runtime import clips

    assert clips.__name__ == "runtime.clips"


def test_import_runtime_imports_no_backend_opencv_or_numpy():
    heavy = ["onnxruntime", "cv2", "numpy", "torch", "openvino", "tensorrt", "runtime.backends", "runtime.api",
             "runtime.model", "runtime.artifact", "runtime.sources"]
    code = ("import sys, runtime\nassert runtime.__version__\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"
