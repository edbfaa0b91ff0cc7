"""The seed grid is resumable: a pretraining killed after a checkpoint ends exactly as an unbroken
one, a finished cell is read back instead of rerun, and a work folder keeps one budget."""

import json

import numpy as np
import pytest
import torch

from training.config import ModelSpec
from training.pretrain import new_pretraining_model, pretrain
from training.seed_runs import Budget, read_results, run_cell

TINY = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=32,
                 num_layers=1, num_heads=2, intermediate_size=64, decoder_hidden_size=16,
                 decoder_layers=1, decoder_heads=2)


def _clips(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 4, 16, 16, 3), dtype=np.uint8)


class Killed(Exception):
    pass


def test_pretraining_resumed_from_its_checkpoint_ends_as_an_unbroken_run(tmp_path):
    clips = _clips(12, 0)
    unbroken = new_pretraining_model(TINY, seed=3)
    losses = pretrain(unbroken, clips, TINY, steps=6, batch_size=4, seed=3)

    def kill_at_the_end(step, model):
        if step == 6:
            raise Killed  # after the checkpoint of step 3, before the one of step 6

    broken = new_pretraining_model(TINY, seed=3)
    with pytest.raises(Killed):
        pretrain(broken, clips, TINY, steps=6, batch_size=4, seed=3, checkpoint=tmp_path / "ck",
                 checkpoint_every=3, on_checkpoint=kill_at_the_end)
    assert json.loads((tmp_path / "ck" / "state.json").read_text())["next_epoch"] == 3
    resumed = new_pretraining_model(TINY, seed=99)  # weights come from the checkpoint
    seen = []
    resumed_losses = pretrain(resumed, clips, TINY, steps=6, batch_size=4, seed=3,
                              checkpoint=tmp_path / "ck", checkpoint_every=3,
                              on_checkpoint=lambda step, model: seen.append(step))
    assert seen == [6]
    np.testing.assert_allclose(resumed_losses, losses, rtol=1e-5)
    for (name, a), b in zip(unbroken.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def _data():
    labels = np.repeat(np.arange(11), 2)
    clips = _clips(len(labels), 2)
    return {"pretrain": (_clips(8, 3), None), "probe_train": (clips, labels),
            "heldout": (clips[::-1].copy(), labels[::-1].copy()), "noise_floor": 0.3}


def test_a_finished_cell_is_read_back_and_a_folder_keeps_one_budget(tmp_path):
    torch.set_num_threads(1)
    budget = Budget(steps=4, batch=4, evaluations=2, finetune_epochs=1, clips_per_class=2)
    data = _data()
    result, _ = run_cell("tube", 0.75, 0, budget, TINY, tmp_path, data)
    assert sorted(result["milestones"], key=int) == ["2", "4"]
    assert 0 <= result["finetune"]["order"] <= 1 and result["finetune"]["accuracy"] <= 1
    assert set(result["geometry"]) == {"token_cosine", "token_rank", "clip_rank"}
    assert -1 <= result["geometry"]["token_cosine"] <= 1 and result["geometry"]["token_rank"] >= 0
    again, _ = run_cell("tube", 0.75, 0, budget, TINY, tmp_path, data)
    # its fine-tune read back, not rerun (a rerun would differ at least in its measured minutes)
    assert again["finetune"] == result["finetune"]
    assert read_results(tmp_path, [0], budget, TINY) == [again]
    with pytest.raises(ValueError, match="its own --work folder"):
        run_cell("tube", 0.75, 0, Budget(steps=8, batch=4, evaluations=2, finetune_epochs=1,
                                          clips_per_class=2), TINY, tmp_path, data)


def test_more_finetune_rates_are_added_to_a_finished_cell_from_its_own_encoder(tmp_path, monkeypatch):
    """A later run with finetune_runs adds a fine-tune per new rate or length to a finished cell, from the same
    final encoder, and leaves the cell's own fine-tune (and its budget) as they were."""
    import training.seed_runs as seed_runs

    torch.set_num_threads(1)
    budget = Budget(steps=4, batch=4, evaluations=2, finetune_epochs=1, clips_per_class=2)
    data = _data()
    result, model = run_cell("tube", 0.9, 0, budget, TINY, tmp_path, data)
    before = {k: v.clone() for k, v in model.videomae.state_dict().items()}
    swept, model = run_cell("tube", 0.9, 0, budget, TINY, tmp_path, data,
                            finetune_runs=(1e-3, (1e-3, 1), 3e-4, (3e-4, 2)))
    assert swept["finetune"] == result["finetune"]
    # 1e-3 for the budget's one epoch is the cell's own fine-tune, however it is named
    assert list(swept["finetune_lr"]) == ["0.0003", "0.0003x2"]
    assert swept["finetune_lr"]["0.0003x2"]["loss"] != swept["finetune_lr"]["0.0003"]["loss"]
    # from the pretrained encoder at its last checkpoint, which no fine-tune changes
    for name, value in model.videomae.state_dict().items():
        torch.testing.assert_close(value, before[name], msg=name)
    direct = seed_runs.twin_finetune(model.videomae, data, TINY, budget.finetune_epochs, 0, lr=3e-4)
    assert {k: direct[k] for k in ("accuracy", "order", "loss")} == \
        {k: swept["finetune_lr"]["0.0003"][k] for k in ("accuracy", "order", "loss")}

    def no_rerun(*args, **kwargs):
        raise AssertionError("a fine-tune already in result.json ran again")

    monkeypatch.setattr(seed_runs, "twin_finetune", no_rerun)
    again, _ = run_cell("tube", 0.9, 0, budget, TINY, tmp_path, data, finetune_runs=(3e-4, (3e-4, 2)))
    assert again == swept
    assert read_results(tmp_path, [0], budget, TINY) == [swept]


def test_cells_run_by_separate_calls_share_one_folder_in_the_clean_world(tmp_path):
    """Two processes given different --cells fill one work folder; the clean world has no grain,
    so its clips are their own oracle (loss floor 0) and their background is one flat grey."""
    from training.seed_runs import run_grid

    torch.set_num_threads(1)
    budget = Budget(steps=2, batch=4, evaluations=1, finetune_epochs=1, clips_per_class=2, world="clean")
    tiny = ModelSpec(**{**TINY.as_dict(), "image_size": 32})
    first, data = run_grid([0], budget, tmp_path, tiny, cells=(("none", None), ("tube", 0.9)))
    assert data["data"]["noise_floor"] == 0.0
    corners = data["data"]["heldout"][0][:, :, 0, 0]  # the top-left pixel of every frame
    assert (corners == 128).all()
    second, _ = run_grid([0], budget, tmp_path, tiny, cells=(("random", 0.9),))
    assert [(r["kind"], r["ratio"]) for r in first + second] == [("none", None), ("tube", 0.9), ("random", 0.9)]
    assert read_results(tmp_path, [0], budget, tiny) == first + second
    with pytest.raises(ValueError, match="world must be one of"):
        Budget(world="dusty")


def test_cells_option_names_the_cells_and_refuses_others():
    import argparse

    from training.experiments import _cells

    assert _cells("random-90, none") == (("none", None), ("random", 0.9))
    with pytest.raises(argparse.ArgumentTypeError, match="tube-75"):
        _cells("tube-80")
    with pytest.raises(argparse.ArgumentTypeError):
        _cells(",")


def test_a_variant_budget_names_its_own_folder_page_and_figure():
    assert Budget().variant() == ""
    assert Budget(world="clean").variant() == "-clean"
    assert Budget(world="clean", pixel_loss="raw").variant() == "-clean-raw"
