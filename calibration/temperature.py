"""Confidence calibration: one temperature T, fitted on labelled clips by minimizing the NLL.

The runtime divides logits by the manifest's `temperature` before its softmax
(runtime.postprocess.softmax), so a fitted T changes the scores a robot acts on but never the
ranking. Expected calibration error (15 equal-width confidence bins) is reported before and after,
with a reliability diagram.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from calibration.errors import CalibrationDataError, CalibrationError
from calibration.reader import ClipReader, sample_clips
from runtime.artifact import describe_file, load_artifact, read_manifest, write_manifest
from runtime.postprocess import softmax

BINS = 15
# exp(±3) ≈ 0.05..20: wider than any useful temperature, narrow enough to stay finite.
LOG_T_BOUNDS = (-3.0, 3.0)


@dataclass
class TemperatureReport:
    temperature: float
    clips: int
    accuracy: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    bins: int
    precision: str
    data: str
    diagram: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels after dividing logits by T."""
    scaled = np.asarray(logits, np.float64) / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iterations: int = 80) -> float:
    """Golden-section search for the NLL minimum over log T (NLL is unimodal in T)."""
    logits, labels = _check(logits, labels)
    low, high = LOG_T_BOUNDS
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(logits, labels, math.exp(a)), nll(logits, labels, math.exp(b))
    for _ in range(iterations):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(logits, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(logits, labels, math.exp(b))
    return float(math.exp((low + high) / 2.0))


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: |accuracy - confidence| per confidence bin, weighted by count."""
    confidence, correct = _confidence(probs, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Right-closed bins (lo, hi], as in Guo et al. 2017; a confidence of exactly 0 cannot occur.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def reliability_diagram(before: np.ndarray, after: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
                        temperature: float, bins: int = BINS) -> Path:
    """PNG: accuracy vs confidence per bin, before and after scaling, with the diagonal."""
    from runtime.backends.base import require

    matplotlib = require("matplotlib", "calibration", "the reliability diagram")
    matplotlib.use("Agg")  # files only: no display on robots or CI
    import matplotlib.pyplot as plt

    edges = np.linspace(0.0, 1.0, bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
    for ax, probs, title in ((axes[0], before, "before (T = 1)"), (axes[1], after, f"after (T = {temperature:.3f})")):
        confidence, correct = _confidence(probs, labels)
        which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
        acc = np.array([correct[which == b].mean() if (which == b).any() else 0.0 for b in range(bins)])
        ax.bar(centers, acc, width=1.0 / bins, edgecolor="black", color="#4c72b0", label="accuracy")
        ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
        ax.set_title(f"{title}: ECE {ece(probs, labels, bins):.3f}")
        ax.set_xlabel("confidence")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _check_plotting() -> None:
    from runtime.backends.base import MissingDependencyError, require

    try:
        require("matplotlib", "calibration", "the reliability diagram")
    except MissingDependencyError as exc:
        raise CalibrationError(f"{exc}; or pass --no-diagram to fit the temperature without it") from None


def calibrate_artifact(folder: str | os.PathLike, spec: str, clips: int = 256, precision: str = "fp32",
                       diagram: str | os.PathLike | None = "reliability.png", window_stride: int | None = None,
                       threads: int | None = None, log: Callable[[str], None] = lambda _: None,
                       progress: bool = False) -> TemperatureReport:
    """Fit T on labelled clips of a data spec and write it into the artifact's manifest."""
    from calibration.gate import run_logits

    folder = Path(folder)
    artifact = load_artifact(folder)
    m = artifact.manifest
    model = m.file_of_kind("onnx", precision)
    if model is None:
        raise CalibrationError(f"{folder} holds no {precision} ONNX model; run the int8 calibration first or use fp32")
    if diagram is not None:
        _check_plotting()  # before the clips are read and the fit runs, not after
    reader = ClipReader(sample_clips(m, spec, clips, window_stride, labelled=True, progress=progress), m.input.name)
    labels = _label_indices(reader.labels, m.labels, spec)
    log(f"fitting the temperature on {len(labels)} labelled clips ({precision} model)")
    logits = run_logits(artifact.path(model), reader, threads)
    t = fit_temperature(logits, labels)
    before, after = softmax(logits, 1.0), softmax(logits, t)
    report = TemperatureReport(t, len(labels), float((logits.argmax(1) == labels).mean()), nll(logits, labels),
                               nll(logits, labels, t), ece(before, labels), ece(after, labels), BINS, precision, spec)
    if diagram is not None:
        target = Path(diagram)
        target = target if target.is_absolute() or target.parent != Path(".") else folder / target
        report.diagram = str(reliability_diagram(before, after, labels, target, t))
    manifest = read_manifest(folder)  # fresh, then write once: the manifest changes last
    manifest.temperature = t
    manifest.validation["temperature"] = report.as_dict()
    if report.diagram and Path(report.diagram).parent.resolve() == folder.resolve():
        name = Path(report.diagram).name
        manifest.files[name] = describe_file(folder / name, "other", details={"what": "reliability diagram"})
        manifest.validation["temperature"]["diagram"] = name
    write_manifest(folder, manifest)
    return report


def _label_indices(names: list, known: list[str], spec: str) -> np.ndarray:
    index = {name: i for i, name in enumerate(known)}
    unknown = sorted({n for n in names if n not in index})
    if unknown:
        raise CalibrationDataError(
            f"labels {unknown[:5]} in {spec!r} are not among the model's labels ({', '.join(known[:8])}"
            f"{', ...' if len(known) > 8 else ''}); name the class folders after the model's labels")
    return np.array([index[n] for n in names], np.int64)


def _check(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    if logits.ndim != 2 or len(logits) == 0 or len(labels) != len(logits):
        raise CalibrationDataError(f"need (N, classes) logits and N labels, got {logits.shape} and {labels.shape}")
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise CalibrationDataError(f"labels must be in [0, {logits.shape[1]}), got {labels.min()}..{labels.max()}")
    if not np.isfinite(logits).all():
        raise CalibrationDataError("logits contain NaN or Inf; the model output is broken")
    return logits, labels


def _confidence(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, np.float64)
    return probs.max(axis=1), (probs.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
