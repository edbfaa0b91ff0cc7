"""Mask invariants, and that our token order is the order of HF VideoMAE's patch embedding."""

import pytest
import torch

from training.masking import (gather_tokens, masked_ids, masked_per_slot, random_mask, restore,
                              shuffle_ids, tube_mask, visible_ids)

SLOTS, PATCHES = 4, 16


@pytest.mark.parametrize("make", [tube_mask, random_mask])
@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.9])
def test_exact_ratio_in_every_slot(make, ratio):
    mask = make(8, SLOTS, PATCHES, ratio, generator=torch.Generator().manual_seed(0))
    assert mask.dtype == torch.bool and mask.shape == (8, SLOTS * PATCHES)
    per_slot = mask.reshape(8, SLOTS, PATCHES).sum(-1)
    assert (per_slot == round(ratio * PATCHES)).all()


def test_tube_is_identical_across_time():
    mask = tube_mask(8, SLOTS, PATCHES, 0.75, generator=torch.Generator().manual_seed(1))
    slots = mask.reshape(8, SLOTS, PATCHES)
    assert (slots == slots[:, :1]).all()
    # and it varies between clips, or it would not be random at all
    assert not (slots[:, 0] == slots[:1, 0]).all()


def test_random_differs_across_time():
    mask = random_mask(8, SLOTS, PATCHES, 0.75, generator=torch.Generator().manual_seed(1))
    slots = mask.reshape(8, SLOTS, PATCHES)
    differs = (slots != slots[:, :1]).any(-1).any(-1)
    assert differs.all()


@pytest.mark.parametrize("make", [tube_mask, random_mask])
def test_seeded_generator_is_deterministic(make):
    a = make(4, SLOTS, PATCHES, 0.9, generator=torch.Generator().manual_seed(7))
    b = make(4, SLOTS, PATCHES, 0.9, generator=torch.Generator().manual_seed(7))
    c = make(4, SLOTS, PATCHES, 0.9, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_ids_partition_tokens_and_match_boolean_indexing():
    mask = random_mask(3, SLOTS, PATCHES, 0.75, generator=torch.Generator().manual_seed(2))
    tokens = torch.randn(3, SLOTS * PATCHES, 5)
    m, v = masked_ids(mask), visible_ids(mask)
    assert m.shape == (3, SLOTS * 12) and v.shape == (3, SLOTS * 4)
    # HF takes x[bool_masked_pos]; our ids must give the same tokens in the same order
    assert torch.equal(gather_tokens(tokens, m), tokens[mask].reshape(3, -1, 5))
    assert torch.equal(gather_tokens(tokens, v), tokens[~mask].reshape(3, -1, 5))


def test_restore_is_a_true_inverse():
    mask = tube_mask(5, SLOTS, PATCHES, 0.9, generator=torch.Generator().manual_seed(3))
    tokens = torch.randn(5, SLOTS * PATCHES, 7)
    ids = shuffle_ids(mask)
    shuffled = gather_tokens(tokens, ids)
    assert not torch.equal(shuffled, tokens)
    assert torch.equal(gather_tokens(shuffled, restore(ids)), tokens)
    # the shuffled sequence is visible tokens first, then masked ones
    assert mask.gather(1, ids)[:, : SLOTS * 2].logical_not().all()


def test_bad_ratio_names_the_problem():
    with pytest.raises(ValueError, match="ratio"):
        masked_per_slot(16, 1.0)
    with pytest.raises(ValueError, match="visible"):
        masked_per_slot(4, 0.95)


def test_token_order_matches_hf_patch_embedding():
    """Token i of the Conv3d patch embedding is (slot, row, col) = divmod chain of i."""
    from transformers import VideoMAEConfig
    from transformers.models.videomae.modeling_videomae import VideoMAEPatchEmbeddings

    cfg = VideoMAEConfig(image_size=16, patch_size=4, num_frames=4, tubelet_size=2, hidden_size=8)
    embed = VideoMAEPatchEmbeddings(cfg)
    with torch.no_grad():
        embed.projection.weight.zero_()
        embed.projection.bias.zero_()
        embed.projection.weight[0, 0] = 1.0 / (2 * 4 * 4)  # output 0 = mean of channel 0's tubelet
    video = torch.zeros(1, 4, 3, 16, 16)  # (B, T, C, H, W) as the HF model takes it
    for slot in range(2):
        for row in range(4):
            for col in range(4):
                value = 100 * slot + 10 * row + col
                video[0, 2 * slot:2 * slot + 2, 0, 4 * row:4 * row + 4, 4 * col:4 * col + 4] = value
    out = embed(video)[0, :, 0]
    expected = torch.tensor([100 * s + 10 * r + c for s in range(2) for r in range(4) for c in range(4)],
                            dtype=out.dtype)
    assert out.shape == (2 * 16,)
    torch.testing.assert_close(out, expected)
    # so a tube mask's slot-major layout hides the same image square in every slot
    mask = tube_mask(1, 2, 16, 0.75, generator=torch.Generator().manual_seed(0))
    hidden = out[mask[0]]
    assert torch.equal((hidden[: len(hidden) // 2] + 100), hidden[len(hidden) // 2:])
