"""Calibration: INT8 from real clips with an accuracy gate, and calibrated confidences.

- `reader.ClipReader`: the one calibration reader (ONNX Runtime's `get_next()` shape), clips
  sampled and preprocessed exactly as the runtime does.
- `int8.quantize_artifact`: model.int8.onnx (explicit Q/DQ) into an artifact, gated vs FP32.
- `quantize.quantize_with_gate`: the same on any ONNX file; `QuantizeOptions`, `QuantizationReport`.
- `legacy_trt.calibrator_for`: TensorRT's IInt8EntropyCalibrator2, for TensorRT 8.6 targets only (JetPack 6.0:
  implicit calibration needs weak typing; TensorRT >= 10 builds INT8 from Q/DQ, 11 removed the calibrators).
- `temperature.calibrate_artifact`: temperature scaling, ECE and a reliability diagram.

Command line: `python -m calibration --help`. Heavy modules (onnxruntime.quantization,
tensorrt, matplotlib) are imported only by the function that needs them.
"""

from calibration.errors import CalibrationDataError, CalibrationError, GateError

__all__ = ["CalibrationDataError", "CalibrationError", "GateError"]
