"""The one rule that names a window of frames by a ground-truth timeline (scorer and training)."""

from types import SimpleNamespace as S

import numpy as np
import pytest

from runtime.sources.window_truth import Segments, straddles, window_label

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


@pytest.mark.parametrize("frames, sees_a_change", [
    ([2, 4, 6, 8], False),        # inside the first segment
    ([12, 14, 16, 18], False),    # inside the second
    ([8, 10, 12], True),          # its newest frames in the new segment
    ([9, 11], True),              # one frame each side
    ([6, 12, 18, 24], True),      # three segments
])
def test_straddles_is_whether_a_windows_oldest_and_newest_frames_lie_in_different_segments(frames, sees_a_change):
    assert straddles(TIMELINE, np.array(frames)) is sees_a_change
    with pytest.raises(ValueError, match="at least one frame"):
        straddles(TIMELINE, [])


def test_segments_index_each_frame_once_built():
    segments = Segments(TIMELINE)
    assert [segments.index(f) for f in (-1, 0, 9, 10, 19, 20, 39)] == [-1, 0, 0, 1, 1, 2, 2]
    assert segments.index(np.int64(12)) == 1  # window rows are numpy integers
    # the one-window functions are the same rule
    for frames in ([2, 4, 6], [8, 10, 12], [4, 6, 8, 10, 12], [6, 16, 22, 8]):
        assert segments.label(frames) == window_label(TIMELINE, frames)
        assert segments.label(frames, 2) == window_label(TIMELINE, frames, 2)
        assert segments.straddles(frames) is straddles(TIMELINE, frames)
