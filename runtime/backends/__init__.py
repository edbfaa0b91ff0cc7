"""Backends: one interface (`Backend.infer`), several engines. Heavy imports happen inside each."""

from __future__ import annotations

from runtime.backends.base import (Backend, BackendError, InputError, MissingDependencyError, TensorMeta,
                                   TransientBackendError)
from runtime.common.hints import setting

__all__ = ["Backend", "BackendError", "InputError", "MissingDependencyError", "TensorMeta", "TransientBackendError",
           "open_backend", "open_remote"]


# Backend names that run through ONNX Runtime → the OnnxRuntimeBackend device they ask for.
ORT_DEVICES = {"auto": "auto", "onnxruntime": "auto", "cpu": "cpu", "cuda": "cuda", "tensorrt-ep": "tensorrt"}
PRECISIONS = ("fp32", "fp16", "int8")
MAX_THREADS = 1024  # inference threads one backend may ask for (OpenVINO refuses huge counts with pages of text)


def open_backend(artifact, backend: str = "auto", threads: int | None = None, precision: str = "fp32",
                 ep_fp16: bool = True, device: str | None = None) -> Backend:
    """Open the best usable backend for an artifact, or the one asked for.

    backend: auto (a compatible TensorRT engine, else ORT with TensorRT EP → CUDA EP; without an
    NVIDIA provider, OpenVINO when installed and the model is not small (docs/CPU.md), else ORT on the CPU) |
    tensorrt (the artifact's engine, refused with a rebuild hint if built for another machine) |
    openvino (OpenVINO on `device`: CPU, GPU, NPU) | onnxruntime (ORT, best provider) | cpu | cuda | tensorrt-ep.
    precision: fp32; int8 (an INT8 engine, else the Q/DQ ONNX model); fp16 (an FP16 engine, else the
    FP16 ONNX model built by ORT's TensorRT EP). A precision this machine cannot run is refused,
    never silently run in FP32; bf16 (OpenVINO, where the device reports BF16). ep_fp16: let ORT's
    TensorRT EP build in FP16. device: the OpenVINO device (default CPU).
    Every file is hash-checked against the manifest, and the model's inputs and outputs are checked
    against the manifest, before the backend is returned.
    """
    from runtime.backends.base import check_against_manifest

    if backend not in ORT_DEVICES and backend not in ("tensorrt", "openvino"):
        raise BackendError(f"backend {backend!r} unknown; choose auto, tensorrt, openvino, onnxruntime, cpu, cuda or "
                           "tensorrt-ep")
    if precision == "bf16" and backend not in ("auto", "openvino"):
        raise BackendError(f"precision 'bf16' runs on OpenVINO only; use {setting('backend', 'openvino')}")
    if device is not None and backend not in ("auto", "openvino"):
        raise BackendError(f"device {device!r} selects an OpenVINO device; use {setting('backend', 'openvino')} "
                           "(ONNX Runtime picks its device by backend: cpu, cuda or tensorrt-ep)")
    if precision not in PRECISIONS and precision != "bf16":
        raise BackendError(f"precision {precision!r} unknown; choose fp32, fp16 or int8")
    if threads is not None and not (type(threads) is int and 1 <= threads <= MAX_THREADS):
        raise BackendError(f"{setting('threads')} must be a whole number in 1..{MAX_THREADS}, got {threads!r}")
    engine_precision = precision if precision in ("fp16", "int8") else None
    notes: list[str] = []
    if backend == "tensorrt":
        opened = _open_engine(artifact, engine_precision)
    elif backend == "auto" and artifact.manifest.file_of_kind("engine") is not None:
        opened = _try_engine(artifact, engine_precision, notes)
    else:
        opened = None
    if opened is None and _openvino_wanted(backend, precision, device, artifact):
        from runtime.backends.openvino import open_openvino

        opened = open_openvino(artifact, precision, threads, device)
    if opened is None:
        opened = _open_onnxruntime(artifact, backend, threads, precision, ep_fp16, notes)
    opened.notes = notes
    try:
        check_against_manifest(opened, artifact.manifest)
    except BaseException:
        opened.close()
        raise
    return opened


def _openvino_wanted(backend, precision, device, artifact) -> bool:
    """OpenVINO when asked for, or for auto without an NVIDIA provider on a model that is not small
    (fp16 stays a GPU precision; bf16 runs on OpenVINO only)."""
    if backend == "openvino" or (backend == "auto" and device is not None):
        return True
    if backend != "auto" or precision == "fp16":
        return False
    from runtime.backends.openvino import model_bytes, prefer_for_auto

    return prefer_for_auto(model_bytes(artifact, precision)) or precision == "bf16"


