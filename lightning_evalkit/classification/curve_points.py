"""Small numpy helpers that turn threshold counts into what the plots and TensorBoard's PR-curve plugin draw.

Everything here takes arrays ordered by ascending threshold, as ``ThresholdCounts`` holds them, and works in
float64. Nothing here syncs or touches a metric: the callback passes in counts it already gathered.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.classification.curves import ThresholdCounts, _auc_from_counts, roc_from_counts

_MIN_COUNT = 1e-7  # the floor TensorBoard's own pr_curve summary uses to avoid 0 / 0


def average_precision_from_counts(tp: Any, fp: Any, fn: Any) -> float:
    """Step-wise average precision, sum over thresholds of (R_n - R_(n-1)) * P_n, as scikit-learn defines it.

    Args:
        tp: true positives at each threshold, thresholds ascending.
        fp: false positives at each threshold.
        fn: false negatives at each threshold.

    Returns:
        The average precision, or NaN when there are no positives.

    Example:
        >>> average_precision_from_counts([2, 1], [2, 0], [0, 1])
        0.75
    """
    tp_, fp_, fn_ = to_numpy(tp)[::-1], to_numpy(fp)[::-1], to_numpy(fn)[::-1]
    positives = tp_[0] + fn_[0] if tp_.size else 0.0
    if positives == 0:
        return float("nan")
    predicted = tp_ + fp_
    precision = np.divide(tp_, predicted, out=np.ones_like(tp_), where=predicted > 0)
    recall = tp_ / positives
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def macro_roc(fprs: Sequence[Any], tprs: Sequence[Any], grid_size: int = 1001) -> tuple[np.ndarray, np.ndarray]:
    """Macro-average ROC curve: each class's TPR interpolated on a common FPR grid, then averaged.

    Classes whose curve holds NaN (no positive or no negative sample) are left out of the average.

    Example:
        >>> fpr, tpr = macro_roc([[0.0, 0.0, 1.0], [0.0, 1.0]], [[0.0, 1.0, 1.0], [0.0, 1.0]], grid_size=3)
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.5, 1.0], [0.5, 0.75, 1.0])
    """
    grid = np.linspace(0.0, 1.0, grid_size)
    curves = [
        np.interp(grid, to_numpy(fpr), to_numpy(tpr))
        for fpr, tpr in zip(fprs, tprs, strict=True)
        if not (np.isnan(to_numpy(fpr)).any() or np.isnan(to_numpy(tpr)).any())
    ]
    if not curves:
        return grid, np.full_like(grid, np.nan)
    return grid, np.mean(curves, axis=0)


def counts_on_uniform_grid(
    thresholds: Any, tp: Any, fp: Any, tn: Any, fn: Any, num_thresholds: int = 201
) -> dict[str, np.ndarray]:
    """Resample threshold counts onto ``num_thresholds`` evenly spaced thresholds in [0, 1].

    TensorBoard's PR-curve plugin assumes that spacing. A sample is positive iff score >= threshold, so the
    counts at a grid threshold t are those at the smallest recorded threshold >= t; past the largest one
    nothing is predicted positive.

    Returns:
        A dict with ``tp``, ``fp``, ``tn``, ``fn``, ``precision`` and ``recall``, each of ``num_thresholds``.

    Example:
        >>> grid = counts_on_uniform_grid([0.2, 0.7], [2, 1], [1, 0], [0, 1], [0, 1], num_thresholds=3)
        >>> grid["tp"].tolist(), grid["fp"].tolist(), grid["recall"].tolist()
        ([2.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.5, 0.0])
    """
    thresholds_, tp_, fp_, tn_, fn_ = (to_numpy(a) for a in (thresholds, tp, fp, tn, fn))
    positives, negatives = (tp_[0] + fn_[0], fp_[0] + tn_[0]) if tp_.size else (0.0, 0.0)
    index = np.searchsorted(thresholds_, np.linspace(0.0, 1.0, num_thresholds), side="left")
    past_end = index >= thresholds_.size
    index = np.minimum(index, max(thresholds_.size - 1, 0))
    out = {}
    for name, values, beyond in (
        ("tp", tp_, 0.0),
        ("fp", fp_, 0.0),
        ("tn", tn_, negatives),
        ("fn", fn_, positives),
    ):
        out[name] = np.where(past_end, beyond, values[index] if values.size else beyond)
    out["precision"] = out["tp"] / np.maximum(_MIN_COUNT, out["tp"] + out["fp"])
    out["recall"] = out["tp"] / np.maximum(_MIN_COUNT, out["tp"] + out["fn"])
    return out


def roc_arrays(counts: ThresholdCounts) -> tuple[np.ndarray, np.ndarray, float]:
    """The ROC curve and AUC of one class's counts, as numpy, for drawing.

    The curve is :func:`~lightning_evalkit.classification.curves.roc_from_counts`'s and the area AUROC's own
    (exact up to its one division), so a plot shows the metric's numbers. Quiet: the metric has already warned
    about an absent class (its rates and area are NaN).

    Example:
        >>> import torch
        >>> from lightning_evalkit.functional import curve_counts
        >>> counts = curve_counts(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]), task="binary")
        >>> fpr, tpr, auc = roc_arrays(counts[0])
        >>> fpr.tolist(), tpr.tolist(), auc
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], 0.75)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, _ = roc_from_counts(counts)
    return to_numpy(fpr), to_numpy(tpr), float(_auc_from_counts(counts))
