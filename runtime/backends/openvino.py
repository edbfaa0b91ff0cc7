"""OpenVINO backend: the artifact's ONNX files on x86/Arm CPUs (and Intel GPUs/NPUs where present).

OpenVINO reads `model.onnx` itself (no conversion step, nothing written into the artifact):
FP32 runs it with `INFERENCE_PRECISION_HINT=f32`, BF16 with `bf16` on devices that report BF16 in
their OPTIMIZATION_CAPABILITIES (AVX-512 BF16 / AMX CPUs), INT8 runs the calibrated Q/DQ
`model.int8.onnx`, whose quantized MatMul/Conv OpenVINO executes on integer kernels (VNNI/AMX),
the rest in FP32. The batch axis stays dynamic, so the recognizer batches windows of all streams.

The compiled model is cached per model file, keyed by its sha256, under
`$XDG_CACHE_HOME/tubelet/openvino/<sha256>` (default `~/.cache/...`; `$TUBELET_CACHE_DIR/openvino/`
when that is set): a second launch loads the
compiled blob instead of compiling again, and the artifact folder (often read-only on a robot)
is never written to.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from runtime.backends.base import Backend, BackendError, TensorMeta, require
from runtime.common.hints import setting
from runtime.artifact.external_data import check_external_data

# Precision → (OpenVINO inference precision hint, the capability the device must report).
PRECISIONS = {"fp32": ("f32", "FP32"), "bf16": ("bf16", "BF16"), "fp16": ("f16", "FP16"), "int8": ("f32", "INT8")}
DEVICES = ("CPU", "GPU", "NPU")


def _ov():
    return require("openvino", "openvino", "the OpenVINO backend")


def available() -> bool:
    """True when the openvino package imports (what `--backend auto` asks on a machine without CUDA)."""
    try:
        _ov()
    except BackendError:
        return False
    return True


def default_cache_root() -> Path:
    """$TUBELET_CACHE_DIR/openvino, else $XDG_CACHE_HOME/tubelet/openvino, else ~/.cache/tubelet/openvino."""
    own = os.environ.get("TUBELET_CACHE_DIR")
    if own:
        return Path(own) / "openvino"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tubelet" / "openvino"


def cache_dir_for(sha256: str, root: str | os.PathLike | None = None) -> Path | None:
    """The compiled-model cache folder for one model file, created; None when it cannot be written."""
    folder = Path(root) if root is not None else default_cache_root()
    folder = folder / sha256
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: compile every launch rather than fail
    return folder if os.access(folder, os.W_OK) else None


def check_device(core, device: str) -> str:
    """The OpenVINO device name for CPU / GPU / GPU.1 / NPU, refused with what this machine has."""
    name = device.upper()
    if name.split(".")[0] not in DEVICES:
        raise BackendError(f"OpenVINO device {device!r} unknown; choose one of {', '.join(DEVICES)} "
                           f"(this machine has {', '.join(core.available_devices) or 'none'})")
    present = core.available_devices
    if name not in present and not (name in DEVICES and any(d.split(".")[0] == name for d in present)):
        raise BackendError(f"OpenVINO device {name} is not present here (available: {', '.join(present) or 'none'}); "
                           f"install its driver (GPU: intel-opencl-icd, NPU: intel-npu-driver) or use {setting('device', 'CPU')}")
    return name


def check_precision(core, device: str, precision: str) -> str:
    """The inference precision hint for `precision`, refused when the device does not report it."""
    if precision not in PRECISIONS:
        raise BackendError(f"precision {precision!r} unknown for OpenVINO; choose one of {', '.join(PRECISIONS)}")
    hint, capability = PRECISIONS[precision]
    capabilities = list(core.get_property(device, "OPTIMIZATION_CAPABILITIES"))
    if capability not in capabilities:
        name = core.get_property(device, "FULL_DEVICE_NAME")
        raise BackendError(
            f"{device} ({name}) does not report {capability} support (its capabilities: {', '.join(capabilities)}); "
            f"{precision} needs e.g. AVX-512 BF16 or AMX on a CPU; use {setting('precision', 'fp32')}"
            + (f" or {setting('precision', 'int8')}" if "INT8" in capabilities else ""))
    return hint


class OpenVINOBackend(Backend):
    name = "openvino"

    def __init__(self, model_path: str | os.PathLike, device: str = "CPU", precision: str = "fp32",
                 threads: int | None = None, cache_dir: str | os.PathLike | None = None,
                 static_batch: int | None = None):
        """model_path: an ONNX file (the Q/DQ one for int8). cache_dir: where compiled blobs go (None:
        no cache). static_batch: fix the batch axis (NPUs compile static shapes only)."""
        ov = _ov()
        self.core = ov.Core()
        self.device = check_device(self.core, device)
        self.precision = precision
        config = {"INFERENCE_PRECISION_HINT": check_precision(self.core, self.device, precision),
                  "PERFORMANCE_HINT": "LATENCY"}
        if self.device == "CPU":
            # Pinned inference threads wait for their core when a camera driver, ROS nodes or another
            # job runs there: 5x slower per window on a shared 2-core machine (docs/CPU.md).
            config["ENABLE_CPU_PINNING"] = False
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.core.set_property({"CACHE_DIR": str(self.cache_dir)})
        # OpenVINO resolves external data relative to the model; refuse locations outside its folder first.
        check_external_data(model_path)
        try:
            model = self.core.read_model(str(Path(model_path)))
            if static_batch is not None or self.device.startswith("NPU"):
                model.reshape({model.inputs[0]: _with_batch(model.inputs[0].get_partial_shape(), static_batch or 1)})
            self.compiled = self.core.compile_model(model, self.device, config)
        except RuntimeError as exc:  # OpenVINO raises RuntimeError (GeneralFailure, unsupported op, ...)
            raise BackendError(f"OpenVINO could not load {model_path} on {self.device}: {exc}") from exc
        self.loaded_from_cache = bool(self._property("LOADED_FROM_CACHE", False))
        self.providers = [f"OpenVINO {ov.__version__.split('-')[0]} {self.device} {precision}"]
        self.inputs = [_meta(port) for port in self.compiled.inputs]
        self.outputs = [_meta(port) for port in self.compiled.outputs]
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: calls from several threads take turns

    def _property(self, name: str, default):
        try:
            return self.compiled.get_property(name)
        except RuntimeError:
            return default

    def _infer(self, feeds):
        with self._lock:
            results = self._request.infer(feeds)  # copies the outputs out of the request's buffers
            return {meta.name: np.asarray(results[i]) for i, meta in enumerate(self.outputs)}

    def close(self) -> None:
        self._request = None
        self.compiled = None


def _with_batch(shape, batch: int):
    dims = list(shape)
    dims[0] = batch
    return type(shape)(dims)


def _meta(port) -> TensorMeta:
    try:
        dtype = np.dtype(port.get_element_type().to_dtype())
    except (RuntimeError, TypeError) as exc:
        raise BackendError(f"tensor {port.get_any_name()!r} has a type numpy cannot hold: {exc}") from None
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorMeta(port.get_any_name(), shape, dtype)


# Below this model size ONNX Runtime's smaller per-call cost wins on the CPU: the bundled 2 MB model
# ran 4.1 ms per window on ORT and 13.2 ms on OpenVINO FP32; VideoMAE-S (88 MB) 0.58x ORT on OpenVINO.
SMALL_MODEL_BYTES = 16 << 20


def prefer_for_auto(model_bytes: int | None = None) -> bool:
    """What `--backend auto` runs when no TensorRT engine fits: OpenVINO when it is installed, ONNX
    Runtime has no NVIDIA provider (TensorRT/CUDA EP) and the model is not small (SMALL_MODEL_BYTES),
    since on x86 CPUs it is then the faster CPU engine (docs/CPU.md has the measurements); ORT otherwise."""
    from runtime.backends.onnxruntime import DEVICE_PROVIDERS, _ort

    gpu = [p for p in DEVICE_PROVIDERS["auto"] if p != "CPUExecutionProvider"]
    if any(p in _ort().get_available_providers() for p in gpu):
        return False
    if model_bytes is not None and model_bytes < SMALL_MODEL_BYTES:
        return False
    return available()


def model_bytes(artifact, precision: str) -> int | None:
    """Size of the ONNX model (and its external data) that `precision` opens, from the manifest."""
    m = artifact.manifest
    name = m.file_of_kind("onnx", "int8" if precision == "int8" else "fp32")
    if name is None:
        return None
    data = m.file_of_kind("onnx_data")
    return m.files[name].size + (m.files[data].size if data is not None and precision != "int8" else 0)


def open_openvino(artifact, precision: str = "fp32", threads: int | None = None, device: str | None = None,
                  cache_root: str | os.PathLike | None = None) -> OpenVINOBackend:
    """The artifact's ONNX model for `precision` (int8: the Q/DQ model) on OpenVINO, hash-checked,
    with its compiled-model cache under `cache_root/<sha256>` (default: default_cache_root())."""
    if precision not in PRECISIONS:
        raise BackendError(f"precision {precision!r} unknown for OpenVINO; choose one of {', '.join(PRECISIONS)}")
    kind = "int8" if precision == "int8" else "fp32"
    name = artifact.manifest.file_of_kind("onnx", kind)
    if name is None:
        fix = (" (calibrate it: python -m calibration --artifact DIR ...; see docs/CALIBRATION.md)"
               if kind == "int8" else "")
        raise BackendError(f"{artifact.folder} holds no {kind} ONNX model{fix}")
    path = artifact.path(name)  # verifies the hash
    data = artifact.manifest.file_of_kind("onnx_data")
    if data is not None:
        artifact.path(data)
    cache = cache_dir_for(artifact.manifest.files[name].sha256, cache_root)
    return OpenVINOBackend(path, device=device or "CPU", precision=precision, threads=threads, cache_dir=cache)
