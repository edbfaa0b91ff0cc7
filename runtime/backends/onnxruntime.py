"""ONNX Runtime backend: TensorRT EP → CUDA EP → CPU, or the providers asked for."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from runtime.backends.base import Backend, BackendError, TensorMeta, require

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


def _ort():
    return require("onnxruntime", None, "the ONNX Runtime backend")  # core dep; [gpu] swaps in onnxruntime-gpu


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
                "install onnxruntime-gpu (pip install 'tubelet[gpu]') or use device='cpu'"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        provider_options = provider_options or {}
        with_options = [(p, provider_options.get(p, {})) for p in providers]
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
