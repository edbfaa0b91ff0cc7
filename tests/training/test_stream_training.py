"""Training on the demo camera's own windows: labels by the action that fills most of a window,
pixel values from the runtime's Preprocessor, and a fine-tuning run that resumes from its checkpoint
and ends where an unbroken run ends."""

import numpy as np
import pytest
import torch

from runtime.preprocess import Preprocessor
from runtime.world import ACTIONS, Segment, SyntheticStream
from training.config import ModelSpec
from training.data import pixel_values, runtime_preprocessing
from training.finetune import finetune, new_classifier
from runtime.sources.window_truth import window_label
from training.stream_data import stream_windows

TINY = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=32,
                 num_layers=2, num_heads=2, intermediate_size=64, decoder_hidden_size=16,
                 decoder_layers=1, decoder_heads=2)
TIMELINE = [Segment(0, 10, "no action"), Segment(10, 20, "moving left"), Segment(20, 40, "appearing")]


@pytest.mark.parametrize("frames, label", [
    ([2, 4, 6, 8], "no action"),           # inside one segment
    ([6, 8, 10, 12, 14], "moving left"),   # 3 of 5 frames hold the new action
    ([4, 6, 8, 10, 12], "no action"),      # 3 of 5 still hold the old one
    ([6, 8, 10, 12], "moving left"),       # a tie goes to the action at the newest frame
    ([8, 12, 18, 24], "moving left"),      # two of three actions: the most frames wins
])
def test_window_label_is_the_action_filling_most_of_the_window(frames, label):
    assert window_label(TIMELINE, np.array(frames)) == label


@pytest.mark.parametrize("frames, onset_frames, label", [
    ([4, 6, 8, 10, 12], 2, "moving left"),   # the newest action fills 2 of 5: named at once
    ([4, 6, 8, 10, 12], 3, "no action"),     # ... not yet at 3: the majority rules
    ([2, 4, 6, 8, 10], 1, "moving left"),    # one frame is enough when asked for one
    ([2, 4, 6, 8], 1, "no action"),          # inside one segment nothing changes
    ([6, 12, 18, 24], 2, "moving left"),     # the newest action, appearing, fills 1 of 4; moving left most
])
def test_window_label_names_the_newest_action_once_it_fills_onset_frames(frames, onset_frames, label):
    assert window_label(TIMELINE, np.array(frames), onset_frames) == label


def test_stream_windows_are_the_runtime_preprocessed_frames_at_the_clip_rate():
    values, labels = stream_windows(5, TINY.num_frames, TINY.image_size, clip_fps=7.5, frames=60, every=5,
                                    height=48, width=64)
    stream = SyntheticStream(5, 48, 64, 15.0, num_frames=60)
    pre = Preprocessor(runtime_preprocessing(TINY.image_size))
    images = [frame.image for frame in stream]
    assert values.shape == (len(labels), TINY.num_frames, 3, 16, 16) and values.dtype == np.float32
    for window, start in ((0, 0), (3, 15)):
        want = np.stack([pre(images[start + 2 * t]) for t in range(TINY.num_frames)])
        np.testing.assert_array_equal(values[window], want)
        assert ACTIONS[labels[window]] == window_label(stream.timeline, start + 2 * np.arange(TINY.num_frames))


def test_pixel_values_of_a_wide_frame_equal_the_runtime_preprocessor():
    rng = np.random.default_rng(3)
    clips = rng.integers(0, 256, (1, 2, 24, 32, 3), dtype=np.uint8)
    pre = Preprocessor(runtime_preprocessing(16))
    got = pixel_values(clips, 16)
    np.testing.assert_array_equal(got[0].numpy(), np.stack([pre(f) for f in clips[0]]))


def _data(epoch):
    rng = np.random.default_rng(epoch)
    return rng.standard_normal((6, 4, 3, 16, 16)).astype(np.float32), np.array([0, 1, 2, 0, 1, 2])


def test_finetune_resumes_from_its_checkpoint_and_ends_as_an_unbroken_run(tmp_path):
    unbroken = new_classifier(TINY, ACTIONS[:3], seed=0)
    finetune(unbroken, TINY, 3, _data, batch_size=4, checkpoint=tmp_path / "a", checkpoint_every=1)

    def killed_after_one_epoch(epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return _data(epoch)

    broken = new_classifier(TINY, ACTIONS[:3], seed=0)
    with pytest.raises(KeyboardInterrupt):
        finetune(broken, TINY, 3, killed_after_one_epoch, batch_size=4, checkpoint=tmp_path / "b", checkpoint_every=1)
    resumed = new_classifier(TINY, ACTIONS[:3], seed=1)  # other weights: the checkpoint must replace them
    losses = finetune(resumed, TINY, 3, _data, batch_size=4, checkpoint=tmp_path / "b", checkpoint_every=1)
    assert len(losses) == 3 * 2  # the first epoch's losses came back from the checkpoint
    for (name, want), got in zip(unbroken.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(got, want, msg=name)


def test_render_clip_resizes_the_actor_and_refuses_scales_the_stream_never_reaches():
    from runtime.world import ACTOR_SCALES, render_clip

    def area(scale):  # a clean clip: flat grey, so the actor is every pixel that is not grey
        frame = render_clip("moving left", 2, 96, 96, seed=4, actor_scale=scale, clean=True)[0]
        return int((np.abs(frame.astype(int) - 128).sum(-1) > 30).sum())

    assert area(0.5) / area(1.0) == pytest.approx(0.25, rel=0.15)
    np.testing.assert_array_equal(render_clip("moving left", 2, seed=4), render_clip("moving left", 2, seed=4, actor_scale=1.0))
    for bad in (ACTOR_SCALES[0] / 2, ACTOR_SCALES[1] * 2, float("nan"), True):
        with pytest.raises(ValueError, match="actor_scale must be a number"):
            render_clip("moving left", 2, seed=4, actor_scale=bad)


def test_scaled_clips_are_camera_frames_through_the_runtime_preprocessor():
    from runtime.world import ACTIONS
    from training.data import scaled_clips

    values, labels = scaled_clips(1, 2, 16, seed=9, fps=7.5, height=48, width=64)
    assert values.shape == (len(ACTIONS), 2, 3, 16, 16) and list(labels) == list(range(len(ACTIONS)))
    assert np.isfinite(values).all() and values.std() > 0.1


def test_straddling_only_keeps_exactly_the_windows_that_see_a_change():
    from runtime.sources.window_truth import straddles
    from training.data import preprocessor
    from training.stream_data import stream_clips

    every = stream_clips(5, TINY.num_frames, 7.5, preprocessor(TINY.image_size), 120, 1, 48, 64)
    kept = stream_clips(5, TINY.num_frames, 7.5, preprocessor(TINY.image_size), 120, 1, 48, 64, straddling_only=True)
    want = [i for i, row in enumerate(every.frames) if straddles(every.stream.timeline, row)]
    assert 0 < len(want) < len(every.frames)  # the stream changes, and not in every window
    np.testing.assert_array_equal(kept.frames, every.frames[want])
    np.testing.assert_array_equal(kept.values, every.values[want])
    values, labels = stream_windows(5, TINY.num_frames, TINY.image_size, 7.5, 120, 1, height=48, width=64,
                                    onset_frames=2, straddling_only=True)
    assert values.shape[0] == len(want)
    assert [ACTIONS[i] for i in labels] == [window_label(kept.stream.timeline, row, 2) for row in kept.frames]
