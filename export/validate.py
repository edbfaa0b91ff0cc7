"""Parity gate: PyTorch vs ONNX Runtime on the same clips, with typed, fatal errors.

Clips are random (normal noise), structured (a moving gradient bar run through the model's own
preprocessing) and at batch 1 and > 1, so a graph that only works at the traced batch or only on
noise fails here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from runtime.artifact import InputSpec, Preprocessing
from runtime.cli.errors import TubeletError
from runtime.common.comparator import Comparison, ShapeMismatchError, compare
from runtime.preprocess import Preprocessor


class ParityError(TubeletError, RuntimeError):
    """ONNX Runtime's outputs differ from PyTorch's beyond the tolerance, or are not finite."""


@dataclass
class ParityReport:
    """A parity gate's verdict: runtime.common.comparator's comparison, the batches it covered, the tolerance."""

    comparison: Comparison
    batches: list[int]
    atol: float

    @property
    def passed(self) -> bool:
        return self.comparison.passes(atol=self.atol)

    @property
    def clips(self) -> int:
        return self.comparison.rows

    @property
    def max_abs_error(self) -> float:
        return self.comparison.max_abs_error

    @property
    def min_cosine(self) -> float:
        return self.comparison.min_cosine

    @property
    def top1_agreement(self) -> float:
        return self.comparison.top1_agreement

    def as_dict(self) -> dict:
        numbers = self.comparison.as_dict()  # JSON-safe: None where NaN/Inf left a number uncomputed
        return {"clips": self.clips, "batches": list(self.batches), "max_abs_error": numbers["max_abs_error"],
                "min_cosine": numbers["min_cosine"], "top1_agreement": numbers["top1_agreement"],
                "nonfinite": {"pytorch": numbers["reference"], "onnx": numbers["candidate"]},
                "atol": self.atol, "passed": self.passed}


def check_atol(atol: float) -> float:
    """The tolerance of a parity gate: a finite number >= 0 (NaN would make every comparison pass or fail)."""
    if not isinstance(atol, (int, float)) or not math.isfinite(atol) or atol < 0:
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}")
    return float(atol)


def gate(name: str, expected, got, batches: list[int], atol: float, strict: bool) -> ParityReport:
    """Compare PyTorch's outputs with ONNX Runtime's (runtime.common.comparator); raise ParityError if strict and off."""
    try:
        comparison = compare(expected, got, names=("PyTorch", "ONNX Runtime"))
    except ShapeMismatchError as exc:
        raise ParityError(f"{name}: {exc}") from None
    report = ParityReport(comparison, batches, atol)
    if strict and not report.passed:
        raise ParityError(
            f"{name}: ONNX Runtime differs from PyTorch over {comparison.rows} rows: "
            f"{comparison.describe(atol=atol)}; "
            + ("the graph produces NaN/Inf: check the model and the opset" if not comparison.finite else
               "raise --atol only if this difference is acceptable for your use"))
    return report


def parity_inputs(spec: InputSpec, pre: Preprocessing, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    random1 = rng.standard_normal(spec.shape(1)).astype(np.float32)
    random3 = rng.standard_normal(spec.shape(3)).astype(np.float32)
    structured = np.stack([_moving_bar_clip(spec, pre, direction) for direction in (1, -1)])
    return [random1, random3, structured]


def _moving_bar_clip(spec: InputSpec, pre: Preprocessing, direction: int) -> np.ndarray:
    """A bright bar sweeping across a gradient, preprocessed exactly as the runtime would."""
    preprocess = Preprocessor(pre)
    height, width = 2 * spec.height, 2 * spec.width
    base = np.tile(np.linspace(0, 160, width, dtype=np.float32), (height, 1))
    frames = []
    for t in range(spec.frames):
        image = np.repeat(base[:, :, None], 3, axis=2)
        x = int((t / max(spec.frames - 1, 1)) * (width - width // 8))
        x = x if direction > 0 else width - width // 8 - x
        image[:, x:x + width // 8] = (255, 200, 40)
        frames.append(preprocess(image.astype(np.uint8)))
    clip = np.stack(frames)  # T, C, H, W
    return clip if spec.layout == "NTCHW" else clip.transpose(1, 0, 2, 3)


def check_parity(module, backend, spec: InputSpec, pre: Preprocessing, atol: float = 1e-4,
                 strict: bool = True, seed: int = 0) -> ParityReport:
    import torch

    atol = check_atol(atol)
    expected, got, batches = [], [], []
    for batch in parity_inputs(spec, pre, seed):
        with torch.no_grad():
            expected.append(module(torch.from_numpy(batch)).numpy())
        got.append(backend.infer({spec.name: batch})[backend.outputs[0].name])
        batches.append(len(batch))
    return gate("export parity", expected, got, batches, atol, strict)
