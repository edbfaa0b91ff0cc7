"""TensorRT backend: a plan file from the artifact, run through the tensor-name API (8.6, 10.x, 11.x).

Before any engine byte reaches TensorRT, the engine's provenance (TensorRT version, GPU compute
capability, portability flags) is compared with this machine, and the bytes that will be
deserialized are hashed against the manifest: deserializing runs native code, so only the exact
engine the export vouched for is loaded. Buffers are pinned host memory and device memory at the
profile's maximum batch, allocated once; one CUDA stream carries copies and execution. Batches above
the profile's maximum are run in chunks.
"""

from __future__ import annotations

import hashlib

import numpy as np

from runtime.backends.base import Backend, BackendError, InputError, TensorMeta, require
from runtime.backends.tensorrt.provenance import check_compatibility, this_machine
from runtime.common.hints import setting


class EngineMismatchError(BackendError):
    """The engine was built for another TensorRT version or GPU (or its bytes differ from the manifest)."""


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, artifact, engine: str | None = None, cuda: str = "cuda-python"):
        from runtime.backends.tensorrt.cuda_memory import open_cuda

        trt = require("tensorrt", "trt", "the TensorRT backend")
        self.trt = trt
        name = engine or _pick_engine(artifact.manifest)
        entry = artifact.manifest.files[name]
        self.cuda = open_cuda(cuda)
        try:
            verdict = check_compatibility(entry.details, this_machine(self.cuda))
            if not verdict.ok:
                raise EngineMismatchError(verdict.message(name, entry.precision or "fp16"))
            self.warnings = verdict.warnings
            data = _verified_bytes(artifact, name, entry)
            self._load(data, entry.details, name)
            self._allocate()
        except BaseException:
            self.cuda.close()
            raise
        self.engine_name = name

    def _load(self, data: bytes, details: dict, name: str) -> None:
        trt = self.trt
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        if details.get("dla_core") is not None:
            # A DLA engine runs on the core the runtime names; it must be set before deserializing.
            self.runtime.DLA_core = int(details["dla_core"])
        if details.get("version_compatible", False):
            # A version-compatible plan carries its own lean runtime (host code); the hash check above
            # is what makes it acceptable to let it run.
            self.runtime.engine_host_code_allowed = True
        self.engine = self.runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise EngineMismatchError(f"TensorRT {trt.__version__} could not deserialize {name} although its provenance "
                                      "matches this machine (see the TensorRT log above); rebuild it here")
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise BackendError(f"TensorRT could not create an execution context for {name} (out of GPU memory?)")

    def _allocate(self) -> None:
        trt, engine = self.trt, self.engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.inputs, self.outputs, self._dtypes = [], [], {}
        for name in names:
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            shape = tuple(None if d < 0 else int(d) for d in engine.get_tensor_shape(name))
            self._dtypes[name] = dtype
            meta = TensorMeta(name, shape, dtype)
            (self.inputs if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else self.outputs).append(meta)
        self.max_batch = None
        for meta in self.inputs:  # the profile's max shape sizes the buffers, set once
            largest = tuple(engine.get_tensor_profile_shape(meta.name, 0)[2])
            self.max_batch = largest[0] if self.max_batch is None else min(self.max_batch, largest[0])
            self.context.set_input_shape(meta.name, largest)
        self._buffers = {}
        for name in names:
            shape = tuple(self.context.get_tensor_shape(name))
            buffer = self.cuda.alloc(int(np.prod(shape)) * self._dtypes[name].itemsize)
            self._buffers[name] = buffer
            self.context.set_tensor_address(name, buffer.device)

    def infer(self, feeds):
        # TensorRT 8.6 imports INT64 ONNX inputs (token ids, masks) as INT32: cast those, checking they fit.
        fixed = dict(feeds)
        for meta in self.inputs:
            array = feeds.get(meta.name)
            if meta.dtype == np.int32 and isinstance(array, np.ndarray) and array.dtype == np.int64:
                if array.size and (array.min() < -2**31 or array.max() >= 2**31):
                    raise InputError(f"{self.name}: input {meta.name!r} holds values outside INT32, which this "
                                     "engine takes")
                fixed[meta.name] = array.astype(np.int32)
        return super().infer(fixed)

    def _infer(self, feeds):
        batch = len(next(iter(feeds.values())))
        if any(len(a) != batch for a in feeds.values()):
            # Inputs on different leading axes (X-CLIP's head: clips and prompts) run in one call,
            # within the profile; only a shared batch axis can be split into chunks.
            return self._run(feeds)
        parts = [self._run({k: v[i:i + self.max_batch] for k, v in feeds.items()})
                 for i in range(0, batch, self.max_batch)]
        return {meta.name: np.concatenate([p[meta.name] for p in parts]) for meta in self.outputs}

    def _run(self, feeds):
        for name, array in feeds.items():
            if not self.context.set_input_shape(name, array.shape):
                raise InputError(f"{self.name}: shape {array.shape} of {name!r} is outside the engine's profile")
            buffer = self._buffers[name]
            raw = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
            buffer.host[:raw.size] = raw
            self.cuda.to_device(buffer, raw.size)
        if not self.context.execute_async_v3(self.cuda.stream_handle):
            raise BackendError(f"{self.name}: execute_async_v3 failed (see the TensorRT log)")
        shapes = {}
        for meta in self.outputs:
            shapes[meta.name] = tuple(self.context.get_tensor_shape(meta.name))
            nbytes = int(np.prod(shapes[meta.name])) * meta.dtype.itemsize
            self.cuda.to_host(self._buffers[meta.name], nbytes)
        self.cuda.synchronize()
        result = {}
        for meta in self.outputs:
            nbytes = int(np.prod(shapes[meta.name])) * meta.dtype.itemsize
            host = self._buffers[meta.name].host[:nbytes]
            result[meta.name] = host.view(meta.dtype).reshape(shapes[meta.name]).copy()
        return result

    def close(self) -> None:
        # Context before engine before runtime, then the CUDA memory they pointed at.
        for attr in ("context", "engine", "runtime"):
            setattr(self, attr, None)
        if getattr(self, "cuda", None) is not None:
            self.cuda.close()
            self.cuda = None


