import numpy as np
import pytest

from runtime.artifact import Preprocessing
from runtime.preprocess import FrameError, Preprocessor, resized_size

IMAGENET = dict(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


def _spec(size=32, **kw):
    return Preprocessing(resize_shortest_edge=size, resize_height=None, resize_width=None, crop_height=size,
                         crop_width=size, **{**IMAGENET, **kw})


def _frames(n, height, width, seed=0):
    """Smooth frames (camera-like, not white noise) so resampling differences stay representative."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    import cv2

    return [cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in small]


@pytest.mark.parametrize("hw", [(480, 640), (640, 480), (32, 32), (20, 50)])
def test_resized_size_matches_transformers(hw):
    pytest.importorskip("transformers", reason="reference needs transformers")
    from transformers.image_transforms import get_resize_output_image_size

    image = np.zeros((*hw, 3), np.uint8)
    want = get_resize_output_image_size(image, size=224, default_to_square=False)
    assert resized_size(*hw, _spec(224)) == tuple(want)


# Measured gap to the HF (PIL) processor, in normalized units (1 grey level = 1/255/0.226 = 0.017):
# no resize → identical; a camera-like 2x shrink → ~1 grey level mean; a 7.5x shrink → ~8 grey
# levels mean, because PIL's antialiased bilinear is a triangle filter and INTER_AREA a box one.
@pytest.mark.parametrize("hw, size, mean_bound, max_bound", [
    ((32, 32), 32, 1e-6, 1e-5),
    ((480, 640), 224, 0.03, 0.2),
    ((120, 90), 32, 0.05, 0.3),
    ((240, 320), 32, 0.16, 0.6),
])
def test_matches_the_hf_videomae_processor(hw, size, mean_bound, max_bound):
    pytest.importorskip("PIL", reason="the HF reference processor needs pillow")
    transformers = pytest.importorskip("transformers", reason="reference needs transformers")
    processor = transformers.VideoMAEImageProcessorPil(size={"shortest_edge": size},
                                                       crop_size={"height": size, "width": size}, **{
                                                           "image_mean": IMAGENET["mean"], "image_std": IMAGENET["std"]})
    frames = _frames(2, *hw)
    ours = np.stack([Preprocessor(_spec(size))(f) for f in frames])
    theirs = processor([f[:, :, ::-1] for f in frames], return_tensors="np")["pixel_values"][0]  # HF wants RGB
    assert ours.shape == theirs.shape == (2, 3, size, size)
    diff = np.abs(ours - theirs)
    assert diff.mean() <= mean_bound, diff.mean()
    assert diff.max() <= max_bound, diff.max()


# The whole frame resized to a square (no center crop), as the bundled model sees its camera. A 3.75x
# and a 7.5x shrink take the repeated 2x box halving, then an area step: closer to PIL than one
# fractional INTER_AREA step was (0.063 / 0.156 mean) and 2-4x faster.
@pytest.mark.parametrize("hw, mean_bound, max_bound", [((480, 640), 0.06, 0.4), ((960, 1280), 0.13, 0.6)])
def test_whole_frame_matches_the_hf_processor_without_crop(hw, mean_bound, max_bound):
    pytest.importorskip("PIL", reason="the HF reference processor needs pillow")
    transformers = pytest.importorskip("transformers", reason="reference needs transformers")
    processor = transformers.VideoMAEImageProcessorPil(size={"height": 128, "width": 128}, do_center_crop=False,
                                                       image_mean=IMAGENET["mean"], image_std=IMAGENET["std"])
    spec = Preprocessing(resize_shortest_edge=None, resize_height=128, resize_width=128, crop_height=128,
                         crop_width=128, **IMAGENET)
    frames = _frames(2, *hw)
    ours = np.stack([Preprocessor(spec)(f) for f in frames])
    theirs = processor([f[:, :, ::-1] for f in frames], return_tensors="np")["pixel_values"][0]
    assert ours.shape == theirs.shape == (2, 3, 128, 128)
    diff = np.abs(ours - theirs)
    assert diff.mean() <= mean_bound, diff.mean()
    assert diff.max() <= max_bound, diff.max()


def test_gray_bgra_and_16bit_frames_become_three_channels():
    pre = Preprocessor(_spec(16))
    bgr = _frames(1, 40, 40)[0]
    gray = bgr[:, :, 1]
    assert pre(gray).shape == (3, 16, 16)
    np.testing.assert_allclose(pre(gray)[0] * 0.229 + 0.485, pre(gray)[2] * 0.225 + 0.406, atol=1e-5)
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(pre(bgra), pre(bgr))
    np.testing.assert_allclose(pre(bgr.astype(np.uint16) << 8), pre(bgr), atol=1e-6)


def test_rgb_order_and_normalization():
    pre = Preprocessor(_spec(8, mean=[0.5] * 3, std=[0.5] * 3))
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 2] = 255  # pure red in BGR
    out = pre(frame)
    np.testing.assert_allclose(out[0], 1.0)
    np.testing.assert_allclose(out[1:], -1.0)
    assert out.dtype == np.float32 and out.flags.c_contiguous


def test_small_frames_are_padded_like_hf():
    spec = Preprocessing(resize_shortest_edge=None, resize_height=None, resize_width=None, crop_height=10,
                         crop_width=10, mean=[0] * 3, std=[1] * 3)
    out = Preprocessor(spec)(np.full((6, 8, 3), 255, np.uint8))
    assert out.shape == (3, 10, 10)
    assert out[:, 0].max() == 0 and out[:, 5, 5].min() == 1.0


@pytest.mark.parametrize("bad", [np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((4, 4, 3), np.float32), None])
def test_bad_frames_raise_frame_error(bad):
    with pytest.raises(FrameError):
        Preprocessor(_spec(8))(bad)
