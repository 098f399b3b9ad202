"""Operating-point constraints met exactly: decided on counts, never on twice-rounded rates (issue 16, item 7).

References run in the test: an exact scan in ``fractions.Fraction`` over every threshold, and torchmetrics'
operating-point metrics. torchmetrics computes ``1 - fpr`` in floating point too, so it misses some exact
boundaries (1 of 3 negatives at ``min_specificity=1/3`` in float32); it is given the minimum less 1e-5, which
no rate with a denominator up to 40 lies within, so its feasible set is the exact one.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.functional.classification import (
    binary_sensitivity_at_specificity,
    binary_specificity_at_sensitivity,
    multiclass_sensitivity_at_specificity,
    multiclass_specificity_at_sensitivity,
    multilabel_sensitivity_at_specificity,
    multilabel_specificity_at_sensitivity,
)

from lightning_evalkit import SensitivityAtSpecificity, SpecificityAtSensitivity
from lightning_evalkit.classification.operating_points import needed_count
from lightning_evalkit.functional import sensitivity_at_specificity, specificity_at_sensitivity

MARGIN = 1e-5  # below 1 / 40**2, the closest two rates with denominators up to 40 can be
OURS = {"sensitivity": sensitivity_at_specificity, "specificity": specificity_at_sensitivity}
NAME = {"sensitivity": "min_specificity", "specificity": "min_sensitivity"}
TORCHMETRICS = {
    ("binary", "sensitivity"): binary_sensitivity_at_specificity,
    ("binary", "specificity"): binary_specificity_at_sensitivity,
    ("multiclass", "sensitivity"): multiclass_sensitivity_at_specificity,
    ("multiclass", "specificity"): multiclass_specificity_at_sensitivity,
    ("multilabel", "sensitivity"): multilabel_sensitivity_at_specificity,
    ("multilabel", "specificity"): multilabel_specificity_at_sensitivity,
}


def _exact_scan(scores: np.ndarray, positive: np.ndarray, maximise: str, minimum: Fraction) -> tuple[float, float]:
    """The best point of one binary problem, every comparison in exact rationals; first (highest threshold) on ties."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    best: tuple[Fraction, float] | None = None
    for t in [float("inf"), *sorted(set(scores.tolist()), reverse=True)]:
        tp, tn = int((positive & (scores >= t)).sum()), int((~positive & (scores < t)).sum())
        value, constraint = (Fraction(tp, n_pos), Fraction(tn, n_neg))[:: 1 if maximise == "sensitivity" else -1]
        if constraint >= minimum and (best is None or value > best[0]):
            best = (value, t)
    assert best is not None
    return float(best[0]), best[1]


def test_issue_case_one_of_ten_negatives_meets_min_specificity_point_one() -> None:
    """9 false positives out of 10 negatives: the specificity is 1/10, which meets 0.1 (1 - 9/10 < 0.1 in floats)."""
    scores = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.05], dtype=torch.float64)
    target = torch.tensor([0] * 10 + [1])
    expected = (torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.05, dtype=torch.float64))
    assert sensitivity_at_specificity(scores, target, "binary", min_specificity=0.1) == expected
    metric = SensitivityAtSpecificity("binary", min_specificity=0.1)
    metric.update(scores[:4], target[:4])
    metric.update(scores[4:], target[4:])
    assert metric.compute() == expected
    # the mirror case: 1 of 10 positives caught meets min_sensitivity=0.1, at the highest threshold that does
    flipped = SpecificityAtSensitivity("binary", min_sensitivity=0.1)
    flipped.update(1 - scores, 1 - target)
    assert flipped.compute() == (torch.tensor(1.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))


def test_needed_count_meets_every_fraction_exactly() -> None:
    for total in range(1, 101):
        for k in range(total + 1):
            assert needed_count(k / total, total) == k, (k, total)
            if k < total:  # a hair above k / total takes one more
                assert needed_count(np.nextafter(k / total, 2.0) if k else 1e-300, total) == k + 1, (k, total)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 1.0), st.integers(1, 10**6))
