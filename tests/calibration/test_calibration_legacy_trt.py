"""The legacy TensorRT calibrator: its cache key logic here; the calibrator itself where TensorRT 8.6 is
(and against the real bindings of every release in tests/tensorrt_api)."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.legacy_trt import CacheKey, CalibrationCache
from calibration.reader import ClipReader, ClipSample


def _key(**changes):
    base = dict(onnx_sha256="a" * 64, clips_digest="b" * 64, tensorrt_version="8.6.1")
    return CacheKey(**{**base, **changes})


def test_cache_is_reused_only_for_the_same_model_clips_and_version(tmp_path):
    onnx_path = tmp_path / "model.onnx"
    cache = CalibrationCache.beside(onnx_path, _key())
    assert cache.read() is None  # nothing yet: TensorRT calibrates
    cache.write(b"TRT-8601-EntropyCalibration2\ninput: 3c010a14\n")
    assert CalibrationCache.beside(onnx_path, _key()).read() == b"TRT-8601-EntropyCalibration2\ninput: 3c010a14\n"
    for changed in (_key(onnx_sha256="c" * 64), _key(clips_digest="d" * 64), _key(tensorrt_version="8.6.2")):
        other = CalibrationCache.beside(onnx_path, changed)
        assert other.path != cache.path and other.read() is None
        # Even pointed at the same table file, a different key refuses it.
        assert CalibrationCache(cache.path, changed).read() is None


def test_a_damaged_key_file_means_recalibration(tmp_path):
    cache = CalibrationCache(tmp_path / "t.calib", _key())
    cache.write(b"table")
    cache.key_path.write_text("{not json")
    assert cache.read() is None


def test_clip_digest_changes_with_any_clip_byte():
    clips = [ClipSample(np.zeros((2, 3), np.float32), None, "s", 0, 0, 0) for _ in range(3)]
    a = ClipReader(clips, "x").digest()
    clips[2].array[1, 2] = 1e-7
    assert ClipReader(clips, "x").digest() != a


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_entropy_calibrator_feeds_tensorrt(tmp_path):
    trt = pytest.importorskip("tensorrt", reason="needs TensorRT 8.6 (JetPack 6.0's system TensorRT) and a GPU")
    pytest.importorskip("cuda", reason="needs cuda-python for device buffers")
    if int(trt.__version__.split(".")[0]) >= 10:
        pytest.skip(f"the legacy calibrator serves TensorRT 8.6 targets; this is TensorRT {trt.__version__} "
                    "(its refusal there is tested in tests/tensorrt_api)")
    from calibration.legacy_trt import calibrator_for

    samples = [ClipSample(np.full((4,), i, np.float32), None, f"s{i}", 0, 0, 0) for i in range(4)]
    reader = ClipReader(samples, "x", batch_size=2)
    calibrator = calibrator_for(tmp_path / "m.onnx", "e" * 64, reader)
    assert isinstance(calibrator, trt.IInt8EntropyCalibrator2)
    assert calibrator.get_batch_size() == 2
    assert len(calibrator.get_batch(["x"])) == 1 and len(calibrator.get_batch(["x"])) == 1
    assert calibrator.get_batch(["x"]) is None
    assert calibrator.read_calibration_cache() is None
    calibrator.write_calibration_cache(b"table")
    assert calibrator.read_calibration_cache() == b"table"
    calibrator.free()
