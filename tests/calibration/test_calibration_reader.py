"""The calibration reader samples clips exactly as the runtime does, and refuses bad data clearly."""

from __future__ import annotations

import re

import numpy as np
import pytest

from calibration.errors import CalibrationDataError
from calibration.reader import ClipReader, sample_clips
from runtime.artifact import load_artifact, read_manifest, write_manifest
from testbed.artifacts import make_onnx_artifact, moving_square_video
from tests.fixtures.calib_helpers import SYNTH_LABELS


def _with_sampling(folder, frame_stride=1, window_stride=2):
    manifest = read_manifest(folder)
    manifest.sampling.frame_stride = frame_stride
    manifest.sampling.window_stride = window_stride
    write_manifest(folder, manifest)
    return load_artifact(folder)


@pytest.mark.parametrize("layout", ["NTCHW", "NCTHW"])
def test_reader_clips_equal_the_runtime_clips_for_the_same_video(tmp_path, layout):
    from runtime.backends import open_backend
    from runtime.classify import classify_frames
    from runtime.postprocess import softmax
    from runtime.sources.video import read_video_file

    artifact = _with_sampling(make_onnx_artifact(tmp_path / "a", layout=layout), frame_stride=2, window_stride=3)
    video = moving_square_video(tmp_path / "clip.avi", frames=30)
    reader = ClipReader.from_spec(artifact.manifest, str(video), max_clips=100)
    # 30 frames at stride 2 -> 15 sampled; 4-frame clips every 3 sampled frames -> windows at 4, 7, 10, 13.
    assert [s.window for s in reader.samples] == [0, 1, 2, 3]
    assert [(s.first_index, s.newest_index) for s in reader.samples] == [(0, 6), (6, 12), (12, 18), (18, 24)]
    assert reader.samples[0].array.shape == artifact.manifest.input.shape(1)[1:]
    with open_backend(artifact, "cpu") as backend:
        runtime = list(classify_frames(artifact, backend, read_video_file(video), k=3))
        assert len(runtime) == len(reader.samples)
        for sample, result in zip(reader.samples, runtime):
            assert (sample.first_index, sample.newest_index) == (result.first_index, result.newest_index)
            logits = backend.infer({"pixel_values": sample.array[None]})["logits"][0]
            expected = dict(zip(artifact.labels, softmax(logits, artifact.manifest.temperature)))
            for label, score in result.top_k:
                assert score == pytest.approx(float(expected[label]), abs=1e-7)
        # Different windows see different frames: the clips are not all the same array.
        assert not np.array_equal(reader.samples[0].array, reader.samples[-1].array)


def test_reader_is_an_onnxruntime_calibration_reader(synth_artifact):
    quantization = pytest.importorskip("onnxruntime.quantization", reason="needs onnxruntime's quantization tools")
    manifest = load_artifact(synth_artifact).manifest
    reader = ClipReader.from_spec(manifest, "synthetic://?clips=5", max_clips=5, batch_size=2)
    quantization.CalibrationDataReader.register(ClipReader)
    assert isinstance(reader, quantization.CalibrationDataReader)
    shapes = []
    while (feed := reader.get_next()) is not None:
        shapes.append(feed["pixel_values"].shape)
    assert shapes == [(2, 4, 3, 32, 32), (2, 4, 3, 32, 32), (1, 4, 3, 32, 32)]
    reader.rewind()
    assert reader.get_next()["pixel_values"].shape[0] == 2
    reader.set_range(1, 3)
    assert [f["pixel_values"].shape[0] for f in iter(reader.get_next, None)] == [2]


def test_synthetic_clips_are_labelled_balanced_and_deterministic(synth_artifact):
    manifest = load_artifact(synth_artifact).manifest
    first = ClipReader.from_spec(manifest, "synthetic://?clips=6&seed=3", max_clips=6)
    again = ClipReader.from_spec(manifest, "synthetic://?clips=6&seed=3", max_clips=6)
    other = ClipReader.from_spec(manifest, "synthetic://?clips=6&seed=4", max_clips=6)
    assert first.labels == list(SYNTH_LABELS) * 2
    assert first.digest() == again.digest() != other.digest()
    assert len({s.stream_id for s in first.samples}) == 6


def test_synthetic_stream_labels_only_windows_inside_one_action(synth_artifact):
    manifest = load_artifact(synth_artifact).manifest
    spec = "synthetic://?frames=240&seed=2"
    every = sample_clips(manifest, spec, max_clips=1000)
    labelled = sample_clips(manifest, spec, max_clips=1000, labelled=True)
    from runtime.world import SyntheticStream

    world = SyntheticStream(seed=2, height=32, width=32, num_frames=240)
    assert 0 < len(labelled) < len(every)
    for sample in labelled:
        assert world.label_at(sample.first_index) == world.label_at(sample.newest_index) == sample.label