def test_needed_count_is_the_fewest_count_whose_rounded_rate_meets(minimum: float, total: int) -> None:
    needed = needed_count(minimum, total)
    assert needed / total >= minimum and (needed == 0 or (needed - 1) / total < minimum)


def _binary_case(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    n = draw(st.integers(2, 40))
    scores = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    labels = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    labels[:2] = [False, True]
    return torch.tensor(scores, dtype=torch.float64) / 10, torch.tensor(labels, dtype=torch.long)


@st.composite
def binary_cases(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, str, int]:
    """Scores on a 10-point grid (many ties), and a minimum k / n over the constrained class: met exactly."""
    scores, target = _binary_case(draw)
    maximise = draw(st.sampled_from(["sensitivity", "specificity"]))
    total = int((target == (0 if maximise == "sensitivity" else 1)).sum())
    return scores, target, maximise, draw(st.integers(0, total))


@settings(max_examples=150, deadline=None)
@given(binary_cases())
def test_binary_constraint_met_exactly_equals_exact_scan_and_torchmetrics(case) -> None:
    scores, target, maximise, k = case
    total = int((target == (0 if maximise == "sensitivity" else 1)).sum())
    value, threshold = OURS[maximise](scores, target, "binary", **{NAME[maximise]: k / total})
    expected = _exact_scan(scores.numpy(), target.numpy() == 1, maximise, Fraction(k, total))
    assert (float(value), float(threshold)) == expected
    tm_value, tm_threshold = TORCHMETRICS["binary", maximise](scores, target, max(k / total - MARGIN, 0.0))
    assert float(value) == pytest.approx(float(tm_value), abs=1e-6)
    assert (1.0 if threshold.isinf() else float(threshold)) == float(tm_threshold)  # torchmetrics' "inf" is 1.0


@st.composite
def class_cases(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, str, str, Fraction]:
    """Multiclass or multilabel scores on a 10-point grid, every class with both labels, a minimum k / n of one
    class (met exactly there; the others are checked against the same minimum)."""
    task = draw(st.sampled_from(["multiclass", "multilabel"]))
    n = draw(st.integers(6, 40))
    scores = torch.tensor(draw(st.lists(st.integers(0, 9), min_size=3 * n, max_size=3 * n))).reshape(n, 3)
    if task == "multiclass":
        target = torch.tensor([0, 1, 2, *draw(st.lists(st.integers(0, 2), min_size=n - 3, max_size=n - 3))])
        positive = target.unsqueeze(1) == torch.arange(3)
    else:
        target = torch.tensor(draw(st.lists(st.integers(0, 1), min_size=3 * n, max_size=3 * n))).reshape(n, 3)
        target[:2] = torch.tensor([[0, 0, 0], [1, 1, 1]])
        positive = target == 1
    maximise = draw(st.sampled_from(["sensitivity", "specificity"]))
    c = draw(st.integers(0, 2))
    total = int((positive[:, c] if maximise == "specificity" else ~positive[:, c]).sum())
    return scores.double() / 10, target, task, maximise, Fraction(draw(st.integers(0, total)), total)


@settings(max_examples=100, deadline=None)
@given(class_cases())
def test_class_constraint_met_exactly_equals_exact_scan_and_torchmetrics(case) -> None:
    scores, target, task, maximise, minimum = case
    count_arg = {"num_classes": 3} if task == "multiclass" else {"num_labels": 3}
    values, thresholds = OURS[maximise](scores, target, task, **{NAME[maximise]: float(minimum)}, **count_arg)
    positive = target.unsqueeze(1) == torch.arange(3) if task == "multiclass" else target == 1
    tm_values, tm_thresholds = TORCHMETRICS[task, maximise](
        scores, target, *count_arg.values(), max(float(minimum) - MARGIN, 0.0)
    )
    for c in range(3):
        expected = _exact_scan(scores[:, c].numpy(), positive[:, c].numpy(), maximise, minimum)
        assert (float(values[c]), float(thresholds[c])) == expected, c
        assert float(values[c]) == pytest.approx(float(tm_values[c]), abs=1e-6), c
        ours = 1.0 if thresholds[c].isinf() else float(thresholds[c])
        assert ours == pytest.approx(float(tm_thresholds[c]), abs=1e-7), c
