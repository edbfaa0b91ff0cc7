"""What the retrieval sweep (bench/bench_retrieval_sweep.py) counts in one clips x texts matrix."""

from __future__ import annotations

import numpy as np


def count_hits(similarity: np.ndarray) -> dict:
    """Counts for a matrix laid out as `python -m runtime.videotext.retrieve`'s: n clips, then n own
    descriptions (text i describes clip i), then n twin descriptions (text n + i, clip i's twin).
    No clip shows a twin action, so only the own descriptions are scored on the text side."""
    clips = similarity.shape[0]
    if similarity.shape != (clips, 2 * clips):
        raise ValueError(f"similarity must be clips x (2 * clips) texts, got shape {similarity.shape}; "
                         "pass the exercise's own texts (own descriptions, then twins')")
    best_text = similarity.argmax(axis=1)
    best_clip = similarity[:, :clips].argmax(axis=0)
    own = np.arange(clips)
    return {"clips_own": int((best_text == own).sum()), "texts_own": int((best_clip == own).sum()),
            "clips_twin": int((best_text == own + clips).sum()), "of": clips}
