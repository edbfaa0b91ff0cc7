"""What the retrieval sweep (bench/bench_retrieval_sweep.py) counts per render seed (testbed/retrieval_counts.py)."""

import numpy as np
import pytest

from testbed.retrieval_counts import count_hits


def test_count_hits_own_twin_and_text_side():
    # 2 clips, texts: own0, own1, twin0, twin1
    sim = np.array([[0.9, 0.1, 0.2, 0.0],    # clip 0 → own description
                    [0.1, 0.3, 0.2, 0.8]])   # clip 1 → its twin's description
    assert count_hits(sim) == {"clips_own": 1, "texts_own": 2, "clips_twin": 1, "of": 2}


def test_count_hits_text_side_ignores_twin_texts():
    sim = np.array([[0.1, 0.9, 0.0, 0.0],
                    [0.2, 0.5, 0.0, 0.0]])   # both own texts pick a wrong clip or clip 0
    assert count_hits(sim)["texts_own"] == 0


def test_count_hits_rejects_a_matrix_of_the_wrong_shape():
    with pytest.raises(ValueError, match="clips x"):
        count_hits(np.zeros((2, 3)))

