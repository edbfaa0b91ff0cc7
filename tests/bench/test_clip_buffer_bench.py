"""bench_clip_buffer compares the clip buffer with its windows copied out, as the ring made them: the
reference must make the same windows, and the bench must run end to end on a real ONNX Runtime session."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from runtime.clips import ClipBuffer

spec = importlib.util.spec_from_file_location(
    "bench_clip_buffer", Path(__file__).resolve().parents[2] / "bench" / "bench_clip_buffer.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.mark.parametrize("frames, stride", [(4, 1), (4, 2), (3, 3), (8, 2)])
def test_the_copied_windows_are_the_clip_buffers_windows_in_their_own_memory(frames, stride):
    rng = np.random.default_rng(frames * 10 + stride)
    copied, buffer = bench.CopiedWindows(frames, stride), ClipBuffer(frames, stride)
    windows = 0
    for i in range(60):
        frame = rng.random((3, 4, 4), dtype=np.float32)
        want, clip = copied.add(frame, i / 15, i), buffer.add(frame, i / 15, i)
        assert (want is None) == (clip is None)
        if clip is not None:
            np.testing.assert_array_equal(clip.array, want.array)
            assert want.array.flags.owndata and not clip.array.flags.owndata  # a copy against a view
            windows += 1
    assert windows == (60 - frames) // stride + 1


def test_the_bench_runs_both_buffers_on_an_onnx_runtime_session(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from testbed.artifacts import make_onnx_artifact

    artifact = make_onnx_artifact(tmp_path / "a", frames=4, height=32, width=32)
    assert bench.main(["--artifact", str(artifact), "--windows", "6", "--rounds", "2", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| views |" in out and "| copied windows |" in out and "largest logit difference 0.00e+00" in out
