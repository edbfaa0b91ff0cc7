"""ONNX Runtime backend: TensorRT EP → CUDA EP → CPU, or the providers asked for."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from runtime.backends.base import Backend, BackendError, TensorMeta, require
from runtime.common.hints import setting
from runtime.artifact.external_data import check_external_data

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
TIMING_CACHE_PATH_SINCE = (1, 17)  # the ONNX Runtime release that added trt_timing_cache_path
# What each short device name asks for, best first.
DEVICE_PROVIDERS = {
    "auto": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "cpu": ["CPUExecutionProvider"],
}


def provider_options(artifact, onnx_name: str, fp16: bool = True, int8: bool = False,
                     ort_version: str | None = None) -> dict[str, dict]:
    """Provider options for the GPU providers: TensorRT EP caches live in the artifact folder.

    The TensorRT EP writes its engines (and, from ONNX Runtime 1.17, which added
    `trt_timing_cache_path`, its timing cache) under `<artifact>/trt_cache` (created on first use; the
    folder must be writable on the robot) and builds one profile over the batch axis recorded at
    export. At fp16 the EP is given the FP16 graph (tensorrt_ep_model): its types carry the precision,
    which is all a strongly typed TensorRT (11, where the EP's FP16 switch no longer exists) goes by;
    `trt_fp16_enable` and `trt_layer_norm_fp32_fallback` stay on for an EP whose TensorRT still
    builds weakly typed (10.x), where FP16 kernels need the flag and the graph's types are hints.
    CUDA EP: device 0, arena grown only as requested.
    """
    cache = Path(artifact.folder) / "trt_cache"
    spec = artifact.manifest.input
    entry = artifact.manifest.files[onnx_name]
    batch = entry.batch_profile or (1, 1, 8)  # validated when the manifest was read
    dims = lambda b: f"{spec.name}:" + "x".join(str(d) for d in spec.shape(b))  # noqa: E731
    trt = {"device_id": 0, "trt_fp16_enable": bool(fp16), "trt_int8_enable": bool(int8),
           "trt_layer_norm_fp32_fallback": bool(fp16), "trt_engine_cache_enable": True,
           "trt_engine_cache_path": str(cache), "trt_timing_cache_enable": True,
           "trt_profile_min_shapes": dims(batch[0]), "trt_profile_opt_shapes": dims(batch[1]),
           "trt_profile_max_shapes": dims(batch[2])}
    if release(ort_version or _ort().__version__) >= TIMING_CACHE_PATH_SINCE:  # older ones refuse unknown options
        trt["trt_timing_cache_path"] = str(cache)
    cuda = {"device_id": 0, "arena_extend_strategy": "kSameAsRequested"}
    return {"TensorrtExecutionProvider": trt, "CUDAExecutionProvider": cuda}


def release(version: str) -> tuple[int, int]:
    """(major, minor) of a version string such as '1.17.3' or '1.20.0+cu124'; (0, 0) when unreadable."""
    match = re.match(r"(\d+)\.(\d+)", str(version))
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def tensorrt_ep_model(manifest, precision: str) -> tuple[str | None, str | None]:
    """(the ONNX file ONNX Runtime opens for `precision`, a note when it is a fallback).

    fp16 runs inside the TensorRT EP, from the FP16 mixed-precision graph (model.fp16.onnx): under strong
    typing the precision is the graph's, not a flag's. An artifact exported before FP16 graphs existed
    gives the FP32 graph with `trt_fp16_enable`, which only a weakly typed TensorRT (10.x) honours.
    """
    if precision != "fp16":
        return manifest.file_of_kind("onnx", precision), None
    name = manifest.file_of_kind("onnx", "fp16")
    if name is not None:
        return name, None
    return manifest.file_of_kind("onnx", "fp32"), ("no model.fp16.onnx in the artifact: the TensorRT EP gets the "
                                                   "FP32 graph with trt_fp16_enable, which a strongly typed TensorRT "
                                                   "(11) ignores; re-export to get the FP16 graph")


def external_data_of(manifest, onnx_name: str) -> list[str]:
    """The onnx_data files a graph reads: those recorded for it, or (unattributed) the FP32 graph's."""
    fp32 = manifest.file_of_kind("onnx", "fp32")
    return [n for n, e in manifest.files.items() if e.kind == "onnx_data"
            and e.details.get("graph", fp32) == onnx_name]


def _ort():
    return require("onnxruntime", None, "the ONNX Runtime backend")  # core dep; [gpu] swaps in onnxruntime-gpu


def available_providers() -> list[str]:
    """The execution providers this onnxruntime build offers (CPU only on a plain `pip install onnxruntime`)."""
    return list(_ort().get_available_providers())


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask: taskset, a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity (macOS)
        return max(1, os.cpu_count() or 1)


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
        # Always a count: left at 0, ORT makes one thread per physical core and pins each to its core,
        # even cores the process was kept off (taskset, a cpuset: a robot's control-loop core). A count
        # is not pinned, and its threads stay on the process's cores (bench/bench_ort_threads.py).
        options.intra_op_num_threads = int(threads) if threads else cpu_count()
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
