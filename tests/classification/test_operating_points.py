"""Sensitivity at specificity, specificity at sensitivity and the "best" threshold, against brute-force scans."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_curve

from lightning_evalkit import SensitivityAtSpecificity, SpecificityAtSensitivity
from lightning_evalkit.classification.operating_points import operating_point_from_counts
from lightning_evalkit.functional import (
    curve_counts,
    optimal_threshold,
    roc,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    youden_threshold,
)


def _sklearn_scan(scores: np.ndarray, target: np.ndarray, maximise: str, minimum: float) -> tuple[float, float]:
    """Every point of scikit-learn's full ROC curve; the best feasible one, the first (highest threshold) on ties.

    Rates are the curve's counts over their totals, each rounded once (``1 - fpr`` rounds twice: 1 - 9/10 < 0.1).
    """
    fpr, tpr, thresholds = roc_curve(target, scores, drop_intermediate=False)
    n_pos, n_neg = int(target.sum()), int((1 - target).sum())
    sensitivity, specificity = np.rint(tpr * n_pos) / n_pos, (n_neg - np.rint(fpr * n_neg)) / n_neg
    value, constraint = (sensitivity, specificity) if maximise == "sensitivity" else (specificity, sensitivity)
    best = None
    for i in range(len(thresholds)):
        if constraint[i] >= minimum and (best is None or value[i] > value[best]):
            best = i
    assert best is not None
    return float(value[best]), float(thresholds[best])


data = st.integers(2, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 10), min_size=n, max_size=n), st.lists(st.booleans(), min_size=n, max_size=n)
    )
)


@settings(max_examples=80, deadline=None)
@given(data, st.floats(0.0, 1.0))
def test_exact_binary_equals_sklearn_scan(sample: tuple[list[int], list[bool]], minimum: float) -> None:
    scores, target = np.array(sample[0], dtype=np.float64) / 10, np.array(sample[1], dtype=np.int64)
    if target.min() == target.max():
        return
    preds, labels = torch.from_numpy(scores), torch.from_numpy(target)
    for function, maximise, name in (
        (sensitivity_at_specificity, "sensitivity", "min_specificity"),
        (specificity_at_sensitivity, "specificity", "min_sensitivity"),
    ):
        value, threshold = function(preds, labels, task="binary", **{name: minimum})
        assert (float(value), float(threshold)) == _sklearn_scan(scores, target, maximise, minimum)


def _direct_scan(scores: np.ndarray, target: np.ndarray, grid: list[float], maximise: str, minimum: float):
    """Count ``score >= t`` at each grid threshold (and nothing positive at inf), no curve code involved."""
    points = [(0.0, 1.0, float("inf"))]
    for t in sorted(grid, reverse=True):
        positive = scores >= t
        sens = (positive & (target == 1)).sum() / (target == 1).sum()
        spec = 1 - (positive & (target == 0)).sum() / (target == 0).sum()
        points.append((sens, spec, t))
    feasible = [p for p in points if (p[1] if maximise == "sensitivity" else p[0]) >= minimum]
    best = max(feasible, key=lambda p: p[0] if maximise == "sensitivity" else p[1])  # max keeps the first
    return (best[0] if maximise == "sensitivity" else best[1]), best[2]


@pytest.mark.parametrize("minimum", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_binned_multilabel_equals_direct_counts(minimum: float) -> None:
    generator = torch.Generator().manual_seed(5)
    preds = torch.rand(300, 3, generator=generator, dtype=torch.float64)
    target = (torch.rand(300, 3, generator=generator) < preds * 0.8 + 0.1).long()
    grid = [0.0, 0.1, 0.25, 0.5, 0.6, 0.9]
    for function, maximise, name in (
        (sensitivity_at_specificity, "sensitivity", "min_specificity"),
        (specificity_at_sensitivity, "specificity", "min_sensitivity"),
    ):
        values, thresholds = function(preds, target, "multilabel", minimum, thresholds=grid, num_labels=3)
        for c in range(3):
            expected = _direct_scan(preds[:, c].numpy(), target[:, c].numpy(), grid, maximise, minimum)
            assert float(values[c]) == pytest.approx(expected[0], abs=1e-15)
            assert float(thresholds[c]) == expected[1], name


@pytest.mark.parametrize("thresholds", [None, 50])
def test_classes_over_batches_equal_functional_multiclass(thresholds: int | None) -> None:
    generator = torch.Generator().manual_seed(6)
    preds = torch.rand(90, 4, generator=generator).softmax(-1)
    target = torch.randint(0, 4, (90,), generator=generator)
    for cls, function, minimum in (
        (SensitivityAtSpecificity, sensitivity_at_specificity, 0.7),
        (SpecificityAtSensitivity, specificity_at_sensitivity, 0.6),
    ):
        metric = cls("multiclass", minimum, num_classes=4, thresholds=thresholds)
        for start in range(0, 90, 40):
            metric.update(preds[start : start + 40], target[start : start + 40])
        expected = function(preds, target, "multiclass", minimum, thresholds=thresholds, num_classes=4)
        result = metric.compute()
        assert torch.equal(result[0], expected[0]) and torch.equal(result[1], expected[1])
        for c in range(4):
            binary = function(preds[:, c], (target == c).long(), "binary", minimum, thresholds=thresholds)
            assert torch.equal(torch.stack([result[0][c], result[1][c]]), torch.stack(binary))


@pytest.mark.parametrize("minimum", [-0.1, 1.5])
def test_bad_minimum_is_rejected(minimum: float) -> None:
    with pytest.raises(ValueError, match="Expected `min_specificity` to be a float in \\[0, 1\\]"):
        SensitivityAtSpecificity("binary", min_specificity=minimum)
    with pytest.raises(ValueError, match="Expected `min_sensitivity` to be a float in \\[0, 1\\]"):
        specificity_at_sensitivity(torch.rand(3), torch.tensor([0, 1, 0]), "binary", min_sensitivity=minimum)


def test_rejected_update_leaves_the_metric_unchanged() -> None:
    metric = SpecificityAtSensitivity("binary", 0.5)
    metric.update(torch.tensor([0.2, 0.7]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"Expected `preds` \(probabilities; .*\) to lie in \[0, 1\], but got 1\.7\.$"):
        metric.update(torch.tensor([0.2, 1.7]), torch.tensor([0, 1]))
    assert len(metric._cat_state(metric._values_name)) == 2 and metric.compute()[1] == torch.tensor(0.7).double()


def test_one_class_gives_nan_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="undefined"):
        value, threshold = sensitivity_at_specificity(torch.rand(4), torch.ones(4, dtype=torch.long), "binary", 0.5)
    assert value.isnan() and threshold.isnan()


def _asah_s100b(reference_dir: Path) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, str]]]:
    with open(reference_dir / "proc-asah" / "aSAH.csv") as f:
        rows = list(csv.DictReader(f))
    with open(reference_dir / "proc-asah" / "expected_coords_s100b.csv") as f:
        coords = list(csv.DictReader(f))
    scores = torch.tensor([float(r["s100b"]) for r in rows], dtype=torch.float64)
    return scores, torch.tensor([int(r["outcome"] == "Poor") for r in rows]), coords


@pytest.mark.parametrize(
    "criterion, column, pick", [("youden", "youden", max), ("closest_topleft", "closest.topleft", min)]
)
def test_best_threshold_equals_proc_on_asah(reference_dir: Path, criterion: str, column: str, pick) -> None:
    scores, target, coords = _asah_s100b(reference_dir)
    fpr, tpr, thresholds = roc(scores, target, task="binary", input_format="scores", drop_intermediate=False)
    threshold, sensitivity, specificity = optimal_threshold(fpr, tpr, thresholds, criterion=criterion)
    best = pick(coords, key=lambda r: float(r[column]))
    assert float(sensitivity) == float(best["sensitivity"]) and float(specificity) == float(best["specificity"])
    # pROC's threshold is the midpoint below; ours (positive iff score >= threshold) is the next data value above
    assert float(threshold) == float(scores[scores > float(best["threshold"])].min())
    if criterion == "youden":  # pROC's "best" point in test-coords.R: 0.205, tn 58, tp 26
        assert float(best["threshold"]) == pytest.approx(0.205)
        assert (float(sensitivity), float(specificity)) == (26 / 41, 58 / 72)
        assert torch.equal(
            torch.stack(youden_threshold(fpr, tpr, thresholds)), torch.stack([threshold, sensitivity, specificity])
        )


def test_unknown_criterion_is_rejected() -> None:
    with pytest.raises(ValueError, match="Expected `criterion` to be one of"):
        optimal_threshold(torch.zeros(2), torch.ones(2), torch.ones(2), criterion="top_left")


def test_operating_point_with_intervals_on_asah_equals_proc_and_statsmodels(reference_dir: Path) -> None:
    from statsmodels.stats.proportion import proportion_confint

    scores, target, _ = _asah_s100b(reference_dir)
    counts = curve_counts(scores, target, task="binary", input_format="scores")[0]
    point = operating_point_from_counts(counts, "youden", level=0.95)
    assert (float(point["sensitivity"]), float(point["specificity"])) == (26 / 41, 58 / 72)  # pROC's best
    for rate, successes, trials in (("sensitivity", 26, 41), ("specificity", 58, 72)):
        expected = proportion_confint(successes, trials, alpha=0.05, method="wilson")
        bounds = (float(point[f"{rate}_ci_lower"]), float(point[f"{rate}_ci_upper"]))
        assert bounds == pytest.approx(expected, abs=1e-12)
