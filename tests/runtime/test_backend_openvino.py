"""The OpenVINO backend on tiny graphs (onnx.helper), against ONNX Runtime at every precision.

Thresholds per precision, against ONNX Runtime on the same inputs:
- fp32: the same float graph, only kernel order differs → cosine >= 0.99999, max error 1e-4 relative.
- bf16: every matmul input rounded to 8 mantissa bits (relative step 2**-8) → cosine >= 0.999
  against ORT FP32 (ORT has no BF16 CPU path), top-1 identical where ORT's margin is not within
  that rounding.
- int8: both engines read the same Q/DQ file with the same scales; they differ in where they
  requantize and accumulate → cosine >= 0.999 against ORT INT8, top-1 identical.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("openvino", reason="needs the [openvino] extra (pip install 'tubelet[openvino]')")

from runtime.artifact import load_artifact, read_manifest, write_manifest  # noqa: E402
from runtime.backends import BackendError, InputError  # noqa: E402
from runtime.backends.onnxruntime import OnnxRuntimeBackend  # noqa: E402
from runtime.backends.openvino import OpenVINOBackend, check_precision, open_openvino  # noqa: E402
from testbed.artifacts import make_onnx_artifact  # noqa: E402
from tests.fixtures.mlp_artifact import add_int8_model, clips, make_mlp_artifact  # noqa: E402

COSINE = {"fp32": 0.99999, "bf16": 0.999, "int8": 0.999}


def cosines(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def _core():
    import openvino

    return openvino.Core()


def cpu_reports(capability):
    return capability in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    folder = make_mlp_artifact(tmp_path_factory.mktemp("ov") / "mlp")
    return add_int8_model(folder, clips(32, seed=7))


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.delenv("TUBELET_CACHE_DIR", raising=False)  # the default place: $XDG_CACHE_HOME/tubelet/openvino
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "tubelet" / "openvino"


def ort_logits(folder, name, x):
    with OnnxRuntimeBackend(folder / name, device="cpu", threads=1) as backend:
        return backend.infer({"pixel_values": x})["logits"]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_same_answers_as_onnxruntime_at_every_precision(mlp, cache_root, precision):
    if precision == "bf16" and not cpu_reports("BF16"):
        pytest.skip("this CPU does not report BF16 (AVX-512 BF16 / AMX)")
    x = clips(64, seed=3)
    reference = ort_logits(mlp, "model.int8.onnx" if precision == "int8" else "model.onnx", x)
    with open_openvino(load_artifact(mlp), precision, threads=1) as backend:
        assert backend.precision == precision and backend.inputs[0].shape == (None, 4, 3, 16, 16)
        got = backend.infer({"pixel_values": x})["logits"]
    assert got.shape == reference.shape and got.dtype == np.float32
    assert cosines(reference, got).min() >= COSINE[precision]
    ranked = np.sort(reference, axis=1)
    if precision == "fp32":
        np.testing.assert_allclose(got, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())
        clear = np.ones(len(x), bool)
    else:  # rows whose two best logits are closer than the rounding may swap; every other row must not
        if precision == "bf16":  # BF16 really ran: its rounding shows against FP32
            assert np.abs(got - reference).max() > 1e-5 * np.abs(reference).max()
        clear = ranked[:, -1] - ranked[:, -2] > 0.02 * np.abs(reference).max()
    assert clear.sum() >= len(x) // 2
    np.testing.assert_array_equal(got.argmax(1)[clear], reference.argmax(1)[clear])


def test_int8_runs_the_quantized_model_not_the_float_one(mlp, cache_root):
    x = clips(16, seed=5)
    with open_openvino(load_artifact(mlp), "int8", threads=1) as int8, open_openvino(load_artifact(mlp), "fp32") as fp32:
        a, b = int8.infer({"pixel_values": x})["logits"], fp32.infer({"pixel_values": x})["logits"]
    q_ref = ort_logits(mlp, "model.int8.onnx", x)
    # Nearer ORT's INT8 answer than the FP32 one: the Q/DQ file, with its scales, is what ran.
    assert np.abs(a - q_ref).max() < np.abs(b - q_ref).max()


def test_batch_axis_is_dynamic_and_rows_are_independent(mlp, cache_root):
    x = clips(5, seed=9)
    with open_openvino(load_artifact(mlp), "fp32", threads=1) as backend:
        whole = backend.infer({"pixel_values": x})["logits"]
        for i in range(len(x)):
            np.testing.assert_allclose(backend.infer({"pixel_values": x[i:i + 1]})["logits"][0], whole[i],
                                       rtol=1e-5, atol=1e-6)
        assert backend.infer({"pixel_values": np.concatenate([x, x])})["logits"].shape == (10, 6)


@pytest.mark.parametrize("feeds, message", [
    ({}, "missing"),
    ({"pixel_values": np.zeros((1, 4, 3, 16, 16), np.float64)}, "float32"),
    ({"pixel_values": np.zeros((1, 5, 3, 16, 16), np.float32)}, "axis 1 must be 4"),
    ({"pixel_values": np.zeros((0, 4, 3, 16, 16), np.float32)}, "empty batch"),
])
def test_input_checks_are_the_common_ones(mlp, cache_root, feeds, message):
    with open_openvino(load_artifact(mlp), "fp32") as backend:
        with pytest.raises(InputError, match=message):
            backend.infer(feeds)


def test_tubelet_cache_dir_overrides_the_default_place(mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("TUBELET_CACHE_DIR", str(tmp_path / "own"))
    artifact = load_artifact(mlp)
    with open_openvino(artifact, "fp32") as backend:
        assert backend.cache_dir == tmp_path / "own" / "openvino" / artifact.manifest.files["model.onnx"].sha256
        assert any(backend.cache_dir.iterdir())


def test_second_launch_loads_the_compiled_model_from_the_cache(mlp, cache_root):
    artifact = load_artifact(mlp)
    sha = artifact.manifest.files["model.onnx"].sha256
    first = open_openvino(artifact, "fp32", threads=1)
    folder = cache_root / sha
    blobs = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert first.cache_dir == folder and not first.loaded_from_cache and blobs
    first.close()
    second = open_openvino(artifact, "fp32", threads=1)
    assert second.loaded_from_cache  # OpenVINO's own report: imported the blob, did not compile
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == blobs  # reused, not rewritten
    second.close()
    other = open_openvino(artifact, "int8", threads=1)  # another file, another hash, another folder
    assert other.cache_dir == cache_root / artifact.manifest.files["model.int8.onnx"].sha256 != folder
    other.close()


def test_read_only_artifact_and_unwritable_cache_still_run(mlp, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "ro"
    shutil.copytree(mlp, copy)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.delenv("TUBELET_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    for path in [copy, *copy.iterdir()]:
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    try:
        with open_openvino(load_artifact(copy), "fp32") as backend:
            assert backend.cache_dir is None
            assert backend.infer({"pixel_values": clips(1)})["logits"].shape == (1, 6)
        assert sorted(p.name for p in copy.iterdir()) == ["manifest.json", "model.int8.onnx", "model.onnx"]
    finally:
        os.chmod(copy, 0o755)


def test_precision_the_device_does_not_report_is_refused_with_the_reason(mlp, cache_root):
    core = _core()
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    missing = [p for p, c in (("bf16", "BF16"), ("fp16", "FP16")) if c not in capabilities]
    if not missing:
        pytest.skip(f"this CPU reports every precision ({capabilities}); refusal checked through a fake device below")
    with pytest.raises(BackendError, match="does not report .* use precision='fp32'"):
        open_openvino(load_artifact(mlp), missing[0])


def test_precision_refusal_reads_the_device_capabilities():
    class Core:  # the one query check_precision makes, answered as an AVX2-only CPU answers it
        def get_property(self, device, name):
            return {"OPTIMIZATION_CAPABILITIES": ["FP32", "INT8", "BIN", "EXPORT_IMPORT"],
                    "FULL_DEVICE_NAME": "an AVX2 CPU"}[name]

    assert check_precision(Core(), "CPU", "fp32") == "f32" and check_precision(Core(), "CPU", "int8") == "f32"
    with pytest.raises(BackendError, match=r"CPU \(an AVX2 CPU\) does not report BF16 .*FP32, INT8.*"
                                           r"use precision='fp32' or precision='int8'"):
        check_precision(Core(), "CPU", "bf16")
    from runtime.common.hints import command_line

    with command_line(), pytest.raises(BackendError, match="use --precision fp32 or --precision int8"):
        check_precision(Core(), "CPU", "bf16")


def test_unknown_or_absent_device_and_missing_int8_model(tmp_path, cache_root):
    folder = make_onnx_artifact(tmp_path / "plain")
    artifact = load_artifact(folder)
    with pytest.raises(BackendError, match="unknown; choose one of CPU, GPU, NPU"):
        open_openvino(artifact, "fp32", device="TPU")
    if "NPU" not in _core().available_devices:
        with pytest.raises(BackendError, match="NPU is not present here .*device='CPU'"):
            open_openvino(artifact, "fp32", device="npu")
    with pytest.raises(BackendError, match="holds no int8 ONNX model .*calibrat"):
        open_openvino(artifact, "int8")


def test_tampered_model_is_refused_before_openvino_reads_it(mlp, tmp_path, cache_root):
    import shutil

    from runtime.artifact import HashMismatchError

    copy = tmp_path / "tampered"
    shutil.copytree(mlp, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-8] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(HashMismatchError):
        open_openvino(load_artifact(copy, verify=False), "fp32")


def test_truncated_or_unsupported_onnx_gets_a_backend_error(tmp_path, mlp):
    import onnx
    from onnx import TensorProto, helper

    bad = tmp_path / "bad.onnx"
    bad.write_bytes((mlp / "model.onnx").read_bytes()[:200])
    with pytest.raises(BackendError, match="could not load"):
        OpenVINOBackend(bad)
    graph = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"], domain="tubelet.test")], "odd",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("tubelet.test", 1)])
    onnx.save(model, str(tmp_path / "odd.onnx"))
    with pytest.raises(BackendError, match="OpenVINO could not load .*odd.onnx on CPU"):
        OpenVINOBackend(tmp_path / "odd.onnx")


# -- open_backend: --backend openvino and what --backend auto picks ---------------------------------

def test_open_backend_openvino_at_each_precision_and_device(mlp, cache_root):
    from runtime.backends import open_backend

    artifact = load_artifact(mlp)
    for precision in ("fp32", "int8") + (("bf16",) if cpu_reports("BF16") else ()):
        with open_backend(artifact, "openvino", threads=1, precision=precision, device="cpu") as backend:
            assert backend.name == "openvino" and backend.device == "CPU" and backend.precision == precision
            assert backend.infer({"pixel_values": clips(2)})["logits"].shape == (2, 6)


def test_auto_without_an_nvidia_provider_picks_openvino_unless_the_model_is_small(mlp, cache_root, monkeypatch):
    import onnxruntime

    from runtime.backends import open_backend, openvino

    if {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(onnxruntime.get_available_providers()):
        pytest.skip("this onnxruntime has an NVIDIA provider: auto stays on ONNX Runtime")
    artifact = load_artifact(mlp)
    assert openvino.model_bytes(artifact, "fp32") < openvino.SMALL_MODEL_BYTES  # a few kB
    with open_backend(artifact, "auto", threads=1) as backend:
        assert backend.name == "onnxruntime"  # per-call cost decides for small models
    with open_backend(artifact, "auto", threads=1, precision="bf16") as backend:
        assert backend.name == "openvino"  # bf16 runs on OpenVINO only
    monkeypatch.setattr(openvino, "SMALL_MODEL_BYTES", openvino.model_bytes(artifact, "int8"))  # as if large
    for precision in ("fp32", "int8"):
        with open_backend(artifact, "auto", threads=1, precision=precision) as backend:
            assert backend.name == "openvino" and backend.precision == precision


def test_auto_stays_on_onnxruntime_without_openvino_or_with_cuda(mlp, monkeypatch):
    import sys

    import onnxruntime

    from runtime.backends import open_backend
    from runtime.backends.openvino import prefer_for_auto

    real = onnxruntime.get_available_providers()
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", *real])
    assert prefer_for_auto() is False  # a CUDA machine: the TensorRT/CUDA EP path, as before
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: real)
    monkeypatch.setitem(sys.modules, "openvino", None)  # not installed
    assert prefer_for_auto() is False
    with open_backend(load_artifact(mlp), "auto", threads=1) as backend:
        assert backend.name == "onnxruntime"


def test_missing_openvino_names_the_extra_and_bad_combinations_are_refused(mlp, monkeypatch):
    import sys

    from runtime.backends import MissingDependencyError, open_backend

    artifact = load_artifact(mlp)
    with pytest.raises(BackendError, match="bf16' runs on OpenVINO only; use backend='openvino'"):
        open_backend(artifact, "cpu", precision="bf16")
    with pytest.raises(BackendError, match="selects an OpenVINO device; use backend='openvino'"):
        open_backend(artifact, "cpu", device="GPU")
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'tubelet\[openvino\]'"):
        open_backend(artifact, "openvino")


def test_model_that_does_not_match_its_manifest_is_refused_at_open(tmp_path, cache_root):
    from runtime.artifact import ModelMismatchError
    from runtime.backends import open_backend

    folder = make_mlp_artifact(tmp_path / "mismatch")
    manifest = read_manifest(folder)
    manifest.labels = manifest.labels[:4]  # the graph gives 6 scores per window
    write_manifest(folder, manifest)
    with pytest.raises(ModelMismatchError, match="gives 6 scores per window but the manifest has 4 labels"):
        open_backend(load_artifact(folder), "openvino")


def test_cpu_threads_are_not_pinned_and_follow_the_threads_option(mlp, cache_root):
    # Pinned threads wait for their core whenever another process runs there (docs/CPU.md).
    with open_openvino(load_artifact(mlp), "fp32", threads=1) as backend:
        assert backend.compiled.get_property("ENABLE_CPU_PINNING") is False
        assert backend.compiled.get_property("INFERENCE_NUM_THREADS") == 1
