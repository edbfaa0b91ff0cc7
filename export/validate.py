"""Parity gate: PyTorch vs ONNX Runtime on the same clips, with typed, fatal errors.

Clips are random (normal noise), structured (a moving gradient bar run through the model's own
preprocessing) and at batch 1 and > 1, so a graph that only works at the traced batch or only on
noise fails here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from runtime.artifact import InputSpec, Preprocessing
from runtime.preprocess import Preprocessor


class ParityError(RuntimeError):
    """ONNX Runtime's outputs differ from PyTorch's beyond the tolerance."""


@dataclass
class ParityReport:
    clips: int
    batches: list[int]
    max_abs_error: float
    min_cosine: float
    top1_agreement: float
    atol: float
    passed: bool

    def as_dict(self) -> dict:
        return asdict(self)


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

    worst, cosines, agree, total, batches = 0.0, [], 0, 0, []
    for batch in parity_inputs(spec, pre, seed):
        with torch.no_grad():
            expected = module(torch.from_numpy(batch)).numpy()
        got = backend.infer({spec.name: batch})[backend.outputs[0].name]
        if got.shape != expected.shape:
            raise ParityError(f"ONNX output shape {got.shape} differs from PyTorch's {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
        for a, b in zip(got.reshape(len(batch), -1), expected.reshape(len(batch), -1)):
            cosines.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)))
        agree += int((got.argmax(-1) == expected.argmax(-1)).sum())
        total += len(batch)
        batches.append(len(batch))
    report = ParityReport(total, batches, worst, min(cosines), agree / total, atol, worst <= atol)
    if strict and not report.passed:
        raise ParityError(
            f"ONNX Runtime differs from PyTorch by {worst:.3g} (max abs) > atol {atol:g} over {total} clips "
            f"(min cosine {report.min_cosine:.6f}, top-1 agreement {report.top1_agreement:.1%}); "
            "raise --atol only if this difference is acceptable for your use"
        )
    return report
