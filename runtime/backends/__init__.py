"""Backends: one interface (`Backend.infer`), several engines. Heavy imports happen inside each."""

from __future__ import annotations

from runtime.backends.base import Backend, BackendError, InputError, MissingDependencyError, TensorMeta

__all__ = ["Backend", "BackendError", "InputError", "MissingDependencyError", "TensorMeta", "open_backend"]


# Backend names that run through ONNX Runtime → the OnnxRuntimeBackend device they ask for.
ORT_DEVICES = {"auto": "auto", "onnxruntime": "auto", "cpu": "cpu", "cuda": "cuda", "tensorrt-ep": "tensorrt"}


def open_backend(artifact, backend: str = "auto", threads: int | None = None, precision: str = "fp32",
                 ep_fp16: bool = True) -> Backend:
    """Open the best usable backend for an artifact, or the one asked for.

    backend: auto (a compatible TensorRT engine, else ORT with TensorRT EP → CUDA EP → CPU) |
    tensorrt (the artifact's engine, refused with a rebuild hint if built for another machine) |
    onnxruntime (ORT, best provider) | cpu | cuda | tensorrt-ep.
    precision: which ONNX model ORT opens (fp32, or int8 for the Q/DQ model); an engine of that
    precision when it is fp16/int8. ep_fp16: let ORT's TensorRT EP build in FP16.
    Every file is hash-checked against the manifest before it is opened.
    """
    from runtime.backends.onnxruntime import OnnxRuntimeBackend, provider_options

    if backend not in ORT_DEVICES and backend != "tensorrt":
        raise BackendError(f"backend {backend!r} unknown; choose auto, tensorrt, onnxruntime, cpu, cuda or tensorrt-ep")
    engine_precision = precision if precision in ("fp16", "int8") else None
    if backend == "tensorrt":
        from runtime.backends.tensorrt import TensorRTBackend, _pick_engine

        return TensorRTBackend(artifact, _pick_engine(artifact.manifest, engine_precision))
    notes = []
    if backend == "auto" and artifact.manifest.file_of_kind("engine") is not None:
        engine = _try_engine(artifact, engine_precision, notes)
        if engine is not None:
            return engine
    onnx_precision = "fp32" if precision == "fp16" else precision
    name = artifact.manifest.file_of_kind("onnx", onnx_precision)
    if name is None:
        raise BackendError(f"{artifact.folder} holds no {onnx_precision} ONNX model")
    path = artifact.path(name)  # verifies the hash
    data = artifact.manifest.file_of_kind("onnx_data")
    if data is not None:
        artifact.path(data)
    options = provider_options(artifact, name, fp16=ep_fp16, int8=onnx_precision == "int8")
    result = OnnxRuntimeBackend(path, device=ORT_DEVICES[backend], threads=threads, provider_options=options)
    result.notes = notes
    return result


def _try_engine(artifact, precision, notes):
    """The TensorRT backend when this machine can run the artifact's engine; else None and why, in notes."""
    try:
        from runtime.backends.tensorrt import EngineMismatchError, TensorRTBackend, _pick_engine

        return TensorRTBackend(artifact, _pick_engine(artifact.manifest, precision))
    except MissingDependencyError as exc:
        notes.append(f"TensorRT engine skipped: {exc}")
    except (EngineMismatchError, BackendError) as exc:
        notes.append(f"TensorRT engine skipped: {exc}")
    return None
