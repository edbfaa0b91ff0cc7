"""A model trained at a small input warm-starts one at k times the pixels and patch side, and the
full-frame view: training's preprocessing, the saved processor config and export agree."""

import numpy as np
import pytest
import torch

from runtime.preprocess import Preprocessor
from runtime.world import ACTIONS
from training.config import ModelSpec
from training.data import make_processor, pixel_values, runtime_preprocessing
from training.finetune import load_weights, new_classifier, save_bundle

SMALL = ModelSpec(num_frames=4, image_size=16, patch_size=4, tubelet_size=2, hidden_size=32, num_layers=2,
                  num_heads=2, intermediate_size=64, decoder_hidden_size=16, decoder_layers=1, decoder_heads=2)
LARGE = ModelSpec(**{**SMALL.as_dict(), "image_size": 32, "patch_size": 8, "full_frame": True})


@torch.no_grad()
def test_warm_start_at_twice_the_pixels_computes_what_the_small_model_computed(tmp_path):
    small = new_classifier(SMALL, ACTIONS[:3], seed=1)
    save_bundle(small, tmp_path / "small", SMALL)
    large = new_classifier(LARGE, ACTIONS[:3], seed=2)
    assert "spread" in load_weights(large, tmp_path / "small", LARGE)
    x = torch.randn(2, 4, 3, 16, 16)
    upsampled = x.repeat_interleave(2, -1).repeat_interleave(2, -2)  # each pixel now 2x2
    want = small.eval()(pixel_values=x).logits
    got = large.eval()(pixel_values=upsampled).logits
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_warm_start_refuses_a_different_token_grid(tmp_path):
    save_bundle(new_classifier(SMALL, ACTIONS[:3]), tmp_path / "small", SMALL)
    other = ModelSpec(**{**SMALL.as_dict(), "image_size": 32})  # same patch, 4x the tokens
    with pytest.raises(ValueError, match="token grid"):
        load_weights(new_classifier(other, ACTIONS[:3]), tmp_path / "small", other)


def test_full_frame_keeps_the_whole_wide_frame_and_the_saved_config_says_so(tmp_path):
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    pre = Preprocessor(runtime_preprocessing(16, full_frame=True))
    assert pre(frame).shape == (3, 16, 16)
    # the left and right columns the center crop drops now reach the model: a mark there changes it
    marked = frame.copy()
    marked[:, :3] = 255
    assert not np.array_equal(pre(marked), pre(frame))
    cropping = Preprocessor(runtime_preprocessing(16))
    np.testing.assert_array_equal(cropping(marked), cropping(frame))
    got = pixel_values(frame[None, None], 16, full_frame=True)[0, 0].numpy()
    np.testing.assert_array_equal(got, pre(frame))
    config = make_processor(16, full_frame=True).to_dict()
    assert config["do_center_crop"] is False and config["size"] == {"height": 16, "width": 16}


def test_export_of_a_full_frame_bundle_preprocesses_as_training_did(tmp_path):
    from export.pipeline import ExportOptions, build_artifact
    from runtime.artifact import load_artifact

    save_bundle(new_classifier(SMALL, ACTIONS[:3]), tmp_path / "small", ModelSpec(**{**SMALL.as_dict(), "full_frame": True}))
    build_artifact(ExportOptions(model=str(tmp_path / "small"), output=tmp_path / "artifact"), log=lambda _: None)
    assert load_artifact(tmp_path / "artifact").manifest.preprocessing == runtime_preprocessing(16, full_frame=True)


@torch.no_grad()
def test_a_new_token_grid_loads_every_weight_only_when_asked_for(tmp_path):
    small = new_classifier(SMALL, ACTIONS[:3], seed=1)
    save_bundle(small, tmp_path / "small", SMALL)
    wider = ModelSpec(**{**SMALL.as_dict(), "image_size": 24})  # same 4 px patches, 6x6 tokens a slot
    model = new_classifier(wider, ACTIONS[:3], seed=2)
    how = load_weights(model, tmp_path / "small", wider, new_grid=True)
    assert "4x4 -> 6x6" in how
    for name, value in small.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, msg=name)
    assert model.eval()(pixel_values=torch.randn(1, 4, 3, 24, 24)).logits.shape == (1, 3)
    other = ModelSpec(**{**SMALL.as_dict(), "image_size": 24, "patch_size": 8})  # a new patch side is not a new grid
    with pytest.raises(ValueError, match="token grid"):
        load_weights(new_classifier(other, ACTIONS[:3]), tmp_path / "small", other, new_grid=True)


COARSE_TUBELET = ModelSpec(**{**SMALL.as_dict(), "num_frames": 8, "tubelet_size": 4})
FINE_TUBELET = ModelSpec(**{**COARSE_TUBELET.as_dict(), "tubelet_size": 2})


