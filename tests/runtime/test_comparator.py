"""The one comparator every numerical gate uses: finiteness first, then distance, cosine, top-1."""

import json

import numpy as np
import pytest

from runtime.common.comparator import ShapeMismatchError, compare


def logits(rows=4, width=5, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, width)).astype(np.float32)


def test_identical_outputs_are_exact():
    ref = logits()
    result = compare(ref, ref.copy())
    assert result.finite and result.rows == 4
    assert result.max_abs_error == 0.0 and result.min_cosine == pytest.approx(1.0) and result.top1_agreement == 1.0
    assert result.passes(atol=0.0, min_cosine=0.9999, min_agreement=1.0)


def test_all_nan_candidate_fails_every_gate_and_is_counted():
    ref = logits()
    result = compare(ref, np.full_like(ref, np.nan))
    assert not result.finite
    assert result.candidate.nan == ref.size and result.candidate.inf == 0 and result.reference.count == 0
    # No threshold, however loose, lets NaN through (max(0.0, nan) == 0 and argmax(nan row) == 0).
    assert not result.passes(atol=1e9, min_cosine=-1.0, min_agreement=0.0)
    assert not result.passes()
    assert result.problems() == [f"non-finite outputs: candidate has {ref.size} NaN and 0 Inf of {ref.size} values"]
    assert result.max_abs_error == float("inf")


def test_one_inf_in_the_reference_fails_too():
    ref = logits()
    ref[2, 1] = np.inf
    result = compare(ref, logits())
    assert result.reference.inf == 1 and not result.passes(atol=100.0)
    assert "reference has 0 NaN and 1 Inf" in result.describe(atol=100.0)


def test_as_dict_is_strict_json_when_nothing_could_be_computed():
    ref = logits()
    data = compare(ref, np.full_like(ref, np.inf)).as_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["max_abs_error"] is None and data["finite"] is False
    assert data["candidate"] == {"nan": 0, "inf": ref.size, "values": ref.size}


def test_numbers_match_a_direct_computation():
    ref, cand = logits(seed=1), logits(seed=2)
    result = compare(ref, cand)
    a, b = ref.astype(np.float64), cand.astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert result.max_abs_error == pytest.approx(float(np.abs(a - b).max()))
    assert result.min_cosine == pytest.approx(cos.min()) and result.mean_cosine == pytest.approx(cos.mean())
    assert result.top1_agreement == pytest.approx((a.argmax(1) == b.argmax(1)).mean())


def test_thresholds_are_reported_per_criterion():
    ref = logits()
    cand = ref + 0.5
    result = compare(ref, cand)
    problems = result.problems(atol=0.1, min_cosine=-1.0, min_agreement=0.0)
    assert len(problems) == 1 and problems[0].startswith("max abs error 0.5 > atol 0.1")
    assert result.passes(atol=0.6)


def test_flipped_top1_is_counted():
    ref = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    cand = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    result = compare(ref, cand)
    assert result.top1_agreement == 0.5 and not result.passes(min_agreement=0.99)


def test_lists_of_batches_are_one_comparison():
    refs = [logits(1, seed=3), logits(3, seed=4)]
    cands = [r.copy() for r in refs]
    cands[1][2, 0] = np.nan
    result = compare(refs, cands)
    assert result.rows == 4 and result.candidate.nan == 1 and not result.passes()


def test_zero_rows_never_pass():
    result = compare(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))
    assert result.rows == 0 and not result.passes(atol=1.0)


def test_all_zero_rows_on_both_sides_are_identical_but_one_side_zero_is_not():
    zero, ones = np.zeros((2, 3)), np.ones((2, 3))
    assert compare(zero, zero).min_cosine == 1.0
    assert compare(ones, zero).min_cosine == 0.0


def test_shapes_must_match():
    with pytest.raises(ShapeMismatchError, match=r"candidate shape \(4, 6\) differs from reference shape \(4, 5\)"):
        compare(logits(), logits(width=6))
    with pytest.raises(ShapeMismatchError, match="1 candidate outputs for 2 reference outputs"):
        compare([logits(), logits()], [logits()])
    with pytest.raises(ShapeMismatchError, match=r"INT8 shape \(4, 6\) differs from FP32 shape"):
        compare(logits(), logits(width=6), names=("FP32", "INT8"))


def test_messages_name_the_two_sides():
    ref = logits()
    result = compare(ref, np.full_like(ref, np.nan), names=("PyTorch", "ONNX Runtime"))
    assert result.describe(atol=1e-4).startswith("non-finite outputs: ONNX Runtime has 20 NaN and 0 Inf of 20 values")
    assert "names" not in result.as_dict()