def _open_engine(artifact, precision):
    """The artifact's TensorRT engine (of that precision), refused up front when the artifact holds none."""
    engines = [n for n, e in artifact.manifest.files.items()
               if e.kind == "engine" and (precision is None or e.precision == precision)]
    if not engines:
        raise BackendError(f"{artifact.folder} holds no {precision + ' ' if precision else ''}TensorRT engine; build "
                           f"one on this machine with tubelet-engine --artifact {artifact.folder} --precision "
                           f"{precision or 'fp16'}, or use {setting('backend', 'onnxruntime')}")
    from runtime.backends.tensorrt.runner import TensorRTBackend, _pick_engine

    return TensorRTBackend(artifact, _pick_engine(artifact.manifest, precision))


def _open_onnxruntime(artifact, backend, threads, precision, ep_fp16, notes):
    from runtime.backends.onnxruntime import (OnnxRuntimeBackend, available_providers, external_data_of,
                                              provider_options, tensorrt_ep_model)

    device = ORT_DEVICES[backend]
    if precision == "fp16":
        _check_fp16_possible(artifact, backend, available_providers(), notes)
    onnx_precision = "fp32" if precision == "fp16" else precision
    name, fallback = tensorrt_ep_model(artifact.manifest, precision)  # fp16: the FP16 graph, for the TensorRT EP
    if fallback:
        notes.append(fallback)
    if name is None:
        raise BackendError(f"{artifact.folder} holds no {onnx_precision} ONNX model; "
                           f"precisions this artifact offers: {', '.join(offered_precisions(artifact))}")
    path = artifact.path(name)  # verifies the hash
    for data in external_data_of(artifact.manifest, name):
        artifact.path(data)
    options = provider_options(artifact, name, fp16=ep_fp16, int8=onnx_precision == "int8")
    if precision == "fp16":  # FP16 on ONNX Runtime happens only inside its TensorRT EP
        device = "tensorrt"
    result = OnnxRuntimeBackend(path, device=device, threads=threads, provider_options=options)
    if precision == "fp16" and "TensorrtExecutionProvider" not in result.providers:
        result.close()  # the TensorRT EP is installed but did not take the model: it would run FP32
        raise BackendError(f"{setting('precision', 'fp16')}: ONNX Runtime's TensorRT EP could not take {name} "
                           f"(session providers {result.providers}), so it would run in FP32; "
                           f"use {setting('precision', 'fp32')}")
    return result


def _check_fp16_possible(artifact, backend, providers, notes):
    """FP16 needs a usable FP16 engine or ORT's TensorRT EP; otherwise say what this machine can run."""
    if backend in ("cpu", "cuda") or "TensorrtExecutionProvider" not in providers:
        why = (f"backend {backend!r} runs FP32 and INT8 models only" if backend in ("cpu", "cuda") else
               f"this onnxruntime offers {providers}, without TensorrtExecutionProvider")
        skipped = "".join(f"; {note}" for note in notes)
        raise BackendError(f"{setting('precision', 'fp16')} needs a TensorRT FP16 engine or ONNX Runtime's TensorRT "
                           f"EP: {why}{skipped}; precisions this machine can run for {artifact.folder}: "
                           f"{', '.join(p for p in offered_precisions(artifact) if p != 'fp16')} "
                           f"(e.g. {setting('precision', 'fp32')})")


def offered_precisions(artifact) -> list[str]:
    """Precisions the artifact holds a model or engine for (fp16 always: ORT's TensorRT EP builds it)."""
    files = artifact.manifest.files.values()
    offered = {e.precision for e in files if e.kind in ("onnx", "engine")} | {"fp16"}
    return [p for p in PRECISIONS if p in offered]


def _try_engine(artifact, precision, notes):
    """The TensorRT backend when this machine can run the artifact's engine; else None and why, in notes."""
    try:
        from runtime.backends.tensorrt.runner import EngineMismatchError, TensorRTBackend, _pick_engine

        return TensorRTBackend(artifact, _pick_engine(artifact.manifest, precision))
    except MissingDependencyError as exc:
        notes.append(f"TensorRT engine skipped: {exc}")
    except (EngineMismatchError, BackendError) as exc:
        notes.append(f"TensorRT engine skipped: {exc}")
    return None


def open_remote(artifact, server: str, model: str | None = None, timeout_s: float = 5.0) -> Backend:
    """The `triton` backend: the artifact's model served by a Triton Inference Server at `server`
    (grpc://HOST:PORT or http://HOST:PORT), under `model` (default: the artifact folder's name).
    Refused at open when the served model differs from the manifest; see runtime/backends/triton.py."""
    from runtime.backends.triton import TritonBackend

    return TritonBackend(artifact, server, model, timeout_s=timeout_s)
