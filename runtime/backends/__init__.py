"""Backends: one interface (`Backend.infer`), several engines. Heavy imports happen inside each."""

from __future__ import annotations

from runtime.backends.base import Backend, BackendError, InputError, MissingDependencyError, TensorMeta

__all__ = ["Backend", "BackendError", "InputError", "MissingDependencyError", "TensorMeta", "open_backend"]


def open_backend(artifact, backend: str = "auto", threads: int | None = None, precision: str = "fp32") -> Backend:
    """Open the best usable backend for an artifact, or the one asked for.

    backend: auto | onnxruntime (ORT, best provider) | cpu | cuda | tensorrt-ep.
    The ONNX file is hash-checked against the manifest before it is opened.
    """
    from runtime.backends.onnxruntime import OnnxRuntimeBackend

    device = {"auto": "auto", "onnxruntime": "auto", "cpu": "cpu", "cuda": "cuda", "tensorrt-ep": "tensorrt"}.get(backend)
    if device is None:
        raise BackendError(f"backend {backend!r} unknown; choose auto, onnxruntime, cpu, cuda or tensorrt-ep")
    name = artifact.manifest.file_of_kind("onnx", precision)
    if name is None:
        raise BackendError(f"{artifact.folder} holds no {precision} ONNX model")
    path = artifact.path(name)  # verifies the hash
    data = artifact.manifest.file_of_kind("onnx_data")
    if data is not None:
        artifact.path(data)
    return OnnxRuntimeBackend(path, device=device, threads=threads)
