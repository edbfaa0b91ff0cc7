"""Legacy TensorRT INT8 calibration (IInt8EntropyCalibrator2), for TensorRT 8.6 targets (JetPack 6.0).

Implicit calibration needs a weakly typed network. The engine builder builds weakly typed on
TensorRT 8.6 only (from 10 on it builds strongly typed, where INT8 comes from explicit Q/DQ graphs,
`calibration.quantize`), and TensorRT 11 removed the calibrators, so this path serves 8.6: the FP32
ONNX, this calibrator and a calibration profile for the dynamic batch axis
(`runtime.backends.tensorrt.artifact_engines.add_engines(folder, BuildOptions(precision="int8"),
calibrator=...)`). It reads the same clips as every other INT8 path (`ClipReader`) and keeps
TensorRT's calibration table in a cache file whose key is the ONNX file's sha256, the clip set's
digest and the TensorRT version: change any of them and the table is recomputed rather than
silently reused.

`tensorrt` and `cuda-python` are imported only when a calibrator is created.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from calibration.errors import CalibrationError
from calibration.reader import ClipReader
from runtime.backends.base import require


@dataclass(frozen=True)
class CacheKey:
    onnx_sha256: str
    clips_digest: str
    tensorrt_version: str
    algorithm: str = "entropy2"

    def tag(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


class CalibrationCache:
    """TensorRT's own calibration table (plain bytes, usable by trtexec --calib) + a key sidecar."""

    def __init__(self, path: str | os.PathLike, key: CacheKey):
        self.path = Path(path)
        self.key = key
        self.key_path = self.path.with_name(self.path.name + ".key.json")

    @classmethod
    def beside(cls, onnx_path: str | os.PathLike, key: CacheKey) -> "CalibrationCache":
        onnx_path = Path(onnx_path)
        return cls(onnx_path.with_name(f"{onnx_path.stem}.int8-{key.tag()}.calib"), key)

    def read(self) -> bytes | None:
        """The table if its key matches ours exactly, else None (TensorRT then calibrates)."""
        if not (self.path.is_file() and self.key_path.is_file()):
            return None
        try:
            stored = json.loads(self.key_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if stored != asdict(self.key):
            return None
        return self.path.read_bytes()

    def write(self, table: bytes) -> None:
        # Table first, key last, each atomically: a crash between them leaves a table without a
        # matching key, which `read` ignores.
        for target, data in ((self.path, bytes(table)), (self.key_path, json.dumps(asdict(self.key), indent=1).encode())):
            tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, target)


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        cudart = require("cuda.cudart", "trt", "the legacy TensorRT INT8 calibrator")
    return cudart


def _check(result, what: str):
    err = result[0]
    if int(err) != 0:
        raise CalibrationError(f"CUDA {what} failed with error {err}")
    return result[1] if len(result) > 1 else None


def make_entropy_calibrator(reader: ClipReader, cache: CalibrationCache):
    """An `IInt8EntropyCalibrator2` fed by `reader`, caching its table in `cache`.

    Use with `config.set_flag(trt.BuilderFlag.INT8)` and `config.int8_calibrator = calibrator`; for a
    network with a dynamic batch axis also `config.set_calibration_profile(profile)` with a profile
    whose shapes admit `reader.batch_size`.
    """
    trt = require("tensorrt", "trt", "the legacy TensorRT INT8 calibrator")
    cudart = _cudart()

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11 needs the base constructor called
            self.reader, self.cache = reader, cache
            first = reader.samples[0].array
            self.batch_shape = (reader.batch_size,) + first.shape
            self.nbytes = int(np.prod(self.batch_shape)) * np.dtype(np.float32).itemsize
            self.device = _check(cudart.cudaMalloc(self.nbytes), "cudaMalloc")
            reader.rewind()

        def get_batch_size(self) -> int:
            return self.reader.batch_size

        def get_batch(self, names):
            feed = self.reader.get_next()
            if feed is None:
                return None  # no more batches: TensorRT computes the scales
            batch = np.ascontiguousarray(feed[self.reader.input_name], dtype=np.float32)
            if batch.shape != self.batch_shape:  # a short last batch would be read past its end
                return None
            _check(cudart.cudaMemcpy(self.device, batch.ctypes.data, self.nbytes,
                                     cudart.cudaMemcpyKind.cudaMemcpyHostToDevice), "cudaMemcpy")
            return [int(self.device)]  # one input (pixel_values): one device pointer

        def read_calibration_cache(self):
            return self.cache.read()

        def write_calibration_cache(self, table) -> None:
            self.cache.write(bytes(table))

        def free(self) -> None:
            if self.device is not None:
                cudart.cudaFree(self.device)
                self.device = None

    return EntropyCalibrator()


def calibrator_for(onnx_path: str | os.PathLike, onnx_sha256: str, reader: ClipReader):
    """The calibrator and its cache file beside the ONNX file, keyed on everything that matters."""
    trt = require("tensorrt", "trt", "the legacy TensorRT INT8 calibrator")
    from packaging.version import Version

    if Version(trt.__version__).major >= 10 or not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise CalibrationError(f"TensorRT {trt.__version__} builds strongly typed engines, which take INT8 only from "
                               "explicit Q/DQ: build from model.int8.onnx (python -m calibration); the legacy "
                               "calibrator serves TensorRT 8.6 (JetPack 6.0)")
    key = CacheKey(onnx_sha256, reader.digest(), trt.__version__)
    return make_entropy_calibrator(reader, CalibrationCache.beside(onnx_path, key))
