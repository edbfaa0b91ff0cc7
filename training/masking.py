"""Tube and random token masks in Hugging Face VideoMAE token order.

VideoMAE's patch embedding is a Conv3d whose output (B, D, T', H', W') is flattened from dim 2,
so token index = slot * patches_per_slot + row * W' + col: temporal slot (tubelet) first, then
spatial patch row-major. A mask here is a (B, temporal_slots * patches_per_slot) bool tensor,
True = masked, in exactly that order, so it can be passed as `bool_masked_pos`.

Every row masks the same number of tokens (the HF pretraining model reshapes the visible and
masked tokens per row and needs that), and every temporal slot masks exactly
round(ratio * patches_per_slot) positions.

The seed sketch computed restore indices and never used them; here `shuffle_ids` (visible tokens
first, then masked, the order the HF decoder sees) and `restore` (its inverse permutation) are
kept together and tested as inverses.
"""

from __future__ import annotations

import torch


def masked_per_slot(patches_per_slot: int, ratio: float) -> int:
    """How many positions each temporal slot masks; at least one stays visible, one masked."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be in (0, 1), got {ratio}")
    count = round(ratio * patches_per_slot)
    if not 0 < count < patches_per_slot:
        raise ValueError(
            f"ratio {ratio} of {patches_per_slot} patches per slot masks {count}: "
            "need at least one masked and one visible patch; change the ratio or patch size"
        )
    return count


def _slot_masks(rows: int, patches_per_slot: int, ratio: float,
                generator: torch.Generator | None) -> torch.Tensor:
    """(rows, patches_per_slot) bool, exactly `masked_per_slot` True per row, uniformly at random."""
    count = masked_per_slot(patches_per_slot, ratio)
    # Ranking uniform noise gives a uniformly random subset of exactly `count` positions.
    noise = torch.rand(rows, patches_per_slot, generator=generator)
    ranks = noise.argsort(dim=1).argsort(dim=1)
    return ranks < count


def tube_mask(batch: int, temporal_slots: int, patches_per_slot: int, ratio: float,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Tube masking: one spatial pattern per clip, repeated in every temporal slot.

    A masked patch is hidden in every frame, so it cannot be copied from a neighbouring frame.
    """
    spatial = _slot_masks(batch, patches_per_slot, ratio, generator)
    return spatial.unsqueeze(1).expand(batch, temporal_slots, patches_per_slot).reshape(batch, -1)


def random_mask(batch: int, temporal_slots: int, patches_per_slot: int, ratio: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Random masking: an independent pattern per temporal slot (same count in every slot)."""
    per_slot = _slot_masks(batch * temporal_slots, patches_per_slot, ratio, generator)
    return per_slot.reshape(batch, temporal_slots * patches_per_slot)


def _ids_where(mask: torch.Tensor, value: bool) -> torch.Tensor:
    counts = (mask == value).sum(dim=1)
    if not bool((counts == counts[0]).all()):
        raise ValueError(f"every row must have the same number of such tokens, got {counts.tolist()}")
    # A stable sort on the key puts the wanted tokens first and keeps them in ascending order,
    # which is the order boolean indexing (x[mask]) uses in the HF model.
    key = (mask != value).to(torch.int8)
    order = torch.sort(key, dim=1, stable=True).indices
    return order[:, : int(counts[0])]


def masked_ids(mask: torch.Tensor) -> torch.Tensor:
    """(B, n_masked) token indices of the masked tokens, ascending."""
    return _ids_where(mask, True)


def visible_ids(mask: torch.Tensor) -> torch.Tensor:
    """(B, n_visible) token indices of the visible tokens, ascending."""
    return _ids_where(mask, False)


def shuffle_ids(mask: torch.Tensor) -> torch.Tensor:
    """(B, N) permutation: visible tokens first, then masked (the decoder's input order)."""
    return torch.cat([visible_ids(mask), masked_ids(mask)], dim=1)


def restore(ids_shuffle: torch.Tensor) -> torch.Tensor:
    """The inverse permutation of `ids_shuffle`: gather(gather(x, shuffle), restore) == x."""
    return ids_shuffle.argsort(dim=1)


def gather_tokens(tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """tokens (B, N, D) -> (B, len(ids), D), row-wise by ids (B, K)."""
    return torch.gather(tokens, 1, ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