def engine_for_graph(manifest, graph: str, precision: str | None = None) -> str:
    """The engine built for one graph of a video-text artifact (matched by the graph's role)."""
    section = manifest.video_text
    roles = {getattr(section, f"{r}_graph", None): r for r in ("video", "text", "head", "frame")} if section else {}
    role = roles.get(graph) or manifest.files[graph].details.get("role", "video")
    engines = {n: e for n, e in manifest.files.items() if e.kind.startswith("engine")
               and e.details.get("role", "video") == role and (precision is None or e.precision == precision)}
    if not engines:
        raise BackendError(f"the artifact holds no TensorRT engine for its {role} graph {graph}; build them on the "
                           "target with tubelet-engine --artifact DIR --precision fp16, or use backend='onnxruntime'")
    order = {"fp16": 0, "int8": 1}
    return min(engines, key=lambda n: (order.get(engines[n].precision, 2), n))


def _pick_engine(manifest, precision: str | None = None) -> str:
    engines = {n: e for n, e in manifest.files.items() if e.kind == "engine"}
    if precision:
        engines = {n: e for n, e in engines.items() if e.precision == precision}
    if not engines:
        raise BackendError(f"the artifact holds no {precision or ''} TensorRT engine; build one on the target with "
                           f"tubelet-engine --artifact DIR --precision fp16, or use {setting('backend', 'onnxruntime')}")
    order = {"fp16": 0, "int8": 1}
    return min(engines, key=lambda n: (order.get(engines[n].precision, 2), n))


def _verified_bytes(artifact, name: str, entry) -> bytes:
    """Read the engine once and hash exactly those bytes (no window between check and use)."""
    path = artifact.path(name, verify=False)
    if path.is_symlink():
        raise EngineMismatchError(f"{path} is a symbolic link; artifact files must be regular files")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise EngineMismatchError(f"{path} has sha256 {digest[:16]}…, the manifest says {entry.sha256[:16]}…: refusing "
                                  "to deserialize an engine the export did not produce; rebuild the engine")
    return data
