"""A real engine: build with the builder, run with the TensorRT backend, compare with ONNX Runtime.

Runs wherever TensorRT, cuda-python and an NVIDIA GPU exist (a Jetson, a CUDA desktop); skipped elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu]


@pytest.fixture
def trt_ready():
    pytest.importorskip("tensorrt", reason="needs TensorRT (pip install 'tubelet[trt-cu12]' or 'tubelet[trt-cu13]' on a CUDA machine; JetPack: the system's TensorRT)")
    try:
        from runtime.backends.tensorrt.cuda_memory import open_cuda

        open_cuda().close()
    except Exception as exc:  # no driver, no GPU, no cuda-python
        pytest.skip(f"needs a CUDA GPU with cuda-python or pycuda: {exc}")


def test_fp16_engine_matches_onnxruntime_and_serves_dynamic_batch(trt_ready, onnx_artifact):
    from export.fp16_graph import add_fp16_graph
    from runtime.artifact import load_artifact, read_manifest, write_manifest
    from runtime.backends import open_backend
    from runtime.backends.tensorrt.build import BuildOptions
    from runtime.backends.tensorrt.artifact_engines import add_engines

    manifest = read_manifest(onnx_artifact)  # the FP16 graph a strongly typed build (TensorRT >= 10) reads
    feeds = [{"pixel_values": np.random.default_rng(1).standard_normal(manifest.input.shape(2)).astype(np.float32)}]
    add_fp16_graph(onnx_artifact, manifest, "model.onnx", feeds, scores=True, log=lambda _: None)
    write_manifest(onnx_artifact, manifest)
    names = add_engines(onnx_artifact, BuildOptions(precision="fp16", batch=(1, 2, 4)), log=lambda _: None)
    name = names[0]
    assert name == "model.fp16.engine" and (onnx_artifact / "model.fp16.timing.cache").stat().st_size > 0
    artifact = load_artifact(onnx_artifact)
    details = artifact.manifest.files[name].details
    assert details["compute_capability"] and details["profile"]["pixel_values"][2][0] == 4
    rng = np.random.default_rng(0)
    clips = rng.standard_normal(artifact.manifest.input.shape(6)).astype(np.float32)  # 6 > max batch 4: chunked
    with open_backend(artifact, backend="tensorrt") as trt_backend, open_backend(artifact, backend="cpu") as ort_backend:
        got = trt_backend.infer({"pixel_values": clips})["logits"]
        want = ort_backend.infer({"pixel_values": clips})["logits"]
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)
    assert (got.argmax(-1) == want.argmax(-1)).all()
