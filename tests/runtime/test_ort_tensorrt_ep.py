"""ONNX Runtime's TensorRT EP: which graph it is given and with which options (no GPU here: the session
is stopped where ONNX Runtime would build it, and the options go through ORT's own normalization)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx", reason="needs onnx to write the FP16 graph")
from onnxruntime.capi.onnxruntime_inference_collection import check_and_normalize_provider_args  # noqa: E402

from runtime.artifact import ArtifactError, describe_file, load_artifact, read_manifest, write_manifest  # noqa: E402
from runtime.backends import BackendError, open_backend  # noqa: E402
from runtime.backends.onnxruntime import provider_options, release, tensorrt_ep_model  # noqa: E402

GPU_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def _with_graphs(folder: Path, fp16=True, int8_fp16=False) -> Path:
    from export.fp16_graph import write_fp16_graph

    manifest = read_manifest(folder)
    if fp16:
        details = write_fp16_graph(folder / "model.onnx", folder / "model.fp16.onnx")
        manifest.files["model.fp16.onnx"] = describe_file(folder / "model.fp16.onnx", "onnx", precision="fp16",
                                                          details=details)
    if int8_fp16:  # an INT8 graph and the TensorRT one beside it (content is irrelevant to the choice)
        for name, details in (("model.int8.onnx", {}), ("model.int8.fp16.onnx", {"compute": "fp16"})):
            shutil.copyfile(folder / "model.onnx", folder / name)
            manifest.files[name] = describe_file(folder / name, "onnx", precision="int8", details=details)
    write_manifest(folder, manifest)
    return folder


class _Stopped(Exception):
    """Raised where ONNX Runtime would start building TensorRT engines."""


@pytest.fixture
def session_calls(monkeypatch):
    calls = []

    def stop_at_session(path, sess_options=None, providers=None, **_):
        calls.append((Path(path), providers))
        raise _Stopped("stopped before the build")

    monkeypatch.setattr(ort, "get_available_providers", lambda: list(GPU_PROVIDERS))
    monkeypatch.setattr(ort, "InferenceSession", stop_at_session)
    return calls


def _opened(artifact, precision, calls):
    with pytest.raises(BackendError, match="stopped before the build"):
        open_backend(artifact, "tensorrt-ep", precision=precision)
    path, providers = calls[-1]
    names, options = check_and_normalize_provider_args(providers, None, GPU_PROVIDERS)  # ORT's own construction
    return path.name, dict(zip(names, options))


def test_fp16_gives_the_tensorrt_ep_the_fp16_graph(onnx_artifact, session_calls):
    artifact = load_artifact(_with_graphs(onnx_artifact))
    name, options = _opened(artifact, "fp16", session_calls)
    assert name == "model.fp16.onnx"
    trt = options["TensorrtExecutionProvider"]
    assert trt["trt_engine_cache_path"] == str(onnx_artifact / "trt_cache")
    assert trt["trt_profile_max_shapes"] == "pixel_values:8x4x3x32x32"
    assert trt["trt_timing_cache_path"] == str(onnx_artifact / "trt_cache")  # this ORT is >= 1.17
    assert list(options) == GPU_PROVIDERS


def test_fp32_and_int8_keep_their_graphs(onnx_artifact, session_calls):
    artifact = load_artifact(_with_graphs(onnx_artifact, int8_fp16=True))
    assert _opened(artifact, "fp32", session_calls)[0] == "model.onnx"
    name, options = _opened(artifact, "int8", session_calls)
    assert name == "model.int8.onnx"  # the TensorRT builder's model.int8.fp16.onnx is not the EP's
    assert options["TensorrtExecutionProvider"]["trt_int8_enable"] == "True"


def test_the_fp16_graph_is_hash_checked_before_onnx_runtime_sees_it(onnx_artifact, session_calls):
    folder = _with_graphs(onnx_artifact)
    artifact = load_artifact(folder)
    data = (folder / "model.fp16.onnx").read_bytes()
    (folder / "model.fp16.onnx").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ArtifactError, match="model.fp16.onnx"):
        open_backend(artifact, "tensorrt-ep", precision="fp16")
    assert session_calls == []


def test_timing_cache_path_only_where_onnx_runtime_has_it(onnx_artifact, session_calls, monkeypatch):
    artifact = load_artifact(_with_graphs(onnx_artifact))
    old = provider_options(artifact, "model.fp16.onnx", ort_version="1.16.3")["TensorrtExecutionProvider"]
    new = provider_options(artifact, "model.fp16.onnx", ort_version="1.17.0")["TensorrtExecutionProvider"]
    assert "trt_timing_cache_path" not in old and old["trt_timing_cache_enable"] is True
    assert new["trt_timing_cache_path"] == str(onnx_artifact / "trt_cache")
    monkeypatch.setattr(ort, "__version__", "1.16.3")  # the ORT JetPack 6's wheels ship
    assert "trt_timing_cache_path" not in _opened(artifact, "fp16", session_calls)[1]["TensorrtExecutionProvider"]
    assert release("1.20.0+cu124") == (1, 20) and release("unknown") == (0, 0)


def test_an_artifact_without_the_fp16_graph_falls_back_and_says_why(onnx_artifact, session_calls):
    artifact = load_artifact(onnx_artifact)
    name, note = tensorrt_ep_model(artifact.manifest, "fp16")
    assert name == "model.onnx" and "re-export" in note and "strongly typed" in note
    assert _opened(artifact, "fp16", session_calls)[0] == "model.onnx"
    assert tensorrt_ep_model(artifact.manifest, "fp32") == ("model.onnx", None)