@torch.no_grad()
def test_a_finer_tubelet_warm_starts_so_a_still_scene_embeds_as_before_and_only_when_asked_for(tmp_path):
    coarse = new_classifier(COARSE_TUBELET, ACTIONS[:3], seed=1)
    save_bundle(coarse, tmp_path / "coarse", COARSE_TUBELET)
    with pytest.raises(ValueError, match="init-new-grid"):
        load_weights(new_classifier(FINE_TUBELET, ACTIONS[:3]), tmp_path / "coarse", FINE_TUBELET)
    fine = new_classifier(FINE_TUBELET, ACTIONS[:3], seed=2)
    how = load_weights(fine, tmp_path / "coarse", FINE_TUBELET, new_grid=True)
    assert "2 -> 4 temporal slots" in how
    still = torch.randn(2, 1, 3, 16, 16).expand(2, 8, 3, 16, 16).contiguous()
    per_slot = 16  # 4 x 4 patches
    want = coarse.videomae.embeddings.patch_embeddings(still)  # (2, 2 slots * 16, hidden)
    got = fine.videomae.embeddings.patch_embeddings(still)  # (2, 4 slots * 16, hidden)
    for slot in range(4):
        torch.testing.assert_close(got[:, slot * per_slot:(slot + 1) * per_slot], want[:, :per_slot])
    # every other weight is the coarse model's, and the fine model runs on the clip
    for name, value in coarse.state_dict().items():
        if not name.endswith("projection.weight"):
            torch.testing.assert_close(fine.state_dict()[name], value, msg=name)
    assert fine.eval()(pixel_values=still).logits.shape == (2, 3)
    # a tubelet that is no whole fraction of the saved one, or another patch side, is refused
    odd = ModelSpec(**{**COARSE_TUBELET.as_dict(), "tubelet_size": 8})
    with pytest.raises(ValueError, match="finer tubelet"):
        load_weights(new_classifier(odd, ACTIONS[:3]), tmp_path / "coarse", odd, new_grid=True)


DEEPER = ModelSpec(**{**SMALL.as_dict(), "num_layers": SMALL.num_layers + 2})


@torch.no_grad()
def test_a_deeper_model_warm_started_with_identity_layers_computes_what_the_folder_computed(tmp_path):
    shallow = new_classifier(SMALL, ACTIONS[:3], seed=1)
    save_bundle(shallow, tmp_path / "shallow", SMALL)
    deep = new_classifier(DEEPER, ACTIONS[:3], seed=2)
    how = load_weights(deep, tmp_path / "shallow", DEEPER, new_layers=True)
    assert "2 saved layers, then 2 new ones as the identity" in how
    x = torch.randn(2, 4, 3, 16, 16)
    torch.testing.assert_close(deep.eval()(pixel_values=x).logits, shallow.eval()(pixel_values=x).logits,
                               atol=1e-5, rtol=1e-5)
    # the new layers are not dead: their inner weights stay random, so the zeroed projections get a gradient
    new_layer = deep.videomae.encoder.layer[SMALL.num_layers]
    assert new_layer.intermediate.dense.weight.abs().sum() > 0
    with torch.enable_grad():
        deep.train()(pixel_values=x, labels=torch.tensor([0, 1])).loss.backward()
    assert new_layer.output.dense.weight.grad.abs().sum() > 0
    assert new_layer.attention.output.dense.weight.grad.abs().sum() > 0


def test_a_deeper_warm_start_is_asked_for_by_name_and_never_drops_layers(tmp_path):
    save_bundle(new_classifier(SMALL, ACTIONS[:3]), tmp_path / "shallow", SMALL)
    with pytest.raises(ValueError, match="--init-new-layers"):
        load_weights(new_classifier(DEEPER, ACTIONS[:3]), tmp_path / "shallow", DEEPER)
    save_bundle(new_classifier(DEEPER, ACTIONS[:3]), tmp_path / "deep", DEEPER)
    with pytest.raises(ValueError, match="only a model with fewer layers"):
        load_weights(new_classifier(SMALL, ACTIONS[:3]), tmp_path / "deep", SMALL, new_layers=True)


@torch.no_grad()
def test_identity_layers_combine_with_the_patch_spread(tmp_path):
    small = new_classifier(SMALL, ACTIONS[:3], seed=1)
    save_bundle(small, tmp_path / "small", SMALL)
    large_deep = ModelSpec(**{**LARGE.as_dict(), "num_layers": SMALL.num_layers + 1})
    model = new_classifier(large_deep, ACTIONS[:3], seed=2)
    how = load_weights(model, tmp_path / "small", large_deep, new_layers=True)
    assert "spread" in how and "then 1 new one as the identity" in how
    x = torch.randn(1, 4, 3, 16, 16)
    upsampled = x.repeat_interleave(2, -1).repeat_interleave(2, -2)
    torch.testing.assert_close(model.eval()(pixel_values=upsampled).logits, small.eval()(pixel_values=x).logits,
                               atol=1e-5, rtol=1e-5)
