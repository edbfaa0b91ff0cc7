import numpy as np
import pytest

from runtime.clips import ClipBuffer, FrameSampler


def _frame(i):
    return np.full((3, 2, 2), i, np.float32)


def test_windows_fall_due_every_stride_and_hold_the_last_frames_in_order():
    buffer = ClipBuffer(frames=4, window_stride=2)
    clips = [c for i in range(10) if (c := buffer.add(_frame(i), timestamp=i * 0.1, index=i)) is not None]
    assert [c.newest_index for c in clips] == [3, 5, 7, 9]
    last = clips[-1]
    assert [int(f[0, 0, 0]) for f in last.array] == [6, 7, 8, 9]
    assert (last.first_index, last.first_timestamp, last.newest_timestamp) == (6, pytest.approx(0.6), pytest.approx(0.9))
    assert [c.window_index for c in clips] == [0, 1, 2, 3]


@pytest.mark.parametrize("frames, stride, spare", [(4, 2, 1), (4, 1, 3), (3, 3, 2), (1, 1, 1), (8, 2, None)])
def test_queued_windows_keep_their_frames_while_the_buffer_moves_on(frames, stride, spare):
    # A window is a view of the buffer's rows, not a copy: every window handed out, even ones
    # still held (queued) after many more frames and several moves to a fresh buffer, must still
    # show exactly its own frames, and a reset must not let new frames overwrite it.
    buffer = ClipBuffer(frames=frames, window_stride=stride, spare=spare)
    held, index = [], 0
    for chunk in (40, 3, 25):
        for _ in range(chunk):
            clip = buffer.add(_frame(index), timestamp=index * 0.1, index=index)
            index += 1
            if clip is not None:
                held.append(clip)
        buffer.reset()  # a stream gap: the next window waits for a whole clip of new frames
    assert held
    for clip in held:
        want = list(range(clip.newest_index - frames + 1, clip.newest_index + 1))
        assert [int(f[0, 0, 0]) for f in clip.array] == want == list(clip.frame_indices)
        assert (clip.first_index, clip.first_timestamp) == (want[0], pytest.approx(want[0] * 0.1))
    # after each reset, the first window needs a whole clip of frames sampled after it
    starts = {40, 43}
    assert all(not (c.first_index < s <= c.newest_index) for c in held for s in starts)


def test_a_buffer_no_window_views_is_reused_and_one_a_window_views_is_not():
    # A fresh buffer per move costs a page fault per 4 KB and its release (the live path's p95):
    # windows dropped at once leave two buffers in turn; a held window's buffer is never rewritten.
    buffer = ClipBuffer(frames=4, window_stride=1, spare=4)
    used = set()
    for i in range(100):
        buffer.add(_frame(i), i, i)  # the window is dropped at once, as after its inference
        used.add(id(buffer._buffer))
    assert len(used) == 2
    held = buffer.add(_frame(100), 100, 100)
    for i in range(101, 140):
        clip = buffer.add(_frame(i), i, i)
        assert not np.shares_memory(clip.array, held.array) or i - held.newest_index < 4
    assert [int(f[0, 0, 0]) for f in held.array] == [97, 98, 99, 100]


def test_windows_are_read_only_views_not_copies():
    buffer = ClipBuffer(frames=4, window_stride=1)
    clips = [c for i in range(6) if (c := buffer.add(_frame(i), i, i)) is not None]
    assert np.shares_memory(clips[0].array, clips[1].array)  # no copy per window
    with pytest.raises(ValueError, match="read-only"):
        clips[0].array[0] = 0  # windows overlap: one consumer's write would change the next window


def test_ncthw_layout_moves_time_after_channels():
    buffer = ClipBuffer(frames=3, layout="NCTHW")
    clip = [buffer.add(_frame(i), i, i) for i in range(3)][-1]
    assert clip.array.shape == (3, 3, 2, 2)
    assert list(clip.array[0, :, 0, 0]) == [0, 1, 2]


def test_frame_stride_preprocesses_only_sampled_frames():
    calls = []
    buffer = ClipBuffer(frames=2, frame_stride=3)
    for i in range(9):
        buffer.offer(i, i * 0.1, i, lambda image: calls.append(image) or _frame(image))
    assert calls == [0, 3, 6]


def test_target_fps_samples_by_timestamp_with_jitter_and_drops():
    sampler = FrameSampler(target_fps=10.0)
    # A 30 fps camera with jitter and a 200 ms hole: expect about one frame per 100 ms, none made up.
    stamps = [i / 30 + (0.004 if i % 2 else -0.004) for i in range(30) if not 12 <= i < 18]
    taken = [t for t in stamps if sampler.accept(t)]
    gaps = np.diff(taken)
    assert 0.07 < gaps.min() and gaps.max() < 0.2 + 0.1 + 0.01  # the hole plus one period at most
    assert 7 <= len(taken) <= 9


def test_bad_arguments():
    with pytest.raises(ValueError):
        ClipBuffer(frames=0)
    with pytest.raises(ValueError):
        ClipBuffer(frames=2, layout="NHWC")
    with pytest.raises(ValueError):
        FrameSampler(target_fps=0)
    with pytest.raises(ValueError, match="spare"):
        ClipBuffer(frames=2, spare=0)
    buffer = ClipBuffer(frames=2)
    buffer.add(_frame(0), 0, 0)
    with pytest.raises(ValueError, match="shape"):
        buffer.add(np.zeros((3, 4, 4), np.float32), 1, 1)


def _bounded(work, seconds=10.0):
    """Run work() in a thread; fail (instead of hanging the suite) if it does not return in time."""
    import threading

    out = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert out, f"did not return within {seconds} s"
    return out[0]


@pytest.mark.parametrize("fps", [1e6, 1e20, 1e300, 1.7e308])
@pytest.mark.parametrize("start", [0.0, 1e6, 3e9])  # boot, days of uptime, a Unix-epoch clock
def test_a_period_below_the_timestamps_precision_takes_every_frame_without_spinning(fps, start):
    sampler = FrameSampler(target_fps=fps)
    taken = _bounded(lambda: [sampler.accept(start + i / 30) for i in range(300)])
    assert all(taken)  # far above the camera's rate: every frame, as a faster sampler would
    # A repeated timestamp (a driver stamping two frames alike) does not stall it either.
    assert _bounded(lambda: [sampler.accept(start + 10.0) for _ in range(3)])[0]


@pytest.mark.parametrize("fps", [0.0, -1.0, float("nan"), float("inf"), float("-inf")])
def test_target_fps_must_be_finite_and_positive(fps):
    with pytest.raises(ValueError, match="finite number > 0"):
        FrameSampler(target_fps=fps)


def test_timestamp_grid_matches_the_slots():
    sampler = FrameSampler(target_fps=10.0)
    assert [sampler.accept(i / 30) for i in range(12)] == [True, False, False] * 4
    sampler = FrameSampler(target_fps=7.0)  # 30 fps into 7: one frame per slot, slots missed are skipped
    taken = [i for i in range(300) if sampler.accept(i / 30)]
    assert len(taken) == pytest.approx(70, abs=1)
    assert max(b - a for a, b in zip(taken, taken[1:])) <= 5
