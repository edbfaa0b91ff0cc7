import numpy as np
import pytest

from runtime.artifact import load_artifact
from runtime.backends import BackendError, InputError, open_backend
from runtime.backends.onnxruntime import OnnxRuntimeBackend


def test_metadata_and_inference(onnx_artifact):
    with open_backend(load_artifact(onnx_artifact), "cpu", threads=1) as backend:
        assert backend.providers == ["CPUExecutionProvider"]
        (meta,) = backend.inputs
        assert meta.name == "pixel_values" and meta.shape == (None, 4, 3, 32, 32) and meta.dtype == np.float32
        x = np.random.default_rng(0).standard_normal((3, 4, 3, 32, 32)).astype(np.float32)
        out = backend.infer({"pixel_values": x})["logits"]
        assert out.shape == (3, 3)
        single = backend.infer({"pixel_values": x[1:2]})["logits"]
        np.testing.assert_allclose(single[0], out[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("feeds, message", [
    ({}, "missing"),
    ({"pixel_values": np.zeros((1, 4, 3, 32, 32), np.float64)}, "float32"),
    ({"pixel_values": np.zeros((1, 5, 3, 32, 32), np.float32)}, "axis 1 must be 4"),
    ({"pixel_values": np.zeros((4, 3, 32, 32), np.float32)}, "5 dims"),
    ({"pixel_values": np.zeros((0, 4, 3, 32, 32), np.float32)}, "empty batch"),
    ({"pixel_values": [[1.0]]}, "numpy array"),
])
def test_input_checks(onnx_artifact, feeds, message):
    with open_backend(load_artifact(onnx_artifact), "cpu") as backend:
        with pytest.raises(InputError, match=message):
            backend.infer(feeds)


def test_truncated_onnx_gets_a_backend_error(tmp_path, onnx_artifact):
    data = (onnx_artifact / "model.onnx").read_bytes()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(BackendError, match="could not load"):
        OnnxRuntimeBackend(bad, device="cpu")


def test_unavailable_device_says_how_to_fix(onnx_artifact):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    with pytest.raises(BackendError, match="onnxruntime-gpu"):
        open_backend(load_artifact(onnx_artifact), "cuda")
    with pytest.raises(BackendError, match="unknown"):
        open_backend(load_artifact(onnx_artifact), "warp-drive")


def _cpu_only():
    import onnxruntime

    if "TensorrtExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the TensorRT EP: FP16 is possible here")


@pytest.mark.parametrize("backend", ["auto", "onnxruntime", "cpu"])
def test_fp16_on_a_cpu_only_machine_is_refused_with_what_can_run(onnx_artifact, backend):
    _cpu_only()
    with pytest.raises(BackendError, match=r"precision='fp16' needs a TensorRT FP16 engine.*can run .*: fp32"):
        open_backend(load_artifact(onnx_artifact), backend, precision="fp16")


def test_unknown_precision_is_refused(onnx_artifact):
    with pytest.raises(BackendError, match="precision 'fp8' unknown"):
        open_backend(load_artifact(onnx_artifact), "cpu", precision="fp8")


def test_hints_use_the_callers_syntax(onnx_artifact):
    from runtime.common.hints import command_line

    with pytest.raises(BackendError, match=r"use backend='onnxruntime'"):
        open_backend(load_artifact(onnx_artifact), "tensorrt")
    with command_line(), pytest.raises(BackendError, match=r"use --backend onnxruntime$"):
        open_backend(load_artifact(onnx_artifact), "tensorrt")
    _cpu_only()
    with command_line(), pytest.raises(BackendError, match=r"--precision fp16 needs .*\(e\.g\. --precision fp32\)"):
        open_backend(load_artifact(onnx_artifact), "cpu", precision="fp16")


def test_engine_rebuild_hint_uses_the_callers_syntax():
    from runtime.backends.tensorrt.provenance import Compatibility
    from runtime.common.hints import command_line

    refusal = Compatibility(ok=False, reasons=["built for another GPU"])
    assert refusal.message("model.fp16.engine").endswith("open the artifact with backend='onnxruntime'")
    with command_line():
        assert refusal.message("model.fp16.engine").endswith("open the artifact with --backend onnxruntime")


@pytest.mark.parametrize("threads", [0, -1, 10 ** 11, 1.5, True])
def test_thread_counts_outside_the_range_are_refused_by_every_backend(onnx_artifact, threads):
    with pytest.raises(BackendError, match=r"threads must be a whole number in 1\.\.1024"):
        open_backend(load_artifact(onnx_artifact), "auto", threads=threads)


def test_backend_errors_are_one_line():
    error = BackendError("could not load x:\nException from src/a.cpp:1:\n  Wrong value\n\n")
    assert str(error) == "could not load x: Exception from src/a.cpp:1: Wrong value"


def test_the_thread_count_is_always_set_so_ort_never_pins_its_threads(onnx_artifact):
    """Left at 0, ONNX Runtime pins one thread per physical core, and the cores are shared on a robot."""
    import os

    from runtime.backends.onnxruntime import cpu_count

    with open_backend(load_artifact(onnx_artifact), "cpu") as backend:
        assert backend.session.get_session_options().intra_op_num_threads == cpu_count() >= 1
    with open_backend(load_artifact(onnx_artifact), "cpu", threads=3) as backend:
        assert backend.session.get_session_options().intra_op_num_threads == 3
    if hasattr(os, "sched_getaffinity"):
        assert cpu_count() == len(os.sched_getaffinity(0))


def test_the_default_count_is_the_cores_this_process_may_use(onnx_artifact):
    """A process limited to one core (taskset, a container's cpuset) gets one thread, and no thread of the
    session runs elsewhere: left at 0, ONNX Runtime pins a pool thread to each physical core, the
    cores the process was kept off included."""
    import json
    import os
    import subprocess
    import sys

    if not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"):
        pytest.skip("no CPU affinity or /proc on this platform")
    code = """
import glob, json, os, sys
import numpy as np
core = sorted(os.sched_getaffinity(0))[0]
os.sched_setaffinity(0, {core})
def tasks():
    return {path.split("/")[-2]: open(path).read().split("Cpus_allowed_list:")[1].split()[0]
            for path in glob.glob("/proc/self/task/*/status")}
from runtime.artifact import load_artifact
from runtime.backends import open_backend
before = tasks()
backend = open_backend(load_artifact(sys.argv[1]), "cpu")
backend.infer({"pixel_values": np.zeros((1, 4, 3, 32, 32), np.float32)})
new = {cpus for tid, cpus in tasks().items() if tid not in before}
print(json.dumps([backend.session.get_session_options().intra_op_num_threads, core, sorted(new)]))
"""
    out = subprocess.run([sys.executable, "-c", code, str(onnx_artifact)], capture_output=True, text=True,
                         check=True, timeout=120)
    threads, core, new = json.loads(out.stdout.strip().splitlines()[-1])
    assert threads == 1
    assert all(cpus == str(core) for cpus in new), new
