"""Offline sources and spec parsing: real video files, real image folders, the synthetic world, bad specs."""

from __future__ import annotations

import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="sources need OpenCV (the [opencv] extra)")

from runtime.artifact import Preprocessing  # noqa: E402
from runtime.preprocess import Preprocessor  # noqa: E402
from runtime.sources import SourceError, open_source  # noqa: E402
from runtime.sources.folder import natural_key  # noqa: E402
from runtime.sources.opencv import csi_pipeline, has_gstreamer  # noqa: E402


def write_video(path, fourcc, frames=12, size=(48, 64), fps=10.0):
    """Frame t is flat gray at level 20 + 15 t: decodable values a test can check."""
    height, width = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        pytest.skip(f"this OpenCV cannot write {fourcc} video")
    for t in range(frames):
        writer.write(np.full((height, width, 3), 20 + 15 * t, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize("fourcc,suffix", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_video_file_delivers_every_frame_in_order(tmp_path, fourcc, suffix):
    path = write_video(tmp_path / f"clip{suffix}", fourcc)
    with open_source(str(path)) as source:
        assert source.live is False
        frames = list(source)
    assert [f.index for f in frames] == list(range(12))
    stamps = np.array([f.timestamp for f in frames])
    assert np.allclose(np.diff(stamps), 0.1, atol=0.011)  # the file's own 10 fps clock
    levels = np.array([f.image.mean() for f in frames])
    assert np.abs(levels - (20 + 15 * np.arange(12))).max() < 4
    assert all(f.stream_id == str(path) for f in frames)
    assert source.stats.frames == source.stats.delivered == 12 and source.stats.dropped == 0


def test_file_uri_and_stream_id(tmp_path):
    path = write_video(tmp_path / "clip.avi", "MJPG", frames=3)
    frames = list(open_source(f"file://{path}", stream_id="left"))
    assert len(frames) == 3 and {f.stream_id for f in frames} == {"left"}


def test_video_file_played_as_camera_is_paced_and_ends(tmp_path):
    path = write_video(tmp_path / "clip.avi", "MJPG", frames=6, fps=10.0)
    started = time.monotonic()
    # A ring as long as the file: this checks the pacing and the end, not whether the consumer kept
    # up (with the default ring of 2, a consumer descheduled for 100 ms on a loaded machine loses a
    # frame, as a live camera's should; tests/reliability covers those drops).
    with open_source(str(path), realtime=True, fps=20.0, ring=6) as source:
        assert source.live is True and source.ring_size == 6
        frames = list(source)
    elapsed = time.monotonic() - started
    assert [f.index for f in frames] == list(range(6))
    assert 0.2 <= elapsed < 2.0  # 6 frames at 20 fps, not instant
    gaps = np.diff([f.timestamp for f in frames])
    assert np.median(gaps) == pytest.approx(0.05, abs=0.02)


def test_image_folder_natural_order_mixed_sizes_gray_and_bgra(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    gray = np.arange(30 * 40, dtype=np.uint8).reshape(30, 40)
    bgra = np.zeros((20, 24, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 200, 128
    color = np.zeros((50, 70, 3), np.uint8)
    color[..., 2] = 255
    cv2.imwrite(str(folder / "frame10.png"), color)
    cv2.imwrite(str(folder / "frame2.png"), bgra)
    cv2.imwrite(str(folder / "frame1.png"), gray)
    (folder / "notes.txt").write_text("not an image")
    with open_source(str(folder), fps=5) as source:
        frames = list(source)
    assert source.live is False
    assert [f.image.shape for f in frames] == [(30, 40), (20, 24, 4), (50, 70, 3)]
    assert np.array_equal(frames[0].image, gray) and np.array_equal(frames[1].image, bgra)
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.2, 0.4])
    # The preprocessor takes all three as they come.
    spec = Preprocessing(resize_shortest_edge=16, resize_height=None, resize_width=None, crop_height=16,
                         crop_width=16, mean=[0.0] * 3, std=[1.0] * 3)
    out = [Preprocessor(spec)(f.image) for f in frames]
    assert all(o.shape == (3, 16, 16) for o in out)
    assert out[1][2].mean() == pytest.approx(200 / 255, abs=0.01)  # BGRA blue → the model's RGB "B" plane
    assert out[2][0].mean() == pytest.approx(1.0, abs=0.01)  # BGR red → R plane


def test_natural_sort_key():
    assert sorted(["f10.png", "f2.png", "F1.png"], key=natural_key) == ["F1.png", "f2.png", "f10.png"]


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no images"):
        open_source(str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SourceError, match="cannot decode image"):
        list(open_source(str(bad)))
    with pytest.raises(SourceError, match="fps"):
        open_source(str(bad), fps=0)


def test_synthetic_offline_and_live():
    offline = open_source("synthetic://?seed=3&fps=30&width=64&height=48&frames=40", realtime=False)
    frames = list(offline)
    assert offline.live is False and len(frames) == 40 and frames[0].image.shape == (48, 64, 3)
    assert [f.index for f in frames] == list(range(40))
    assert offline.ground_truth().timeline[-1].end == 40  # the ground truth travels with the source
    again = list(open_source("synthetic://?seed=3&fps=30&width=64&height=48&frames=40", realtime=False))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, again))
    started = time.monotonic()
    with open_source("synthetic://?seed=3&fps=30&width=64&height=48") as live:
        assert live.live is True
        got = [next(iter(live)) for _ in range(9)]
    elapsed = time.monotonic() - started
    assert 0.2 < elapsed < 2.0  # paced near 30 fps
    assert [f.index for f in got] == sorted(f.index for f in got)
    stamps = [f.timestamp for f in got]
    assert stamps == sorted(stamps) and stamps[-1] <= time.monotonic()  # monotonic capture clock


@pytest.mark.parametrize("spec,match", [
    ("missing.mp4", "does not exist"),
    ("ftp://host/x", "unknown source scheme"),
    ("", "non-empty"),
    ("/dev/video99", "does not exist"),
    ("v4l2://x", "camera number"),
    ("rosbag://", "needs a path"),
])
def test_bad_specs_raise_source_error(spec, match):
    with pytest.raises(SourceError, match=match):
        open_source(spec)


def test_unknown_option_is_named(tmp_path):
    path = write_video(tmp_path / "clip.avi", "MJPG", frames=2)
    with pytest.raises(SourceError, match="colour"):
        open_source(str(path), colour="red")
    with pytest.raises(SourceError, match="bogus"):
        open_source("synthetic", bogus=1)


def test_unreachable_camera_fails_fast():
    started = time.monotonic()
    with pytest.raises(SourceError, match="cannot open"):
        open_source("http://127.0.0.1:9/stream.mjpg", open_timeout=1.0)
    with pytest.raises(SourceError, match="cannot open"):
        open_source("57", open_timeout=1.0)  # no such camera index
    assert time.monotonic() - started < 3.0


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer, so the missing-GStreamer error cannot show")
def test_gstreamer_specs_explain_missing_gstreamer():
    for spec in ("csi://0", "videotestsrc ! videoconvert ! appsink"):
        with pytest.raises(SourceError, match="GStreamer: NO"):
            open_source(spec)


def test_csi_pipeline_text():
    text = csi_pipeline(1, width=640, height=480, fps=15, flip_method=2)
    assert text.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM), width=640, height=480, "
                           "framerate=15/1")
    assert "nvvidconv flip-method=2" in text and text.endswith("appsink drop=true max-buffers=1 sync=false")


def test_world_spec_is_one_grammar():
    from runtime.sources.synthetic import parse_world_spec

    world = parse_world_spec("synthetic://?clips=64&size=64x48&seed=3")
    assert (world.labelled, world.clips, world.height, world.width, world.seed) == (True, 64, 64, 48, 3)
    stream = parse_world_spec("synthetic://?seed=3&frames=40&realtime=false", {"fps": 30})
    assert (stream.labelled, stream.frames, stream.realtime, stream.fps) == (False, 40, False, 30.0)
    with pytest.raises(SourceError, match=r"'synthetic://\?clips=6&seed=3'"):
        open_source("synthetic:clips=6,seed=3")
    with pytest.raises(SourceError, match="labelled clips"):
        open_source("synthetic://?clips=6")
    with pytest.raises(SourceError, match="size=HxW or width and height"):
        open_source("synthetic://?size=64x64&width=32")
