"""A bad setting given through the Python API is a TubeletError (one except clause catches every error a
caller can act on, as on the command line) and still a ValueError for callers written against that."""

import pytest

from runtime import StreamRunner, TubeletError
from runtime.clips import ClipBuffer, FrameSampler
from runtime.world import SyntheticStream, render_clip
from testbed.artifacts import make_onnx_artifact

BAD_SETTINGS = {
    "sampler frame_stride": lambda: FrameSampler(frame_stride=0),
    "sampler target_fps": lambda: FrameSampler(target_fps=float("nan")),
    "clip frames": lambda: ClipBuffer(frames=0),
    "clip layout": lambda: ClipBuffer(frames=4, layout="NHWC"),
    "world action": lambda: render_clip("juggling"),
    "world seed": lambda: render_clip("moving left", seed=-1),
    "world frames": lambda: render_clip("moving left", num_frames=0),
    "stream action lengths": lambda: SyntheticStream(seed=1, min_action_s=3.0, max_action_s=1.0),
}


@pytest.mark.parametrize("name", sorted(BAD_SETTINGS))
def test_bad_setting_is_a_tubelet_error_and_a_value_error(name):
    with pytest.raises(TubeletError) as caught:
        BAD_SETTINGS[name]()
    assert isinstance(caught.value, ValueError)
    assert "got" in str(caught.value) or "valid" in str(caught.value)  # names the value it refused


@pytest.mark.parametrize("kwargs, words", [({"mode": "sometimes"}, "mode 'sometimes' unknown"),
                                           ({"sources": []}, "no source given")])
def test_stream_runner_settings(tmp_path, kwargs, words):
    artifact = make_onnx_artifact(tmp_path / "art")
    settings = {"sources": ["synthetic"], **kwargs}
    with pytest.raises(TubeletError, match=words):
        StreamRunner(artifact, settings.pop("sources"), **settings)
