"""Frames that form no window say why: raw numpy frames work from the API, unusable ones are refused
by reason (warned about once per stream), and the summary explains a stream without windows."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="needs OpenCV (the [opencv] extra)")

from runtime.api import RunLimits, StreamRunner, recognize  # noqa: E402
from runtime.outputs.summary import format_summary, why_no_windows  # noqa: E402
from runtime.sources import IterableSource, SourceError  # noqa: E402
from runtime.sources.base import Frame  # noqa: E402
from testbed.artifacts import make_onnx_artifact  # noqa: E402


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return str(make_onnx_artifact(tmp_path_factory.mktemp("frames") / "art"))


def _images(n, dtype=np.uint8, shape=(48, 64, 3)):
    return [np.full(shape, 30 * (i % 8), dtype) for i in range(n)]


@pytest.mark.parametrize("wrap", [list, np.stack, iter])
def test_raw_numpy_frames_are_a_source(artifact, wrap):
    results = list(recognize(artifact, wrap(_images(12)), backend="cpu"))
    assert [r.newest_index for r in results] == [3, 5, 7, 9, 11]  # stamped index / 30 fps: one stream, no gaps
    assert results[-1].newest_timestamp == pytest.approx(11 / 30)


def test_one_image_passed_as_a_stream_is_refused():
    with pytest.raises(SourceError, match=r"shape \(48, 64, 3\) is one image"):
        IterableSource(np.zeros((48, 64, 3), np.uint8), "img")
    with pytest.raises(SourceError, match="item 1 is a str"):
        list(IterableSource([np.zeros((8, 8, 3), np.uint8), "frame.png"], "mixed"))


UNUSABLE = [
    (np.full((48, 64, 3), 0.5, np.float32), "frame dtype float32 unsupported"),  # a depth or normalized frame
    (np.full((48, 64, 3), np.nan, np.float32), "frame dtype float32 unsupported"),
    (np.full((48, 64, 3), 1, np.int32), "frame dtype int32 unsupported"),
    (np.zeros((48, 64, 2), np.uint8), "frame shape (48, 64, 2) unsupported"),
    (np.zeros((2, 48, 64, 3), np.uint8), "frame shape (2, 48, 64, 3) unsupported"),
    (np.zeros((0, 64, 3), np.uint8), "empty frame"),
    (None, "empty frame"),  # a driver that lost the image
]


@pytest.mark.parametrize("image, reason", UNUSABLE)
def test_unusable_frames_are_refused_by_reason_and_warned_about_once(artifact, caplog, image, reason):
    frames = [image] * 10
    with caplog.at_level(logging.WARNING, logger="tubelet"):
        with StreamRunner(artifact, [frames], backend="cpu") as runner:
            report = runner.run()
    (summary,) = report.summaries
    assert (summary.frames, summary.bad_frames, summary.windows) == (10, 10, 0)
    assert list(summary.rejected) == [next(r for r in summary.rejected)] and reason in next(iter(summary.rejected))
    warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1 and reason in warnings[0] and "frame 0" in warnings[0]
    why = why_no_windows(summary)
    assert why.startswith("no windows: 10 of 10 frames refused") and reason in why
    assert why in format_summary(report.summaries)


def test_a_nonfinite_timestamp_is_refused(artifact):
    frames = [Frame(image, float("nan") if i == 3 else i / 30, i) for i, image in enumerate(_images(12))]
    with StreamRunner(artifact, [IterableSource(frames, "cam")], backend="cpu") as runner:
        (summary,) = runner.run().summaries
    assert summary.bad_frames == 1 and "timestamp nan is not a finite number" in next(iter(summary.rejected))


def test_recognize_warns_why_a_stream_gave_nothing(artifact, caplog):
    with caplog.at_level(logging.WARNING, logger="tubelet"):
        assert list(recognize(artifact, _images(3), backend="cpu")) == []
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "3 frames were sampled and a window needs 4" in text and "shorter than one clip" in text


def test_restarts_are_named_when_they_stop_every_window(artifact):
    # A clock that keeps going back (a camera restarting every 3 frames): no 4 frames in a row.
    frames = [Frame(image, (i % 3) / 30, i) for i, image in enumerate(_images(30))]
    with StreamRunner(artifact, [IterableSource(frames, "cam")], backend="cpu",
                      limits=RunLimits(max_frames=30)) as runner:
        (summary,) = runner.run().summaries
    assert summary.restart_reasons == {"clock went back": 9} and summary.windows == 0
    assert "the clip restarted 9 times (9 x clock went back)" in why_no_windows(summary)


def test_a_folder_of_float_depth_frames_is_an_error_with_the_reason(artifact, tmp_path):
    folder = tmp_path / "depth"
    folder.mkdir()
    for i in range(20):
        assert cv2.imwrite(str(folder / f"d{i:03d}.tiff"), np.full((48, 64), 1.5 + 0.01 * i, np.float32))
    run = subprocess.run([sys.executable, "-m", "runtime.stream", "--artifact", artifact, "--source", str(folder),
                          "--quiet"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "no windows: 20 of 20 frames refused (20 x frame dtype float32 unsupported" in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: source {folder}: all 20 frames were refused")
    assert "scale float or depth frames to uint8" in run.stderr and "Traceback" not in run.stderr
