"""ONNX Runtime backend: TensorRT EP → CUDA EP → CPU, or the providers asked for."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from runtime.backends.base import Backend, BackendError, TensorMeta, require
from runtime.hints import setting
from runtime.onnx_external import check_external_data

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}
# What each short device name asks for, best first.
DEVICE_PROVIDERS = {
    "auto": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "cpu": ["CPUExecutionProvider"],
}


def provider_options(artifact, onnx_name: str, fp16: bool = True, int8: bool = False) -> dict[str, dict]:
    """Provider options for the GPU providers: TensorRT EP caches live in the artifact folder.

    The TensorRT EP writes its engines and timing cache under `<artifact>/trt_cache` (created on
    first use; the folder must be writable on the robot) and builds one profile over the batch
    axis recorded at export. FP16 comes with `trt_layer_norm_fp32_fallback`, ORT's own way of
    keeping the norms' Pow/Reduce in FP32. CUDA EP: device 0, arena grown only as requested.
    """
    cache = Path(artifact.folder) / "trt_cache"
    spec = artifact.manifest.input
    entry = artifact.manifest.files[onnx_name]
    batch = entry.batch_profile or (1, 1, 8)  # validated when the manifest was read
    dims = lambda b: f"{spec.name}:" + "x".join(str(d) for d in spec.shape(b))  # noqa: E731
    trt = {"device_id": 0, "trt_fp16_enable": bool(fp16), "trt_int8_enable": bool(int8),
           "trt_layer_norm_fp32_fallback": bool(fp16), "trt_engine_cache_enable": True,
           "trt_engine_cache_path": str(cache), "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache),
           "trt_profile_min_shapes": dims(batch[0]), "trt_profile_opt_shapes": dims(batch[1]),
           "trt_profile_max_shapes": dims(batch[2])}
    cuda = {"device_id": 0, "arena_extend_strategy": "kSameAsRequested"}
    return {"TensorrtExecutionProvider": trt, "CUDAExecutionProvider": cuda}


def _ort():
    return require("onnxruntime", None, "the ONNX Runtime backend")  # core dep; [gpu] swaps in onnxruntime-gpu


def available_providers() -> list[str]:
    """The execution providers this onnxruntime build offers (CPU only on a plain `pip install onnxruntime`)."""
    return list(_ort().get_available_providers())


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, model_path: str | os.PathLike, device: str = "auto", threads: int | None = None,
                 provider_options: dict[str, dict] | None = None):
        ort = _ort()
        if device not in DEVICE_PROVIDERS:
            raise BackendError(f"device {device!r} unknown; choose one of {sorted(DEVICE_PROVIDERS)}")
        available = ort.get_available_providers()
        wanted = DEVICE_PROVIDERS[device]
        providers = [p for p in wanted if p in available]
        if device != "auto" and wanted[0] not in available:
            raise BackendError(
                f"device {device!r} needs {wanted[0]}, but this onnxruntime offers {available}; "
                f"install onnxruntime-gpu (pip install 'tubelet[gpu]') or use {setting('backend', 'cpu')}"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        provider_options = provider_options or {}
        with_options = [(p, provider_options.get(p, {})) for p in providers]
        # ORT opens external data relative to the model; refuse locations that leave its folder
        # before ORT reads anything (older ORT releases, e.g. on JetPack, do not check them).
        check_external_data(model_path)
        try:
            # Path-based loading lets ORT resolve external data next to the model file.
            self.session = ort.InferenceSession(str(Path(model_path)), sess_options=options, providers=with_options)
        except Exception as exc:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
            raise BackendError(f"ONNX Runtime could not load {model_path}: {exc}") from exc
        self.providers = self.session.get_providers()
        self.inputs = [_meta(i) for i in self.session.get_inputs()]
        self.outputs = [_meta(o) for o in self.session.get_outputs()]

    def _infer(self, feeds):
        names = [o.name for o in self.outputs]
        return dict(zip(names, self.session.run(names, feeds)))

    def close(self) -> None:
        self.session = None


def _meta(node) -> TensorMeta:
    dtype = _DTYPES.get(node.type)
    if dtype is None:
        raise BackendError(f"tensor {node.name!r} has unsupported type {node.type}")
    shape = tuple(d if isinstance(d, int) else None for d in node.shape)
    return TensorMeta(node.name, shape, np.dtype(dtype))
