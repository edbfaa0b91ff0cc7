"""model.int8.onnx into an artifact: clips from a data spec → gated quantization → manifest.

The INT8 graph is written beside the artifact's files under a temporary name and renamed into
place only after it passed the gate; the manifest is updated last, so a failed or interrupted
calibration leaves the artifact exactly as it was. Beside it goes model.int8.fp16.onnx, the same
calibrated Q/DQ graph with FP16 compute where it is not quantized: what strongly typed TensorRT
builds INT8 from (calibration/qdq_fp16.py), written only when it passes its own gate against FP32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from calibration.errors import CalibrationError
from calibration.qdq_fp16 import TRT_INT8_NAME, stage_fp16_qdq
from calibration.quantize import QuantizationReport, QuantizeOptions, check_op_types, quantize_with_gate
from calibration.reader import ClipReader, sample_clips
from runtime.artifact import describe_file, load_artifact, read_manifest, write_manifest

INT8_NAME = "model.int8.onnx"


@dataclass
class Int8Result:
    path: Path
    report: QuantizationReport
    calib_digest: str


def read_calibration_sets(manifest, spec: str, clips: int = 64, holdout: float = 0.25,
                          eval_spec: str | None = None, window_stride: int | None = None,
                          progress: bool = False) -> tuple[ClipReader, ClipReader]:
    """(calibration, held-out) readers: split from one spec by stream, or from a separate eval spec."""
    name = manifest.input.name
    if eval_spec:
        calib = ClipReader(sample_clips(manifest, spec, clips, window_stride, progress=progress), name)
        heldout_count = max(2, round(clips * holdout / (1.0 - holdout)))
        heldout = ClipReader(sample_clips(manifest, eval_spec, heldout_count, window_stride, progress=progress), name)
        return calib, heldout
    total = max(2, round(clips / (1.0 - holdout)))  # `clips` calibrate; the rest are held out
    return ClipReader(sample_clips(manifest, spec, total, window_stride, progress=progress), name).split(holdout)


def quantize_artifact(folder: str | os.PathLike, spec: str, options: QuantizeOptions | None = None,
                      clips: int = 64, holdout: float = 0.25, eval_spec: str | None = None,
                      window_stride: int | None = None, log: Callable[[str], None] = lambda _: None,
                      progress: bool = False) -> Int8Result:
    """Calibrate and gate INT8 for an artifact; add model.int8.onnx and its figures to the manifest."""
    options = options or QuantizeOptions()
    options.check()
    if options.quant_format != "qdq":
        raise CalibrationError(f"an artifact's {INT8_NAME} must be Q/DQ (the form TensorRT builds from), "
                               f"got format {options.quant_format!r}")
    folder = Path(folder)
    artifact = load_artifact(folder)  # verifies every hash before anything is read
    manifest = artifact.manifest
    fp32 = manifest.file_of_kind("onnx", "fp32")
    if fp32 is None:
        raise CalibrationError(f"{folder} holds no fp32 ONNX model to quantize (export one with export/build_engine.py)")
    if manifest.file_of_kind("onnx_data") is not None:
        raise CalibrationError(f"{folder}/{fp32} keeps its weights as external data (> 2 GB); INT8 calibration of "
                               "such models is not supported yet")
    check_op_types(artifact.path(fp32), options.op_types)  # before reading clips, the first long step
    calib, heldout = read_calibration_sets(manifest, spec, clips, holdout, eval_spec, window_stride, progress)
    staging = folder / f".{INT8_NAME}.tmp-{os.getpid()}"
    trt_staging = folder / f".{TRT_INT8_NAME}.tmp-{os.getpid()}"
    try:
        report = quantize_with_gate(artifact.path(fp32), staging, calib, heldout, options, log, progress)
        # Strongly typed TensorRT builds INT8 from the same Q/DQ graph in FP16 (calibration/qdq_fp16.py).
        trt_details, trt_gate = stage_fp16_qdq(artifact.path(fp32), staging, trt_staging, heldout,
                                               options.min_agreement, options.min_cosine, options.threads, log,
                                               keep_fp32=_export_keep_fp32(manifest))
        os.replace(staging, folder / INT8_NAME)
        if trt_gate["passed"]:
            os.replace(trt_staging, folder / TRT_INT8_NAME)
    finally:
        staging.unlink(missing_ok=True)
        trt_staging.unlink(missing_ok=True)
    digest = calib.digest()
    _record(folder, report, spec, digest, trt_details, trt_gate)
    return Int8Result(folder / INT8_NAME, report, digest)


def _export_keep_fp32(manifest) -> list[str]:
    """The --keep-fp32 patterns the export kept FP32 in model.fp16.onnx: the INT8 graph in FP16 keeps them too."""
    name = manifest.file_of_kind("onnx", "fp16")
    return list(manifest.files[name].details.get("keep_fp32", [])) if name else []


def _record(folder: Path, report: QuantizationReport, spec: str, digest: str, trt_details: dict | None = None,
            trt_gate: dict | None = None) -> None:
    import onnx

    path = folder / INT8_NAME
    opset = next((o.version for o in onnx.load(str(path), load_external_data=False).opset_import
                  if o.domain in ("", "ai.onnx")), None)
    manifest = read_manifest(folder)  # fresh: keep whatever else changed in the meantime
    figures = report.as_dict()
    figures["calibration_data"] = spec
    figures["calibration_digest"] = digest
    manifest.files[INT8_NAME] = describe_file(path, "onnx", precision="int8", opset=opset, details={
        "format": "QDQ", "method": report.method, "activations": "int8 symmetric per-tensor",
        "weights": "int8 symmetric per-channel", "op_types": report.op_types, "excluded": report.excluded,
        "float_attention_probs": report.float_by_rule,
        "int8_ops": report.census, "gate": report.gate.as_dict(),
        "calibration": {"data": spec, "clips": report.calibration_clips, "digest": digest}})
    manifest.validation["int8"] = figures
    earlier = manifest.files.pop(TRT_INT8_NAME, None)  # from an earlier calibration: not these scales
    if trt_gate is not None:
        manifest.validation["int8_fp16"] = trt_gate
        if trt_gate["passed"]:
            manifest.files[TRT_INT8_NAME] = describe_file(folder / TRT_INT8_NAME, "onnx", precision="int8",
                                                          opset=trt_details["opset"], details={**trt_details,
                                                          "gate": trt_gate, "calibration": {"digest": digest}})
        elif earlier is not None:
            (folder / TRT_INT8_NAME).unlink(missing_ok=True)
    write_manifest(folder, manifest)
