"""The crop geometry bench/bench_stream_gap.py splits windows by (what the model's view holds; testbed/view.py)."""

import pytest

from runtime.artifact import Preprocessing
from testbed.view import crop_box


def _spec(shortest, crop):
    return Preprocessing(resize_shortest_edge=shortest, resize_height=None, resize_width=None,
                         crop_height=crop, crop_width=crop, mean=[0.5] * 3, std=[0.5] * 3)


def test_center_crop_of_a_4_3_frame_keeps_its_central_square():
    # 320x240 resized to 85x64, cropped to 64x64: x from 1/6 to 7/6 of a short side.
    assert crop_box(_spec(64, 64), 240, 320) == pytest.approx((1 / 6, 0.0, 7 / 6, 1.0))
    assert crop_box(_spec(64, 64), 320, 240) == pytest.approx((0.0, 1 / 6, 1.0, 7 / 6))  # portrait


def test_square_frame_and_smaller_crop():
    assert crop_box(_spec(64, 64), 240, 240) == pytest.approx((0.0, 0.0, 1.0, 1.0))
    # HF VideoMAE: shortest edge 224, crop 224; a 256 resize with a 224 crop keeps 7/8 of the side.
    assert crop_box(_spec(256, 224), 240, 240) == pytest.approx((1 / 16, 1 / 16, 15 / 16, 15 / 16))


def test_resize_without_crop_keeps_everything():
    spec = Preprocessing(resize_shortest_edge=None, resize_height=64, resize_width=64, crop_height=64,
                         crop_width=64, mean=[0.5] * 3, std=[0.5] * 3)
    assert crop_box(spec, 240, 320) == pytest.approx((0.0, 0.0, 4 / 3, 1.0))
