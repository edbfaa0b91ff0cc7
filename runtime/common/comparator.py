"""One comparison of model outputs for every numerical gate: finiteness first, then the numbers.

Export parity (PyTorch vs ONNX Runtime), video-text parity, the FP16 check and the INT8 gate all
ask the same question of two sets of outputs: are they finite, and how far apart are they? This
module answers it once. A gate keeps only its thresholds and its error type:

    result = compare(expected, got)
    if not result.passes(atol=1e-4):
        raise ParityError(f"ONNX differs from PyTorch: {result.describe(atol=1e-4)}")

Any NaN or Inf on either side fails every criterion and is reported with its counts; the distance
numbers are then left uncomputed (inf / NaN here, None in `as_dict`), because `max(0.0, nan)` is 0
and the argmax of an all-NaN row is 0: computed anyway, they would make a broken graph look exact.

Rows are the first axis of each array (a batch); each row is flattened for its cosine and top-1.
Needs numpy only, so the runtime and the engine builder can use it on the robot.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence, Union

import numpy as np

from runtime.cli.errors import TubeletError

Outputs = Union[np.ndarray, Sequence[np.ndarray]]


class ShapeMismatchError(TubeletError, ValueError):
    """The two sides of a comparison do not have the same shapes."""


@dataclass(frozen=True)
class NonFinite:
    """NaN and Inf counts of one side of a comparison."""

    nan: int
    inf: int
    values: int

    @property
    def count(self) -> int:
        return self.nan + self.inf

    def line(self, name: str) -> str:
        return f"{name} has {self.nan} NaN and {self.inf} Inf of {self.values} values"


@dataclass(frozen=True)
class Comparison:
    """How a candidate's outputs compare with a reference's, over `rows` rows."""

    rows: int
    reference: NonFinite
    candidate: NonFinite
    max_abs_error: float  # inf when anything is non-finite
    min_cosine: float  # NaN when anything is non-finite
    mean_cosine: float
    top1_agreement: float  # fraction of rows whose argmax agrees; NaN when anything is non-finite
    names: tuple[str, str] = ("reference", "candidate")  # what the two sides are, for messages

    @property
    def finite(self) -> bool:
        return self.reference.count == 0 and self.candidate.count == 0

    def passes(self, atol: float | None = None, min_cosine: float | None = None,
               min_agreement: float | None = None) -> bool:
        """True when both sides are finite and every threshold given holds."""
        return not self.problems(atol, min_cosine, min_agreement)

    def problems(self, atol: float | None = None, min_cosine: float | None = None,
                 min_agreement: float | None = None) -> list[str]:
        """One phrase per failed criterion, finiteness first; empty when the comparison passes."""
        if self.rows == 0:
            return ["nothing was compared (0 rows)"]
        if not self.finite:
            return [self.nonfinite_line()]
        found = []
        if atol is not None and not self.max_abs_error <= atol:
            found.append(f"max abs error {self.max_abs_error:.3g} > atol {atol:g}")
        if min_cosine is not None and not self.min_cosine >= min_cosine:
            found.append(f"min cosine {self.min_cosine:.6f} < {min_cosine:g}")
        if min_agreement is not None and not self.top1_agreement >= min_agreement:
            found.append(f"top-1 agreement {self.top1_agreement:.1%} < {min_agreement:.1%}")
        return found

    def nonfinite_line(self) -> str:
        sides = [side.line(name) for side, name in zip((self.reference, self.candidate), self.names) if side.count]
        return "non-finite outputs: " + "; ".join(sides) if sides else "all outputs finite"

    def numbers_line(self) -> str:
        if not self.finite:
            return self.nonfinite_line()
        return (f"max abs {self.max_abs_error:.3g}, min cosine {self.min_cosine:.6f}, "
                f"top-1 agreement {self.top1_agreement:.1%} over {self.rows} rows")

    def describe(self, atol: float | None = None, min_cosine: float | None = None,
                 min_agreement: float | None = None) -> str:
        """The failed criteria, then the numbers: one line for an error message."""
        problems = self.problems(atol, min_cosine, min_agreement)
        if not problems:
            return self.numbers_line()
        return "; ".join(problems) + ("" if not self.finite else f" ({self.numbers_line()})")

    def as_dict(self) -> dict:
        """JSON-safe: uncomputed numbers (inf/NaN) become None, which strict JSON can hold."""
        data = asdict(self)
        del data["names"]
        for key in ("max_abs_error", "min_cosine", "mean_cosine", "top1_agreement"):
            if not math.isfinite(data[key]):
                data[key] = None
        data["finite"] = self.finite
        return data


def compare(reference: Outputs, candidate: Outputs, names: tuple[str, str] = ("reference", "candidate")) -> Comparison:
    """Compare candidate outputs with reference outputs: arrays, or equal-length lists of arrays.

    Each pair must have the same shape; a list is compared as the concatenation of its rows.
    `names` say what the two sides are (e.g. ("PyTorch", "ONNX Runtime")) in messages.
    """
    refs, cands = _pairs(reference, candidate, names)
    ref_counts, cand_counts = _nonfinite(refs), _nonfinite(cands)
    rows = sum(int(r.shape[0]) if r.ndim else 1 for r in refs)
    if ref_counts.count or cand_counts.count or rows == 0:
        nan = float("nan")
        return Comparison(rows, ref_counts, cand_counts, float("inf"), nan, nan, nan, tuple(names))
    worst, cosines, agree = 0.0, [], 0
    for ref, cand in zip(refs, cands):
        a, b = _rows(ref), _rows(cand)
        if a.size:
            worst = max(worst, float(np.abs(a - b).max()))
        cosines.append(_row_cosines(a, b))
        if a.shape[1]:
            agree += int((a.argmax(axis=1) == b.argmax(axis=1)).sum())
        else:
            agree += a.shape[0]
    cosine = np.concatenate(cosines)
    return Comparison(rows, ref_counts, cand_counts, worst, float(cosine.min()), float(cosine.mean()),
                      agree / rows, tuple(names))


def _pairs(reference: Outputs, candidate: Outputs, names: tuple[str, str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    refs = [np.asarray(reference)] if isinstance(reference, np.ndarray) else [np.asarray(r) for r in reference]
    cands = [np.asarray(candidate)] if isinstance(candidate, np.ndarray) else [np.asarray(c) for c in candidate]
    if len(refs) != len(cands):
        raise ShapeMismatchError(f"{len(cands)} {names[1]} outputs for {len(refs)} {names[0]} outputs")
    for index, (ref, cand) in enumerate(zip(refs, cands)):
        if ref.shape != cand.shape:
            where = f" (output {index})" if len(refs) > 1 else ""
            raise ShapeMismatchError(f"{names[1]} shape {cand.shape} differs from {names[0]} shape {ref.shape}{where}")
    return refs, cands


def _nonfinite(arrays: list[np.ndarray]) -> NonFinite:
    nan = inf = values = 0
    for array in arrays:
        values += int(array.size)
        if not np.issubdtype(array.dtype, np.inexact):
            continue  # integers are always finite
        nan += int(np.isnan(array).sum())
        inf += int(np.isinf(array).sum())
    return NonFinite(nan, inf, values)


def _rows(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.float64, copy=False)
    return array.reshape(1, -1) if array.ndim == 0 else array.reshape(array.shape[0], -1)


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row cosine; two all-zero rows are identical (1.0), one all-zero row is unrelated (0.0)."""
    dots = (a * b).sum(axis=1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = ~a.any(axis=1) & ~b.any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)
    return np.clip(np.where(both_zero, 1.0, cosine), -1.0, 1.0)
