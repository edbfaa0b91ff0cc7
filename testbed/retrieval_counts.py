"""What the retrieval sweep (bench/bench_retrieval_sweep.py) counts in one clips x texts matrix."""

from __future__ import annotations

import numpy as np

# The sweep's render seeds (clip i of seed s renders with s + i): at least 8 apart, so no clip is
# shared between two seeds, and past every clip a video-text recipe of seed 0 renders in up to
# 100,000 steps of 48 (training.videotext.render_seeds: 0 to 4.8 million), below seed 1's 10 million.
UNSEEN_RENDER_SEEDS = (5_000_011, 5_000_023, 5_000_031, 5_000_041, 5_000_053, 5_000_061, 5_000_073, 5_000_081,
                       5_000_093, 5_000_101)


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
