"""`python -m runtime.videotext.retrieve`: matrix printed, heatmap written, found/missed reported; clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the video-text runtime needs the [videotext] extra (tokenizers)")

from runtime.videotext.retrieve import DESCRIPTIONS, SEED_CLIPS, TWINS, format_matrix  # noqa: E402
from tests.fixtures.videotext_toy import make_toy_videotext  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "runtime.videotext.retrieve", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_seed_exercise_prints_matrix_and_writes_heatmap(tmp_path):
    import cv2

    art = make_toy_videotext(tmp_path / "toy", max_length=16)
    run = _run("--artifact", art, "--out", tmp_path / "h.png")
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.split() and line.split()[0] in ("moving", "approaching",
                                                                                              "rotating", "appearing")]
    matrix_rows = [r for r in rows if "→" not in r]
    assert len(matrix_rows) == 5 and all(r.count("*") == 1 for r in matrix_rows)
    values = [float(v.rstrip("*")) for v in matrix_rows[0].split()[2:]]
    assert len(values) == 10 and all(-1.0001 <= v <= 1.0001 for v in values)
    assert "clips found their description" in run.stdout
    image = cv2.imread(str(tmp_path / "h.png"))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 500


def test_texts_file_and_errors(tmp_path):
    art = make_toy_videotext(tmp_path / "toy", max_length=16)
    (tmp_path / "t.txt").write_text("red\nblue\n", encoding="utf-8")
    run = _run("--artifact", art, "--texts", tmp_path / "t.txt", "--out", tmp_path / "h.png")
    assert run.returncode == 0 and "T1: blue" in run.stdout and "found their description" not in run.stdout
    (tmp_path / "bad.txt").write_text("red " * 20, encoding="utf-8")
    run = _run("--artifact", art, "--texts", tmp_path / "bad.txt")
    assert run.returncode == 1 and run.stderr.startswith("error: prompt") and "Traceback" not in run.stderr
    run = _run("--artifact", tmp_path / "missing")
    assert run.returncode == 1 and "does not exist" in run.stderr


def test_descriptions_cover_each_clip_and_its_twin():
    assert len(set(SEED_CLIPS) | set(TWINS)) == 10 and set(DESCRIPTIONS) == set(SEED_CLIPS) | set(TWINS)
    text = format_matrix(np.array([[0.1, 0.9], [0.5, 0.2]]), ["a", "b"], ["x", "y"])
    assert "0.900*" in text and "0.500*" in text
