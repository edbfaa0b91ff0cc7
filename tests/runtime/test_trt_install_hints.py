"""Every TensorRT install hint names the extras that exist (trt-cu12, trt-cu13) and JetPack's system
TensorRT, and every text states the calibrator's real support (TensorRT 8.6 only)."""

import re
from pathlib import Path

import pytest

from runtime.backends.base import MissingDependencyError, install_hint, require

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_tensorrt_module_names_both_cuda_extras_and_jetpack():
    with pytest.raises(MissingDependencyError) as caught:
        require("tensorrt_not_installed_here", "trt", "the TensorRT backend")
    message = str(caught.value)
    assert "tubelet[trt-cu12]" in message and "tubelet[trt-cu13]" in message
    assert "python3-libnvinfer" in message and "tubelet[trt]" not in message


def test_other_extras_keep_their_plain_pip_line():
    assert install_hint("openvino") == "pip install 'tubelet[openvino]'"
    assert install_hint(None) == "pip install tubelet"


def test_build_engine_names_the_extras_when_tensorrt_is_missing(monkeypatch):
    import builtins

    from export import build_engine

    real_import = builtins.__import__

    def no_tensorrt(name, *args, **kwargs):
        if name == "tensorrt":
            raise ImportError("No module named 'tensorrt'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorrt)
    status = build_engine._tensorrt_status()
    assert "tubelet[trt-cu12]" in status and "tubelet[trt-cu13]" in status and "JetPack" in status


def _texts():
    for folder in ("runtime", "calibration", "export", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md") and "__pycache__" not in path.parts:
                yield path
    yield ROOT / "README.md"


def test_no_text_names_an_extra_that_does_not_install_a_matching_stack_or_a_wrong_calibrator_range():
    stale = []
    for path in _texts():
        text = path.read_text(encoding="utf-8")
        for pattern in (r"tubelet\[trt\]", r"TensorRT < 10\.1", r"TensorRT <10\.1"):
            stale += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not stale, stale
