"""Probes score separable features perfectly and order-blind features at chance; the
reconstruction figure comes out with its three rows."""

import cv2
import numpy as np
import pytest
import torch

from training.config import ModelSpec
from training.figure import reconstruct, save_figure
from training.pretrain import new_pretraining_model
from training.probes import features, linear_probe, twin_probe

TINY = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=32,
                 num_layers=1, num_heads=2, intermediate_size=64, decoder_hidden_size=16,
                 decoder_layers=1, decoder_heads=2)
ACTIONS = ("no action", "left", "right")
REVERSED = {"no action": "no action", "left": "right", "right": "left"}


def _separable(n, seed):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n)
    x = rng.normal(size=(3 * n, 8)) * 0.1
    x[np.arange(3 * n), y] += 3.0
    return torch.tensor(x, dtype=torch.float32), y


def test_linear_probe_separates_separable_features():
    (xtr, ytr), (xte, yte) = _separable(20, 0), _separable(20, 1)
    assert linear_probe(xtr, ytr, xte, yte) == 1.0
    assert twin_probe(xtr, ytr, xte, yte, ACTIONS, REVERSED) == 1.0


def test_twin_probe_is_at_chance_on_order_blind_features():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 200)
    x = torch.tensor(rng.normal(size=(600, 4)), dtype=torch.float32)  # carries no label
    accuracy = twin_probe(x[::2], y[::2], x[1::2], y[1::2], ACTIONS, REVERSED)
    assert 0.35 < accuracy < 0.65


@pytest.mark.parametrize("pixel_loss", ["normalized", "raw"])
def test_features_and_reconstruction_figure(tmp_path, pixel_loss):
    model = new_pretraining_model(TINY, seed=0, pixel_loss=pixel_loss)
    clip = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    assert features(model.videomae, clip[None], 16).shape == (1, 32)
    videos = reconstruct(model, clip, TINY, "tube", 0.75)
    original, hidden, filled = videos
    np.testing.assert_allclose(original, clip[..., ::-1] / 255.0, atol=1e-5)
    # visible patches are copied into the reconstruction, masked ones are gray in the input row
    assert np.isclose(hidden, 0.5).mean() > 0.5
    assert np.isclose(filled, original, atol=1e-5).mean() > 0.2
    path = save_figure(list(zip(["input", "mask", "reconstruction"], videos)), tmp_path / "f.png",
                       frames=4)
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] >= 3 * 32


def test_token_geometry_tells_collapsed_tokens_from_spread_ones():
    import torch

    from training.probes import effective_rank, geometry_of

    generator = torch.Generator().manual_seed(0)
    spread = torch.randn(6, 32, 16, generator=generator)
    one_vector = torch.randn(6, 1, 16, generator=generator).expand(6, 32, 16).contiguous()
    wide, collapsed = geometry_of(spread), geometry_of(one_vector)
    assert collapsed["token_cosine"] > 0.999 and collapsed["token_rank"] == 0.0
    assert wide["token_cosine"] < 0.4 and wide["token_rank"] > 10
    # two directions, equally used, have effective rank 2; one direction has 1
    line = torch.tensor([[1.0, 0.0], [-1.0, 0.0]] * 4)
    plane = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]] * 2)
    assert abs(effective_rank(line) - 1.0) < 1e-6 and abs(effective_rank(plane) - 2.0) < 1e-6
    assert abs(wide["clip_rank"] - effective_rank(spread.mean(1))) < 1e-9
