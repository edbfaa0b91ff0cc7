"""Every user-facing error of every layer derives from the one base the command lines catch."""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from runtime.cli.errors import TubeletError, UsageError

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("runtime", "export", "calibration", "ros_bridge")


def _modules():
    for package in PACKAGES:
        root = importlib.import_module(package)
        yield package
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                yield info.name


def _error_classes():
    found = {}
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional dependency (rclpy, rospy, cyclonedds, tensorrt) is missing here
            continue
        for cls_name, cls in vars(module).items():
            if (inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == name
                    and cls_name.endswith(("Error", "Scores"))):
                found[f"{name}.{cls_name}"] = cls
    return found


ERRORS = _error_classes()


def test_the_error_base_imports_nothing():
    source = (REPO / "runtime" / "cli" / "errors.py").read_text(encoding="utf-8")
    assert not [line for line in source.splitlines() if line.startswith(("import ", "from "))]


def test_the_known_errors_were_found():
    names = {qualified.rsplit(".", 1)[1] for qualified in ERRORS}
    assert {"ArtifactError", "SourceError", "BackendError", "RecognizerError", "CalibrationError", "OutputError",
            "ExportInputError", "RepositoryError", "CliError", "ParameterError"} <= names


@pytest.mark.parametrize("qualified", sorted(ERRORS))
def test_every_error_derives_from_the_base(qualified):
    assert issubclass(ERRORS[qualified], TubeletError), f"{qualified} must derive from runtime.cli.errors.TubeletError"


@pytest.mark.parametrize("name,second", [("FrameError", ValueError), ("SourceError", RuntimeError),
                                         ("RecognizerError", RuntimeError), ("PromptError", ValueError),
                                         ("ParameterError", ValueError), ("OverlayError", OSError)])
def test_a_former_builtin_base_is_kept(name, second):
    (cls,) = [c for q, c in ERRORS.items() if q.endswith(f".{name}")]
    assert issubclass(cls, second)  # `except ValueError` callers keep working


def test_usage_errors_exit_2_and_the_rest_1():
    assert TubeletError.exit_code == 1 and UsageError.exit_code == 2 and issubclass(UsageError, TubeletError)
