"""The one-batch fitting check: its control scenes are what they say, a model that can fit them does,
and the CLI refuses what it cannot run."""

import numpy as np
import pytest
import torch

from training.config import ModelSpec
from training.pretrain_capacity import fit_one_batch, main, scene_clips

TINY = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=64, num_layers=2,
                 num_heads=4, intermediate_size=128, decoder_hidden_size=64, decoder_layers=1, decoder_heads=4)


def test_control_scenes_hold_one_colour_per_clip_or_per_half():
    uniform = scene_clips("uniform", 5, TINY, seed=3)
    assert uniform.shape == (5, 4, 16, 16, 3)
    assert all(len(np.unique(clip.reshape(-1, 3), axis=0)) == 1 for clip in uniform)
    halves = scene_clips("halves", 5, TINY, seed=3)
    for clip in halves:
        left, right = clip[:, :, :8].reshape(-1, 3), clip[:, :, 8:].reshape(-1, 3)
        assert len(np.unique(left, axis=0)) == 1 and len(np.unique(right, axis=0)) == 1
    assert not np.array_equal(halves[:, :, :, :8], halves[:, :, :, 8:])
    world = scene_clips("clean", 13, TINY)
    assert world.shape == (13, 4, 16, 16, 3) and world.dtype == np.uint8
    with pytest.raises(ValueError, match="scene must be one of"):
        scene_clips("stripes", 2, TINY)


def test_a_scene_the_model_can_fit_falls_far_below_the_constant_prediction():
    torch.set_num_threads(1)
    shares = fit_one_batch(scene_clips("uniform", 8, TINY), 200, pixel_loss="raw", spec=TINY, report_every=50)
    assert [step for step, _ in shares] == [50, 100, 150, 200]
    assert shares[-1][1] < 0.2, shares  # a masked patch is any visible one: nearly all of the loss goes


def test_cli_refuses_unknown_scenes_and_empty_budgets(capsys):
    with pytest.raises(SystemExit):
        main(["--scenes", "uniform,stripes"])
    assert "stripes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--steps", "0"])
    with pytest.raises(SystemExit):
        main(["--seeds", "1,1"])


def test_control_scenes_refuse_normalized_pixels_whose_targets_are_all_zero():
    with pytest.raises(ValueError, match="flat"):
        fit_one_batch(scene_clips("halves", 4, TINY), 1, pixel_loss="normalized", spec=TINY)


def test_cli_writes_a_page_with_one_row_per_scene_and_mask(tmp_path, monkeypatch, capsys):
    import training.pretrain_capacity as capacity

    monkeypatch.setattr(capacity, "EXPERIMENT_SPEC", TINY)
    page = tmp_path / "capacity.md"
    assert main(["--scenes", "uniform,clean", "--masks", "random,tube", "--steps", "4", "--clips", "4", "--encoder-norm",
                 "--seeds", "0,1",
                 "--threads", "1", "--out", str(page)]) == 0
    text = page.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| uniform") or line.startswith("| clean")]
    assert [row.split(" | ")[:3] for row in rows] == [
        ["| uniform", "random", "raw"], ["| clean", "random", "normalized"],
        ["| clean", "random + encoder norm", "normalized"], ["| clean", "tube", "normalized"],
        ["| clean", "tube + encoder norm", "normalized"]]
    assert "--masks random,tube" in text and "| step 1 | step 2 | step 3 | step 4 |" in text
    assert "seeds 0, 1" in text and all(" ± " in row for row in rows)  # two seeds: a mean and its spread
    assert "wrote" in capsys.readouterr().out


def test_encoder_norm_adds_videomae_own_output_norm_and_the_default_keeps_the_classifier_keys():
    from training.pretrain import new_pretraining_model

    assert new_pretraining_model(TINY, seed=0).videomae.layernorm is None
    normed = new_pretraining_model(TINY, seed=0, encoder_norm=True)
    assert isinstance(normed.videomae.layernorm, torch.nn.LayerNorm)
    shares = fit_one_batch(scene_clips("uniform", 4, TINY), 2, pixel_loss="raw", spec=TINY, report_every=1,
                           encoder_norm=True)
    assert len(shares) == 2 and all(np.isfinite(share) for _, share in shares)


def test_cli_widens_the_decoder_when_asked_and_refuses_a_width_its_heads_do_not_divide(tmp_path, monkeypatch, capsys):
    import training.pretrain_capacity as capacity

    monkeypatch.setattr(capacity, "EXPERIMENT_SPEC", TINY)
    page = tmp_path / "capacity.md"
    assert main(["--scenes", "uniform", "--steps", "2", "--clips", "2", "--threads", "1",
                 "--decoder-hidden-size", "128", "--out", str(page)]) == 0
    assert "another decoder" in page.read_text() and "'decoder_hidden_size': 128" in page.read_text()
    with pytest.raises(SystemExit):
        main(["--decoder-hidden-size", "130"])
    assert "multiple" in capsys.readouterr().err
