"""The one rule that names a window of frames by a ground-truth timeline (scorer and training)."""

from types import SimpleNamespace as S

import pytest

from runtime.sources.window_truth import window_label

# frames [0, 10) no action, [10, 20) moving left, [20, 40) moving right
TIMELINE = [S(start=0, end=10, label="no action"), S(start=10, end=20, label="moving left"),
            S(start=20, end=40, label="moving right")]


@pytest.mark.parametrize("frames, onset_frames, label", [
    ([0, 2, 4, 6, 8], None, "no action"),
    ([6, 8, 10, 12], None, "moving left"),            # a tie goes to the newest frame's label
    ([4, 6, 8, 10, 12], None, "no action"),
    ([4, 6, 8, 10, 12], 2, "moving left"),            # the newest action fills 2: named at once
    ([4, 6, 8, 10, 12], 3, "no action"),              # ... not yet at 3: the majority rules
    ([8, 12, 16, 20], None, "moving left"),           # three labels: the most frames wins
    ([6, 16, 22, 8], None, "no action"),              # frames in the order shown (a reversed window)
])
def test_window_label(frames, onset_frames, label):
    assert window_label(TIMELINE, frames, onset_frames) == label


def test_a_frame_before_the_timeline_or_an_empty_window_is_refused():
    later = [S(start=5, end=10, label="no action")]
    with pytest.raises(ValueError, match="precedes the timeline"):
        window_label(later, [3, 6])
    with pytest.raises(ValueError, match="at least one frame"):
        window_label(TIMELINE, [])
