"""What part of a camera frame the model sees: the crop geometry the stream benchmarks split windows by."""

from __future__ import annotations


def crop_box(spec, height: int, width: int) -> tuple[float, float, float, float]:
    """The part of the frame the preprocessing keeps: (left, top, right, bottom) in short sides."""
    short = min(height, width)
    if spec.resize_shortest_edge is None:  # resized straight to the crop: the whole frame
        return 0.0, 0.0, width / short, height / short
    keep_w = min(spec.crop_width / spec.resize_shortest_edge, width / short)
    keep_h = min(spec.crop_height / spec.resize_shortest_edge, height / short)
    cx, cy = width / short / 2, height / short / 2
    return cx - keep_w / 2, cy - keep_h / 2, cx + keep_w / 2, cy + keep_h / 2
