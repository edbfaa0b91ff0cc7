"""Logits → scores and labels."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax over the last axis, after dividing by the temperature."""
    scaled = np.asarray(logits, dtype=np.float64) / float(temperature)
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def top_k(scores: np.ndarray, labels: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The k best (label, score) pairs of one score vector, best first."""
    k = max(1, min(k, scores.shape[-1]))
    best = np.argsort(-scores, kind="stable")[:k]
    return [(labels[i] if i < len(labels) else str(i), float(scores[i])) for i in best]
