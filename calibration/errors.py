"""Typed errors of the calibration package: each says what failed, the value, and the fix."""

from __future__ import annotations

from runtime.cli.errors import TubeletError


class CalibrationError(TubeletError):
    """Base of every calibration error."""


class CalibrationDataError(CalibrationError, ValueError):
    """The calibration data spec is empty, unreadable, or yields no clips."""


class GateError(CalibrationError):
    """The INT8 model fails the accuracy gate even after keeping the allowed layers in float.

    `report` holds the figures (a `QuantizationReport`), so callers can print or record them.
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class NothingQuantizedError(GateError):
    """The quantized model would hold no INT8 op: it would run as FP32 under an INT8 name."""
