"""Fuzzing the manifest reader and the ROS image converter: every crash once found is replayed, plus short bounded runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
sys.path.insert(0, str(FUZZ))

from fuzz_manifest import check  # noqa: E402
import fuzz_ros_image  # noqa: E402

REGRESSIONS = sorted((FUZZ / "regressions" / "manifest").glob("*"))


@pytest.mark.parametrize("case", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_manifest_regressions_end_in_a_typed_error(case):
    from runtime.artifact import ArtifactError, read_manifest

    check(case.read_bytes())  # raises anything but an ArtifactError: the harness's crash
    with pytest.raises(ArtifactError):  # and the reader refuses it (none of these is a usable manifest)
        _read_copy(case, read_manifest)


def _read_copy(case, read_manifest):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "manifest.json").write_bytes(case.read_bytes())
        return read_manifest(tmp)


def test_bounded_fuzz_run_finds_no_crash(tmp_path):
    """10 s of coverage-guided fuzzing (atheris), or 5000 seeded mutations without it."""
    if importlib.util.find_spec("atheris") is not None:
        work = tmp_path / "corpus"  # libFuzzer adds new inputs to the first folder: keep the repository clean
        work.mkdir()
        args = ["-max_total_time=8", f"-artifact_prefix={tmp_path}/", str(work), str(FUZZ / "corpus" / "manifest")]
    else:
        args = ["--random", "5000"]
    run = subprocess.run([sys.executable, str(FUZZ / "fuzz_manifest.py"), *args], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not list(tmp_path.glob("crash-*"))


ROS_IMAGE_REGRESSIONS = sorted((FUZZ / "regressions" / "ros_image").glob("*"))


@pytest.mark.parametrize("case", ROS_IMAGE_REGRESSIONS, ids=[p.name for p in ROS_IMAGE_REGRESSIONS])
def test_ros_image_regressions_end_in_an_array_or_a_typed_error(case):
    import time

    pytest.importorskip("cv2")
    start = time.perf_counter()
    fuzz_ros_image.check(case.read_bytes())  # raises on anything but an ImageError or a right-shaped array
    # some of these are tiny messages whose header claims gigabytes: refused before anything is allocated
    assert time.perf_counter() - start < 1.0


def test_ros_image_bounded_fuzz_run_finds_no_crash(tmp_path):
    """10 s of coverage-guided fuzzing of the Image/CompressedImage converter (atheris), or 3000 seeded mutations."""
    pytest.importorskip("cv2")
    if importlib.util.find_spec("atheris") is not None:
        work = tmp_path / "corpus"
        work.mkdir()
        args = ["-max_total_time=8", f"-artifact_prefix={tmp_path}/", str(work)]
    else:
        args = ["--random", "3000"]
    run = subprocess.run([sys.executable, str(FUZZ / "fuzz_ros_image.py"), *args], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not list(tmp_path.glob("crash-*"))
