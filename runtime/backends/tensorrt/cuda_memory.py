"""Pinned host buffers, device buffers and one stream, through cuda-python (or pycuda).

Both libraries sit behind the same small surface, so the TensorRT backend does not care which one
is installed: `alloc(nbytes) -> Buffer` (a pinned host array + a device pointer), `to_device`,
`to_host`, `synchronize`, `stream_handle`, `device_info`, `close`. cuda-python is preferred (official
wheels for x86-64 and aarch64); pycuda has to be compiled on a Jetson.

cuda-python's runtime calls return tuples whose first item is a `cudaError_t`: every call goes
through `_check`, which turns a non-success code into a `CudaError` naming the call.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from runtime.backends.base import BackendError, MissingDependencyError


class CudaError(BackendError):
    """A CUDA runtime call failed."""


@dataclass
class Buffer:
    host: np.ndarray  # uint8 view of pinned host memory, `nbytes` long
    device: int  # device pointer
    nbytes: int


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    compute_capability: str  # "8.7"


def import_cudart():
    """cuda-python's runtime module: `cuda.bindings.runtime` (12.6+/13), else the older `cuda.cudart`."""
    try:
        from cuda.bindings import runtime as cudart

        return cudart
    except ImportError:
        pass
    try:
        from cuda import cudart

        return cudart
    except ImportError as exc:
        raise MissingDependencyError(
            f"the TensorRT backend needs cuda-python ({exc}); install it with: pip install 'tubelet[trt-cu12]' "
            "(CUDA 12) or 'tubelet[trt-cu13]' (CUDA 13); on JetPack pip install 'cuda-python>=12.6,<13' (JetPack 6) "
            "beside the system TensorRT; or pycuda: pip install 'tubelet[trt-pycuda]'") from exc


def open_cuda(prefer: str = "cuda-python"):
    """A `CudaPython` or `Pycuda` memory manager, whichever is installed (cuda-python first)."""
    order = ["cuda-python", "pycuda"] if prefer == "cuda-python" else ["pycuda", "cuda-python"]
    errors = []
    for name in order:
        try:
            return CudaPython() if name == "cuda-python" else Pycuda()
        except MissingDependencyError as exc:
            errors.append(str(exc))
    raise MissingDependencyError(
        "the TensorRT backend needs cuda-python or pycuda for GPU buffers; install one with: "
        "pip install 'tubelet[trt-cu12]' or 'tubelet[trt-cu13]' (cuda-python of the driver's CUDA major) or "
        "pip install 'tubelet[trt-pycuda]'; details: " + " | ".join(errors))


class CudaPython:
    name = "cuda-python"

    def __init__(self):
        self.rt = import_cudart()
        self._buffers: list[Buffer] = []
        self.stream = self._check(self.rt.cudaStreamCreate(), "cudaStreamCreate")

    def _check(self, result, call: str):
        err, rest = result[0], result[1:]
        if err != self.rt.cudaError_t.cudaSuccess:
            raise CudaError(f"{call} failed with {err}; check the GPU with nvidia-smi / tegrastats and that "
                            "the CUDA driver matches the installed cuda-python")
        return rest[0] if len(rest) == 1 else (rest or None)

    def alloc(self, nbytes: int) -> Buffer:
        nbytes = max(int(nbytes), 1)
        host_ptr = self._check(self.rt.cudaMallocHost(nbytes), "cudaMallocHost")
        host = np.ctypeslib.as_array(ctypes.cast(host_ptr, ctypes.POINTER(ctypes.c_uint8)), (nbytes,))
        device = self._check(self.rt.cudaMalloc(nbytes), "cudaMalloc")
        buffer = Buffer(host, int(device), nbytes)
        self._buffers.append(buffer)
        return buffer

    def to_device(self, buffer: Buffer, nbytes: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(self.rt.cudaMemcpyAsync(buffer.device, buffer.host.ctypes.data, nbytes, kind, self.stream),
                    "cudaMemcpyAsync(host to device)")

    def to_host(self, buffer: Buffer, nbytes: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(self.rt.cudaMemcpyAsync(buffer.host.ctypes.data, buffer.device, nbytes, kind, self.stream),
                    "cudaMemcpyAsync(device to host)")

    def synchronize(self) -> None:
        self._check(self.rt.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")

    @property
    def stream_handle(self) -> int:
        return int(self.stream)

    def device_info(self) -> DeviceInfo:
        device = self._check(self.rt.cudaGetDevice(), "cudaGetDevice")
        prop = self._check(self.rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        name = prop.name.split(b"\0", 1)[0].decode() if isinstance(prop.name, bytes) else str(prop.name)
        return DeviceInfo(name, f"{prop.major}.{prop.minor}")

    def close(self) -> None:
        for buffer in self._buffers:
            self.rt.cudaFree(buffer.device)
            self.rt.cudaFreeHost(buffer.host.ctypes.data)
        self._buffers = []
        if self.stream is not None:
            self.rt.cudaStreamDestroy(self.stream)
            self.stream = None


class Pycuda:
    name = "pycuda"

    def __init__(self):
        try:
            import pycuda.autoinit  # noqa: F401  creates the context on device 0
            import pycuda.driver as driver
        except ImportError as exc:
            raise MissingDependencyError(f"pycuda is not importable ({exc}); pip install 'tubelet[trt-pycuda]'") from exc
        self.driver = driver
        self.stream = driver.Stream()
        self._buffers: list[tuple[Buffer, object]] = []

    def alloc(self, nbytes: int) -> Buffer:
        nbytes = max(int(nbytes), 1)
        host = self.driver.pagelocked_empty(nbytes, np.uint8)
        device = self.driver.mem_alloc(nbytes)
        buffer = Buffer(host, int(device), nbytes)
        self._buffers.append((buffer, device))  # keep the DeviceAllocation alive
        return buffer

    def to_device(self, buffer: Buffer, nbytes: int) -> None:
        self.driver.memcpy_htod_async(buffer.device, buffer.host[:nbytes], self.stream)

    def to_host(self, buffer: Buffer, nbytes: int) -> None:
        self.driver.memcpy_dtoh_async(buffer.host[:nbytes], buffer.device, self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    @property
    def stream_handle(self) -> int:
        return int(self.stream.handle)

    def device_info(self) -> DeviceInfo:
        device = self.driver.Context.get_device()
        major, minor = device.compute_capability()
        return DeviceInfo(device.name(), f"{major}.{minor}")

    def close(self) -> None:
        for _, allocation in self._buffers:
            allocation.free()
        self._buffers = []
