"""The twin-pair study trains a real two-class model: a translation pair is learned quickly (slow: ~15 s)."""

import pytest

pytest.importorskip("transformers", reason="training needs the [export] extra")

from training.config import ModelSpec  # noqa: E402
from training.pair_study import study  # noqa: E402


@pytest.mark.slow
def test_translation_twins_are_told_apart_and_self_twins_are_refused():
    import torch

    torch.set_num_threads(2)
    result = study("moving right", ModelSpec(patch_size=16, tubelet_size=8), epochs=80, clips_per_class=40)
    assert result["pair"] == ("moving right", "moving left")
    assert result["loss"][1] < result["loss"][0]
    assert result["clean"] >= 0.9, result  # 50% would be blind to temporal order
    with pytest.raises(ValueError, match="its own twin"):
        study("no action", ModelSpec(), epochs=1)
