"""TensorRT backend: provenance verdicts, hash refusal, backend choice; a real engine where TensorRT exists."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from runtime.artifact import describe_file, load_artifact, read_manifest, write_manifest
from runtime.backends import BackendError, MissingDependencyError, open_backend
from runtime.backends.tensorrt.provenance import Machine, check_compatibility, same_release

ORIN = Machine(tensorrt="10.3.0", gpu="Orin", compute_capability="8.7", dla_cores=2)
BUILT_ON_ORIN = {"tensorrt": "10.3.0.30", "gpu": "Orin", "compute_capability": "8.7"}


def test_engine_from_this_machine_is_accepted():
    verdict = check_compatibility(BUILT_ON_ORIN, ORIN)
    assert verdict.ok and not verdict.reasons and not verdict.warnings


@pytest.mark.parametrize("here, expected", [("10.3.1", "TensorRT 10.3.0.30"), ("8.6.2", "TensorRT 10.3.0.30"),
                                            ("10.13.0", "release that built them")])
def test_other_tensorrt_release_is_refused_with_rebuild_hint(here, expected):
    verdict = check_compatibility(BUILT_ON_ORIN, Machine(here, "Orin", "8.7"))
    assert not verdict.ok and expected in verdict.reasons[0]
    message = verdict.message("model.fp16.engine")
    assert "tubelet-engine --artifact" in message and "--precision fp16" in message and "onnxruntime" in message


def test_version_compatible_engine_loads_on_later_same_major_only():
    built = {**BUILT_ON_ORIN, "version_compatible": True}
    assert check_compatibility(built, Machine("10.7.0", "Orin", "8.7")).ok
    assert not check_compatibility(built, Machine("10.2.0", "Orin", "8.7")).ok
    assert not check_compatibility(built, Machine("11.0.0", "Orin", "8.7")).ok


def test_other_gpu_architecture_is_refused_unless_hardware_compatible():
    desktop = Machine("10.3.0", "NVIDIA RTX A4000", "8.6")
    verdict = check_compatibility(BUILT_ON_ORIN, desktop)
    assert not verdict.ok and "compute capability 8.7" in verdict.reasons[0]
    portable = {**BUILT_ON_ORIN, "hardware_compatibility": "ampere+"}
    assert check_compatibility(portable, desktop).ok
    assert not check_compatibility(portable, Machine("10.3.0", "Tesla T4", "7.5")).ok


def test_same_architecture_other_model_is_a_warning_not_a_refusal():
    verdict = check_compatibility({**BUILT_ON_ORIN, "gpu": "Orin NX"}, ORIN)
    assert verdict.ok and "Orin NX" in verdict.warnings[0]


def test_missing_provenance_and_missing_dla_are_refused():
    assert not check_compatibility({}, ORIN).ok
    verdict = check_compatibility({**BUILT_ON_ORIN, "dla_core": 1}, Machine("10.3.0", "Orin", "8.7", dla_cores=0))
    assert not verdict.ok and "DLA core 1" in verdict.reasons[0]


def test_release_comparison_ignores_build_number_only():
    assert same_release("8.6.1.6", "8.6.1") and not same_release("8.6.1", "8.6.2")


def _with_engine(folder, payload=b"not a real plan", **details):
    (folder / "model.fp16.engine").write_bytes(payload)
    manifest = read_manifest(folder)
    manifest.files["model.fp16.engine"] = describe_file(folder / "model.fp16.engine", "engine", precision="fp16",
                                                        details={**BUILT_ON_ORIN, **details})
    write_manifest(folder, manifest)
    return load_artifact(folder)


def test_tensorrt_backend_without_tensorrt_names_the_extra(onnx_artifact, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    artifact = _with_engine(onnx_artifact)
    with pytest.raises(MissingDependencyError, match=r"tubelet\[trt-cu12\].*tubelet\[trt-cu13\].*python3-libnvinfer"):
        open_backend(artifact, backend="tensorrt")


def test_auto_falls_back_to_onnxruntime_and_says_why(onnx_artifact, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setitem(sys.modules, "openvino", None)  # without an NVIDIA provider auto would pick OpenVINO
    artifact = _with_engine(onnx_artifact)
    with open_backend(artifact, backend="auto") as backend:
        assert backend.name == "onnxruntime" and "TensorRT engine skipped" in backend.notes[0]
        clip = np.zeros(artifact.manifest.input.shape(2), np.float32)
        assert backend.infer({"pixel_values": clip})["logits"].shape == (2, 3)


def test_artifact_without_engine_refuses_tensorrt_backend(onnx_artifact):
    with pytest.raises(BackendError, match="no .*TensorRT engine"):
        open_backend(load_artifact(onnx_artifact), backend="tensorrt")


def test_tampered_engine_bytes_are_refused_before_deserialization(onnx_artifact):
    from runtime.backends.tensorrt.runner import EngineMismatchError, _verified_bytes

    artifact = _with_engine(onnx_artifact)
    entry = artifact.manifest.files["model.fp16.engine"]
    assert _verified_bytes(artifact, "model.fp16.engine", entry) == b"not a real plan"
    (onnx_artifact / "model.fp16.engine").write_bytes(b"not a real plaN")  # same size, other bytes
    with pytest.raises(EngineMismatchError, match="refusing to deserialize"):
        _verified_bytes(artifact, "model.fp16.engine", entry)


def test_gpu_provider_options_keep_caches_in_the_artifact(onnx_artifact):
    from runtime.backends.onnxruntime import provider_options

    artifact = load_artifact(onnx_artifact)
    options = provider_options(artifact, "model.onnx", fp16=True)
    trt = options["TensorrtExecutionProvider"]
    assert trt["trt_fp16_enable"] and trt["trt_layer_norm_fp32_fallback"] and trt["trt_engine_cache_enable"]
    assert trt["trt_engine_cache_path"] == str(onnx_artifact / "trt_cache") == trt["trt_timing_cache_path"]
    assert trt["trt_profile_max_shapes"] == "pixel_values:8x4x3x32x32"
    assert options["CUDAExecutionProvider"]["device_id"] == 0


def test_unknown_backend_lists_the_choices(onnx_artifact):
    with pytest.raises(BackendError, match="tensorrt, openvino, onnxruntime"):
        open_backend(load_artifact(onnx_artifact), backend="tpu")


def test_hardware_compatible_engine_is_refused_on_jetson_and_platforms_do_not_mix():
    portable = {**BUILT_ON_ORIN, "hardware_compatibility": "ampere+", "platform": "x86_64"}
    jetson = Machine("10.3.0", "Orin", "8.7", platform="jetson")
    verdict = check_compatibility(portable, jetson)
    assert not verdict.ok and any("JetPack has no hardware compatibility" in r for r in verdict.reasons)
    assert any("built on x86_64, this machine is jetson" in r for r in verdict.reasons)
    assert check_compatibility({**BUILT_ON_ORIN, "platform": "jetson"}, jetson).ok



def test_build_engine_without_tensorrt_says_why_and_leaves_the_artifact(onnx_artifact, monkeypatch):
    from runtime.backends.tensorrt.artifact_engines import build_on_first_launch
    from runtime.stream import build_parser

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    artifact = load_artifact(onnx_artifact)
    before = sorted(p.name for p in onnx_artifact.iterdir())
    lines = []
    assert build_on_first_launch(artifact, "fp16", lines.append) is artifact
    assert len(lines) == 1 and lines[0].startswith("no engine built: TensorRT is not importable here")
    assert sorted(p.name for p in onnx_artifact.iterdir()) == before
    args = build_parser().parse_args(["--artifact", str(onnx_artifact), "--source", "synthetic", "--build-engine"])
    assert args.build_engine is True


def test_stream_runner_with_build_engine_runs_on_a_cpu_backend_without_tensorrt(onnx_artifact, monkeypatch, capsys):
    from runtime.api import StreamRunner

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with StreamRunner(onnx_artifact, ["synthetic"], build_engine=True) as runner:
        assert runner.backend.name in ("onnxruntime", "openvino")  # auto's CPU choice
    assert "no engine built" in capsys.readouterr().err
