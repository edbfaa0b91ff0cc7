"""Pretraining and fine-tuning on a tiny random-init VideoMAE: loss on masked tokens only,
loss goes down, preprocessing equals the saved processor, the bundle reloads."""

import json

import numpy as np
import pytest
import torch

from training.config import ModelSpec
from training.data import make_processor, pixel_values
from training.finetune import evaluate, finetune, new_classifier, predict, save_bundle
from training.masking import tube_mask
from training.pretrain import (_patches, new_pretraining_model, patch_targets, pretrain_step,
                               unpatchify)

TINY = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=32,
                 num_layers=2, num_heads=2, intermediate_size=64, decoder_hidden_size=16,
                 decoder_layers=1, decoder_heads=2)
ACTIONS = ("no action", "left", "right")


def _clips(n, seed=0, size=16):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, TINY.num_frames, size, size, 3), dtype=np.uint8)


def test_pixel_values_match_the_saved_processor():
    clips = _clips(2)
    ours = pixel_values(clips, TINY.image_size)
    processor = make_processor(TINY.image_size)
    for clip, mine in zip(clips, ours):
        frames = [frame[..., ::-1].copy() for frame in clip]  # the processor takes RGB
        theirs = processor(frames, return_tensors="pt").pixel_values[0]
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)


def test_pixel_values_resize_and_center_crop_larger_frames():
    clips = _clips(1, size=32)
    clips[..., :] = 200  # flat colour: resizing must not change it, crop keeps the size
    values = pixel_values(clips, TINY.image_size)
    assert values.shape == (1, TINY.num_frames, 3, 16, 16)
    processor = make_processor(TINY.image_size)
    theirs = processor([f[..., ::-1].copy() for f in clips[0]], return_tensors="pt").pixel_values
    torch.testing.assert_close(values, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("pixel_loss", ["normalized", "raw"])
def test_loss_is_mse_on_masked_tokens_only(pixel_loss):
    model = new_pretraining_model(TINY, seed=0, pixel_loss=pixel_loss).eval()
    values = pixel_values(_clips(3), TINY.image_size)
    mask = tube_mask(3, TINY.temporal_slots, TINY.patches_per_slot, 0.75,
                     generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(pixel_values=values, bool_masked_pos=mask)
    targets, _, _ = patch_targets(values, TINY, normalized=pixel_loss == "normalized")
    n_masked = int(mask[0].sum())
    assert out.logits.shape == (3, n_masked, targets.shape[-1])  # one prediction per masked token
    manual = torch.nn.functional.mse_loss(out.logits, targets[mask].reshape(3, n_masked, -1))
    torch.testing.assert_close(out.loss, manual)
    # a loss over the visible tokens (the seed's bug) would be a different number
    visible = targets[~mask].reshape(3, -1, targets.shape[-1])
    assert not torch.isclose(out.loss, ((visible.mean(1, keepdim=True) - visible) ** 2).mean())


def test_decoder_uses_the_mask_token():
    model = new_pretraining_model(TINY, seed=0)
    values = pixel_values(_clips(2), TINY.image_size)
    mask = tube_mask(2, TINY.temporal_slots, TINY.patches_per_slot, 0.75)
    model(pixel_values=values, bool_masked_pos=mask).loss.backward()
    assert model.mask_token.grad is not None and model.mask_token.grad.abs().sum() > 0


def test_unpatchify_inverts_patchify():
    values = torch.randn(2, TINY.num_frames, 3, 16, 16)
    patches = _patches(values, TINY.tubelet_size, TINY.patch_size)
    torch.testing.assert_close(unpatchify(patches, TINY), values)


def _gradient_clips(n):
    """Smooth ramps in random directions: learnable structure, unlike uniform noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16] / 15.0
    clips = np.zeros((n, TINY.num_frames, 16, 16, 3), np.uint8)
    for i in range(n):
        for c in range(3):
            a, b = rng.uniform(-1, 1, 2)
            clips[i, :, :, :, c] = (127 + 120 * (a * xx + b * yy) / 2).astype(np.uint8)
    return clips


def test_pretraining_steps_reduce_loss_on_a_fixed_batch():
    model = new_pretraining_model(TINY, seed=0)
    values = pixel_values(_gradient_clips(4), TINY.image_size)
    mask = tube_mask(4, TINY.temporal_slots, TINY.patches_per_slot, 0.75,
                     generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = [pretrain_step(model, optimizer, values, mask) for _ in range(15)]
    assert losses[-1] < 0.8 * losses[0]


def test_finetune_save_and_reload(tmp_path):
    from transformers import VideoMAEForVideoClassification, VideoMAEImageProcessor

    pretrained = new_pretraining_model(TINY, seed=0)
    model = new_classifier(TINY, ACTIONS, encoder=pretrained.videomae)
    torch.testing.assert_close(model.videomae.embeddings.patch_embeddings.projection.weight,
                               pretrained.videomae.embeddings.patch_embeddings.projection.weight)
    clips, labels = _clips(6), np.array([0, 1, 2, 0, 1, 2])
    losses = finetune(model, TINY, epochs=2, data=lambda epoch: (clips, labels), batch_size=3)
    assert len(losses) == 4 and all(np.isfinite(losses))

    out = save_bundle(model, tmp_path / "bundle", TINY)
    assert (out / "model.safetensors").is_file() and (out / "preprocessor_config.json").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "no action", "1": "left", "2": "right"}

    reloaded = VideoMAEForVideoClassification.from_pretrained(out)
    np.testing.assert_array_equal(predict(reloaded, clips, 16), predict(model, clips, 16))
    processor = VideoMAEImageProcessor.from_pretrained(out)
    assert processor.crop_size == {"height": 16, "width": 16}
    assert processor.size == {"shortest_edge": 16}


def test_evaluate_counts_twin_confusions():
    actions = ("no action", "left", "right")
    reversed_of = {"no action": "no action", "left": "right", "right": "left"}
    labels = np.array([0, 1, 1, 2, 2])
    predictions = np.array([0, 2, 1, 2, 0])
    result = evaluate(predictions, labels, actions, reversed_of)
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["twin_confusion"] == pytest.approx(1 / 4)
    assert result["per_class"] == {"no action": 1.0, "left": 0.5, "right": 0.5}


def test_reversed_pairs_are_exact_twins_and_share_a_batch():
    from runtime.world import ACTIONS, REVERSED, render_clip
    from training.data import batches, with_reversed

    names = ["moving left", "rotating clockwise", "no action"]
    clips = np.stack([render_clip(name, 6, 32, 32, seed=5, clean=True) for name in names])
    labels = np.array([ACTIONS.index(name) for name in names])
    twin_of = {i: ACTIONS.index(REVERSED[name]) for i, name in enumerate(ACTIONS)}
    paired, paired_labels = with_reversed(clips, labels, twin_of)
    assert [ACTIONS[i] for i in paired_labels] == ["moving left", "moving right", "rotating clockwise",
                                                   "rotating anticlockwise", "no action", "no action"]
    np.testing.assert_array_equal(paired[0::2], clips)
    np.testing.assert_array_equal(paired[1::2], clips[:, ::-1])
    # On clean clips (no noise or shake) a reversed clip equals the twin rendered from the same seed.
    np.testing.assert_array_equal(paired[1], render_clip("moving right", 6, 32, 32, seed=5, clean=True))
    seen = []
    for values, target in batches(paired, paired_labels, 2, 32, torch.Generator().manual_seed(1), group=2):
        assert len(target) == 2 and twin_of[int(target[0])] == int(target[1])  # a pair, never split
        torch.testing.assert_close(values[1], values[0].flip(0))
        seen += target.tolist()
    assert sorted(seen) == sorted(paired_labels.tolist())


def test_grouped_batches_keep_the_items_past_the_last_whole_group():
    from training.data import batches

    clips = np.zeros((7, 2, 3, 8, 8), np.float32)  # three pairs, then one window that is not a pair
    labels = np.arange(7)
    seen = []
    for _, target in batches(clips, labels, 4, 8, torch.Generator().manual_seed(0), group=2):
        seen += target.tolist()
    assert sorted(seen) == list(range(7))


def test_reversed_pairs_keep_the_recipes_stream_windows_and_scaled_clips():
    # Reversed pairs once returned the paired clips alone, silently dropping the stream windows and
    # scaled clips the same recipe asked for.
    from runtime.world import ACTIONS, REVERSED
    from training.config import ModelSpec
    from training.train_bundled import Recipe, epoch_data

    spec = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=32, num_layers=1,
                     num_heads=2, intermediate_size=64, decoder_hidden_size=16, decoder_layers=1, decoder_heads=2)
    plain = Recipe(finetune_clips_per_class=2, finetune_epochs=1, stream_frames=40, scaled_clips_per_class=1)
    paired = Recipe(**{**plain.__dict__, "reversed_pairs": True})
    values, labels = epoch_data(paired, spec, 0)
    want_values, want_labels = epoch_data(plain, spec, 0)
    pairs = len(ACTIONS) * 2  # 1 clip per class, each with its reversal
    assert len(labels) == len(want_labels)  # as many items: pairs replace half the clips, nothing else goes
    # after the pairs come the very same scaled clips and stream windows as without pairs
    np.testing.assert_array_equal(labels[pairs:], want_labels[len(ACTIONS) * 2:])
    np.testing.assert_array_equal(values[pairs:], want_values[len(ACTIONS) * 2:])
    twin_of = {i: ACTIONS.index(REVERSED[name]) for i, name in enumerate(ACTIONS)}
    assert all(twin_of[int(a)] == int(b) for a, b in zip(labels[0:pairs:2], labels[1:pairs:2]))


def test_the_constant_prediction_loss_is_the_targets_variance():
    from training.pretrain import constant_prediction_loss

    textured = _clips(2)
    # every patch normalized to unbiased variance 1, so (n-1)/n of it, less what the mean over 32 patches explains
    assert 0.9 < constant_prediction_loss(textured, TINY) < 31 / 32
    flat = np.full((2, 4, 16, 16, 3), 128, np.uint8)
    flat[:, :, :4, :4] = 250  # one bright square: the first 4x4 patch of every frame, and nothing else
    assert constant_prediction_loss(flat, TINY) < 1e-2  # normalized, every flat patch is zeros (but rounding / 1e-6)
    raw = constant_prediction_loss(flat, TINY, normalized=False)
    share, bright, grey = 1 / TINY.patches_per_slot, 250 / 255, 128 / 255
    assert abs(raw - share * (1 - share) * (bright - grey) ** 2) < 1e-6  # a two-valued pixel's variance
    flat[:, :, :2, :4] = 10  # now half of that patch is dark: the only patch with structure
    assert 0 < constant_prediction_loss(flat, TINY) < share


def test_change_frames_add_the_windows_that_straddle_a_change_of_their_own_stream():
    from runtime.sources.window_truth import straddles
    from training.config import ModelSpec
    from training.stream_data import stream_clips
    from training.data import preprocessor
    from training.train_bundled import CHANGE_STREAMS, Recipe, epoch_data, stream_seed_base

    spec = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=32, num_layers=1,
                     num_heads=2, intermediate_size=64, decoder_hidden_size=16, decoder_layers=1, decoder_heads=2)
    plain = Recipe(seed=1, finetune_clips_per_class=1, finetune_epochs=2, stream_frames=40, onset_frames=2)
    changes = Recipe(**{**plain.__dict__, "change_frames": 200})
    want_values, want_labels = epoch_data(plain, spec, 1)
    values, labels = epoch_data(changes, spec, 1)
    np.testing.assert_array_equal(values[:len(want_values)], want_values)  # the rest of the epoch unchanged
    extra = stream_clips(stream_seed_base(changes) + CHANGE_STREAMS + 1, spec.num_frames, spec.fps,
                         preprocessor(spec.image_size), 200, 1, straddling_only=True)
    assert len(extra.frames) > 0 and all(straddles(extra.stream.timeline, row) for row in extra.frames)
    np.testing.assert_array_equal(values[len(want_values):], extra.values)
    assert len(labels) == len(want_labels) + len(extra.frames)


def test_an_epoch_is_joined_without_holding_every_part_twice():
    # The epoch's parts were joined with np.concatenate while every part was still held: a peak of
    # twice the epoch (about 12 GB at 192 px), so two training runs did not fit in 24 GB.
    import tracemalloc

    from training.data import scaled_clips, world_clips
    from training.train_bundled import Recipe, epoch_data

    spec = ModelSpec(num_frames=4, image_size=32, patch_size=4, tubelet_size=2, hidden_size=32, num_layers=1,
                     num_heads=2, intermediate_size=64, decoder_hidden_size=16, decoder_layers=1, decoder_heads=2)
    recipe = Recipe(seed=2, finetune_clips_per_class=12, finetune_epochs=1, scaled_clips_per_class=1)
    epoch_data(recipe, spec, 0)  # the world's caches (backgrounds, textures) are built before the count starts
    tracemalloc.start()
    try:
        values, labels = epoch_data(recipe, spec, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the same items, in the same order, as the plain clips then the scaled ones
    clips, plain_labels = world_clips(12, spec.num_frames, spec.image_size, seed=2001, fps=spec.fps,
                                      clean_fraction=1.0)  # epoch 0 of the curriculum: all clean
    scaled, scaled_labels = scaled_clips(1, spec.num_frames, spec.image_size, 2500, spec.fps)
    np.testing.assert_array_equal(labels, np.concatenate([plain_labels, scaled_labels]))
    np.testing.assert_array_equal(values[:len(clips)], pixel_values(clips, spec.image_size).numpy())
    np.testing.assert_array_equal(values[len(clips):], scaled)
    # at most the epoch, the raw uint8 clips (a quarter of their pixel values), the small scaled part
    # and the renderer's working frames are held at once, not two epochs
    assert values.nbytes < peak < 1.6 * values.nbytes