def test_image_folder_through_the_runtime_sources(tmp_path, synth_artifact):
    import cv2

    from runtime.world import render_clip

    pytest.importorskip("runtime.sources.folder", reason="image folders need runtime.sources.folder")
    images = render_clip("moving right", 8, 40, 40, seed=3)
    (tmp_path / "frames").mkdir()
    for i, image in enumerate(images):
        cv2.imwrite(str(tmp_path / "frames" / f"{i:03d}.png"), image)  # lossless: pixels survive exactly
    manifest = load_artifact(synth_artifact).manifest
    reader = ClipReader.from_spec(manifest, str(tmp_path / "frames"), max_clips=10)
    # 8 frames, 4-frame clips every 2 frames -> windows ending at frames 3, 5, 7.
    assert [s.newest_index for s in reader.samples] == [3, 5, 7]
    from runtime.preprocess import Preprocessor

    preprocess = Preprocessor(manifest.preprocessing)
    np.testing.assert_array_equal(reader.samples[1].array, np.stack([preprocess(im) for im in images[2:6]]))


def test_folder_per_class_gives_labels_and_split_keeps_streams_apart(tmp_path, synth_artifact):
    for label in ("left", "right"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(3):
            moving_square_video(tmp_path / "data" / label / f"{i}.avi", frames=12)
    manifest = load_artifact(synth_artifact).manifest
    reader = ClipReader.from_spec(manifest, str(tmp_path / "data"), max_clips=60)
    assert sorted(set(reader.labels)) == ["left", "right"]
    assert len({s.stream_id for s in reader.samples}) == 6
    calib, held = reader.split(0.25)
    assert len(calib.samples) + len(held.samples) == len(reader.samples) and held.samples
    assert not {s.stream_id for s in calib.samples} & {s.stream_id for s in held.samples}


def test_bad_calibration_data_gets_clear_errors(tmp_path, synth_artifact):
    manifest = load_artifact(synth_artifact).manifest
    with pytest.raises(CalibrationDataError, match="empty"):
        sample_clips(manifest, "  ")
    with pytest.raises(CalibrationDataError, match="does not exist"):
        sample_clips(manifest, str(tmp_path / "nowhere.mp4"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationDataError, match="holds no video files|cannot open"):
        sample_clips(manifest, str(tmp_path / "empty"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    with pytest.raises(CalibrationDataError, match="broken.mp4"):
        sample_clips(manifest, str(broken))
    short = moving_square_video(tmp_path / "short.avi", frames=3)
    with pytest.raises(CalibrationDataError, match="shorter than one clip"):
        sample_clips(manifest, str(short))
    with pytest.raises(CalibrationDataError, match="live source"):
        sample_clips(manifest, "synthetic://?seed=1&realtime=true")
    with pytest.raises(CalibrationDataError, match="unknown option"):
        sample_clips(manifest, "synthetic://?clip=4")
    with pytest.raises(CalibrationDataError, match="not key=value"):
        sample_clips(manifest, "synthetic://?4")
    unlabelled = moving_square_video(tmp_path / "long.avi", frames=12)
    with pytest.raises(CalibrationDataError, match="no labelled clips"):
        sample_clips(manifest, str(unlabelled), labelled=True)


def test_an_unlabelled_video_is_named_as_unlabelled_not_short(tmp_path, synth_artifact):
    # Temperature scaling needs labelled clips: a long video that forms windows but carries no labels
    # must say so, with the count, rather than call itself shorter than one clip.
    manifest = load_artifact(synth_artifact).manifest
    long = moving_square_video(tmp_path / "long.avi", frames=40)
    assert sample_clips(manifest, str(long))  # it does form clips
    with pytest.raises(CalibrationDataError) as caught:
        sample_clips(manifest, str(long), labelled=True)
    message = str(caught.value)
    assert "shorter than one clip" not in message
    assert "none carries a label" in message and "folder-per-class" in message


def test_old_world_spellings_name_the_new_one(synth_artifact):
    manifest = load_artifact(synth_artifact).manifest
    for old, new in (("synthetic", "synthetic://?clips"), ("synthetic:clips=6,seed=3", "synthetic://?clips=6&seed=3"),
                     ("synthetic:size=40x40", "synthetic://?clips&size=40x40"),
                     ("synthetic-stream:frames=240,seed=2", "synthetic://?frames=240&seed=2")):
        with pytest.raises(CalibrationDataError, match=re.escape(repr(new))):
            sample_clips(manifest, old)


def test_world_spec_counts_clips_from_the_spec_or_the_caller(synth_artifact):
    manifest = load_artifact(synth_artifact).manifest
    assert len(ClipReader.from_spec(manifest, "synthetic://?clips&seed=3", max_clips=4).samples) == 4
    assert len(ClipReader.from_spec(manifest, "synthetic://?clips=3&seed=3", max_clips=4).samples) == 3
    with pytest.raises(CalibrationDataError, match="belong to the continuous stream"):
        sample_clips(manifest, "synthetic://?clips=3&frames=100")
