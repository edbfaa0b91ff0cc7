"""open_model is the one way an entry point opens an artifact, the remote Triton backend included."""

import importlib.util

import pytest

from runtime.backends import BackendError
from runtime.common.hints import command_line
from runtime.model import ModelError, open_model
from tests.fixtures.videotext_toy import make_toy_videotext


@pytest.mark.parametrize("options, message", [
    (dict(backend="triton"), r"backend='triton' and server='URL' go together"),
    (dict(backend="cpu", server="grpc://127.0.0.1:9"), r"backend='triton' and server='URL' go together"),
    (dict(backend="triton", server="grpc://127.0.0.1:9", threads=2), r"threads apply to in-process backends"),
    (dict(backend="triton", server="grpc://127.0.0.1:9", precision="int8"), r"precision apply to in-process"),
])
def test_triton_options_are_checked_where_every_entry_point_opens(onnx_artifact, options, message):
    with pytest.raises(ModelError, match=message):
        open_model(onnx_artifact, **options)


def test_triton_refuses_a_video_text_artifact_in_the_callers_syntax(tmp_path):
    toy = make_toy_videotext(tmp_path / "vt")
    with command_line(), pytest.raises(ModelError, match=r"--backend triton serves classification artifacts"):
        open_model(toy, "triton", server="grpc://127.0.0.1:9")


def test_an_unreachable_server_is_one_line(onnx_artifact):
    if importlib.util.find_spec("tritonclient") is None:
        pytest.skip("needs the [triton] extra (tritonclient)")
    with pytest.raises(BackendError, match="cannot reach the Triton server at grpc://127.0.0.1:9") as raised:
        open_model(onnx_artifact, "triton", server="grpc://127.0.0.1:9", server_timeout=1.0)
    assert "\n" not in str(raised.value)
