"""Video files get increasing presentation times: real recordings from outside this project (OpenCV's
own sample videos from Debian's opencv-doc package), H.264 with B-frames written by ffmpeg, and the
decoder behaviours they stand for (times in decode order, a 0 at the end, no times at all)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="video files need OpenCV (the [opencv] extra)")

from runtime.api import StreamRunner  # noqa: E402
from runtime.sources import open_source  # noqa: E402
from runtime.sources.timestamps import REORDER_DEPTH, presentation_times  # noqa: E402
from runtime.sources.video import PacedFileReader  # noqa: E402
from testbed.artifacts import make_onnx_artifact, moving_square_video  # noqa: E402

OPENCV_SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")
needs_samples = pytest.mark.skipif(not (OPENCV_SAMPLES / "tree.avi").exists(),
                                   reason="OpenCV's sample videos: apt-get install opencv-doc")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


def _times(items, fps):
    return [t for _, t in presentation_times([(i, r) for i, r in enumerate(items)], fps)]


def test_decode_order_times_come_out_in_presentation_order():
    # IBBP at 30 fps: the images come out in presentation order, but some OpenCV builds report the
    # packets' times in decode order (0, 100, 33, 67, 200, 133, 167, ...).
    period = 1 / 30
    pts = [i * period for i in range(60)]
    decode_order = [pts[0]]
    for k in range(1, 58, 3):
        decode_order += [pts[k + 2], pts[k], pts[k + 1]]
    decode_order = decode_order[:60] + pts[len(decode_order):]
    assert any(b < a for a, b in zip(decode_order, decode_order[1:]))
    assert _times(decode_order, 30.0) == pytest.approx(pts)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_b_pyramid_reordering_up_to_the_buffer_depth(depth):
    rng = np.random.default_rng(depth)
    pts = [i / 25 for i in range(200)]
    shuffled = []
    for start in range(0, 200, depth + 1):  # each group of depth+1 times in a random order
        group = pts[start:start + depth + 1]
        shuffled += list(rng.permutation(group))
    assert depth < REORDER_DEPTH
    assert _times(shuffled, 25.0) == pytest.approx(pts)


def test_missing_and_trailing_zero_times_are_filled_from_the_frame_rate():
    assert _times([None] * 5, 10.0) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])  # index / fps
    assert _times([None] * 3, 0.0) == pytest.approx([0.0, 1.0, 2.0])  # no rate either: index seconds
    # The last frames of some files report a time behind the others: the next period instead.
    times = _times([0.0, 0.1, 0.2, 0.3, 0.25, 0.05], 10.0)
    assert all(b > a for a, b in zip(times, times[1:]))
    assert times[:4] == pytest.approx([0.0, 0.1, 0.2, 0.25]) or times[:4] == pytest.approx([0.0, 0.05, 0.1, 0.2])


def test_jumps_forward_are_kept():
    # An AVI that stores only changed frames: 0, 0.73, 1.13 s ... is its real pace, not 15 fps.
    assert _times([0.0, 0.733, 1.133, 1.6, 2.9], 15.0) == pytest.approx([0.0, 0.733, 1.133, 1.6, 2.9])


def _increasing(path):
    frames = list(open_source(str(path)))
    stamps = [f.timestamp for f in frames]
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(b > a for a, b in zip(stamps, stamps[1:])), [
        (i, a, b) for i, (a, b) in enumerate(zip(stamps, stamps[1:])) if b <= a][:5]
    return stamps


@needs_samples
@pytest.mark.parametrize("name, frames, seconds", [
    ("Megamind.avi", 270, 11.26),  # MPEG-4 part 2 with B-frames
    ("Megamind_bugy.avi", 270, 9.0),  # the same with a damaged index
    ("vtest.avi", 795, 79.5),
    ("tree.avi", 68, 29.6),  # Cinepak: a 444-frame header, 68 frames stored (duplicates skipped)
])
def test_opencv_sample_videos_play_at_their_real_pace(name, frames, seconds):
    stamps = _increasing(OPENCV_SAMPLES / name)
    assert len(stamps) == frames
    # The last frame starts one frame period (at most 0.8 s for tree.avi's stored frames) before the end.
    assert seconds - 0.8 <= stamps[-1] <= seconds + 0.05


@needs_samples
def test_a_file_that_skips_duplicates_is_paced_by_its_times_as_a_camera():
    reader = PacedFileReader(str(OPENCV_SAMPLES / "tree.avi"), fps=None, loop=True)
    try:
        due = [t for _, (_, t) in zip(range(68 * 2), reader._timed())]
    finally:
        reader.release()
    assert due[67] == pytest.approx(29.53, abs=0.05)  # not 68 / 15 = 4.5 s
    assert all(b > a for a, b in zip(due, due[1:]))  # the loop carries on after the end
    assert due[68] > due[67]


def _ffmpeg(path, *codec):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30", "-t", "6",
                    *codec, str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module", params=["mp4", "avi", "mkv"])
def b_frame_video(request, tmp_path_factory):
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs the ffmpeg command")
    path = tmp_path_factory.mktemp("bframes") / f"h264.{request.param}"
    try:
        _ffmpeg(path, "-c:v", "libx264", "-bf", "3", "-pix_fmt", "yuv420p")
    except subprocess.CalledProcessError:
        pytest.skip("this ffmpeg has no libx264")
    return path


def test_h264_with_b_frames_streams_every_window_without_restarts(b_frame_video, tmp_path):
    stamps = _increasing(b_frame_video)
    # (AVI has no presentation times: OpenCV reports them up to two frames ahead, consistently.)
    assert len(stamps) == 180 and stamps[-1] == pytest.approx(179 / 30, abs=0.1)
    artifact = make_onnx_artifact(tmp_path / "art")
    with StreamRunner(str(artifact), [str(b_frame_video)], backend="cpu") as runner:
        report = runner.run()
    (summary,) = report.summaries
    assert (summary.restarts, summary.windows, summary.published) == (0, 89, 89)  # 4-frame clips, stride 2


def test_a_half_fps_video_is_not_a_gap_at_every_frame(tmp_path):
    video = moving_square_video(tmp_path / "slow.avi", frames=12, fps=0.5)
    assert _increasing(video)[-1] == pytest.approx(22.0)
    artifact = make_onnx_artifact(tmp_path / "art")
    with StreamRunner(str(artifact), [str(video)], backend="cpu") as runner:
        report = runner.run()
    (summary,) = report.summaries
    assert (summary.restarts, summary.windows) == (0, 5)


@pytest.mark.parametrize("fps", [0, -1, 1e-300, 1e300, float("nan"), True, "30"])
def test_a_folder_or_an_in_memory_source_refuses_a_frame_rate_outside_its_range(tmp_path, fps):
    from runtime.sources import IterableSource, SourceError
    from runtime.sources.folder import ImageFolderSource

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SourceError, match="must be a number from 0.01 to 1000"):
        ImageFolderSource(tmp_path, fps=fps)
    with pytest.raises(SourceError, match="must be a number from 0.01 to 1000"):
        IterableSource([], "frames", fps=fps)
