"""Threshold curves: confusion counts at every threshold, ROC, precision-recall, ROC-AUC, Youden's J.

Two modes share one representation, :class:`ThresholdCounts`:

- exact (``thresholds=None``): the state is every score; counts are taken at each distinct score, so the
  ROC curve and its AUC equal scikit-learn's, ties included;
- binned (``thresholds=`` int, list or tensor): the state is a histogram of shape (C, 2, T + 1) counting each
  class's negatives and positives by how many thresholds their score reaches; memory is O(T x C) whatever
  the number of samples, and one update is a single searchsorted + bincount pass.

A score is positive at threshold ``t`` iff ``score >= t``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_finite, format_shape
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit.classification.exact import (
    exact_auc,
    exact_class_aucs,
    exact_class_counts,
    exact_counts,
    pooled_problem,
    ranks_logits,
    sort_problem,
)
from lightning_evalkit.classification.inputs import threshold_in_dtype, to_probabilities


class ThresholdCounts(NamedTuple):
    """Confusion counts of one class (one-vs-rest) at each threshold; positive iff ``score >= threshold``.

    All fields are 1-D tensors of the same length T: ``thresholds`` ascending float64, counts int64.
    """

    thresholds: Tensor
    tp: Tensor
    fp: Tensor
    tn: Tensor
    fn: Tensor


def resolve_thresholds(thresholds: int | list[float] | Tensor | None, input_format: str = "probs") -> Tensor | None:
    """Turn the ``thresholds`` argument into a sorted float64 tensor, or None for exact mode.

    For probabilities and logits (thresholds in probability units) an int T gives T evenly spaced thresholds
    from 0 to 1, and a list or tensor must lie within [0, 1]. Raw scores have no natural range: they take
    only explicit values, in score units. A list or tensor must be 1-D, finite and strictly increasing.

    Example:
        >>> resolve_thresholds(5)
        tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000], dtype=torch.float64)
    """
    if thresholds is None:
        return None
    if isinstance(thresholds, int) and not isinstance(thresholds, bool):
        if input_format == "scores":
            raise ValueError(
                "Expected `thresholds` to be None or a list or tensor of score values with "
                f"input_format='scores' (raw scores have no range to space thresholds in), but got {thresholds}."
            )
        if thresholds < 2:
            raise ValueError(f"Expected `thresholds` as an int to be >= 2, but got {thresholds}.")
        return torch.linspace(0, 1, thresholds, dtype=torch.float64)
    if isinstance(thresholds, (list, tuple)):
        thresholds = torch.tensor(thresholds, dtype=torch.float64)
    if not isinstance(thresholds, Tensor) or not thresholds.is_floating_point():
        got = thresholds.dtype if isinstance(thresholds, Tensor) else type(thresholds).__name__
        raise TypeError(f"Expected `thresholds` to be None, an int, a list of floats or a float tensor, but got {got}.")
    if thresholds.ndim != 1 or thresholds.numel() < 2:
        raise ValueError(
            f"Expected `thresholds` to be 1-D with at least 2 values, but got {format_shape(thresholds.shape)}."
        )
    check_finite("thresholds", thresholds, within=None if input_format == "scores" else (0.0, 1.0))
    if not bool((thresholds[1:] > thresholds[:-1]).all()):
        raise ValueError(f"Expected `thresholds` to be strictly increasing, but got {thresholds.tolist()}.")
    return thresholds.to(torch.float64)


def _binned_update(
    values: Tensor, target: Tensor, task: str, columns: int, thresholds: Tensor, input_format: str = "probs"
) -> Tensor:
    """Histogram (C, 2, T + 1): [class, is_positive, number of thresholds the value reaches].

    Logits are compared as their float64 probabilities, the numbers the exact curve's thresholds are.
    """
    scores = to_probabilities(values, task, input_format)
    n_bins = thresholds.numel() + 1
    grid = threshold_in_dtype(thresholds, scores.dtype)
    reached = torch.searchsorted(grid, scores.contiguous(), right=True)
    if task == "binary":
        flat = target * n_bins + reached
    else:
        classes = torch.arange(columns, device=scores.device)
        positive = (target.unsqueeze(1) == classes) if task == "multiclass" else target
        flat = (classes * 2 + positive) * n_bins + reached
        if task == "multilabel":
            flat = flat[target >= 0]
    counts = torch.bincount(flat.reshape(-1), minlength=columns * 2 * n_bins)
    return counts.reshape(columns, 2, n_bins)


def _binned_counts(histogram: Tensor, thresholds: Tensor) -> list[ThresholdCounts]:
    """Counts at each threshold from the histogram: bins above j are the scores >= thresholds[j]."""
    at_or_above = histogram.flip(-1).cumsum(-1).flip(-1)
    totals = at_or_above[..., :1]
    reached = at_or_above[..., 1:]
    tp, fp = reached[:, 1], reached[:, 0]
    fn, tn = totals[:, 1] - tp, totals[:, 0] - fp
    return [ThresholdCounts(thresholds, tp[c], fp[c], tn[c], fn[c]) for c in range(histogram.shape[0])]


def _exact_counts(values: Tensor, positive: Tensor, sigmoid_thresholds: bool = False) -> ThresholdCounts:
    """Counts at each distinct value of one binary problem (thresholds: the values, or their sigmoid)."""
    return ThresholdCounts(*exact_counts(sort_problem(values, positive), sigmoid_thresholds))


def _micro_counts(
    state: tuple[Tensor, ...], task: str, columns: int, thresholds: Tensor | None, input_format: str = "probs"
) -> ThresholdCounts:
    """Counts of the pooled problem: every (sample, class) pair is one binary decision."""
    if thresholds is not None:
        return _binned_counts(state[0].sum(0, keepdim=True), thresholds)[0]
    values, positive = pooled_problem(state[0], state[1], task, columns, input_format)
    return _exact_counts(values, positive, ranks_logits(task, input_format))


def _curve_counts_compute(
    state: tuple[Tensor, ...],
    task: str,
    columns: int,
    thresholds: Tensor | None,
    input_format: str = "probs",
    classes: Tensor | None = None,
) -> list[ThresholdCounts]:
    """Per-class counts from the state: ``(histogram,)`` when binned, ``(values, target)`` when exact.

    With ``classes`` (class indices, 1-D int64) only those classes' counts are built, in that order; each
    equals that class's entry of the full list.
    """
    if thresholds is not None:
        histogram = state[0] if classes is None else state[0].index_select(0, classes.to(state[0].device))
        return _binned_counts(histogram, thresholds)
    per_class = exact_class_counts(state[0], state[1], task, columns, input_format, classes)
    return [ThresholdCounts(*counts) for counts in per_class]


def _class_positives(state: tuple[Tensor, ...], task: str, columns: int, thresholds: Tensor | None) -> Tensor:
    """Positives per class (int64, on the CPU) from the state, without building any curve.

    Example:
        >>> _class_positives((torch.rand(4, 3), torch.tensor([2, 0, 2, 2])), "multiclass", 3, None).tolist()
        [1, 0, 3]
    """
    if thresholds is not None:
        return state[0][:, 1].sum(-1).cpu()
    target = state[1]
    if task == "binary":
        return (target == 1).sum().reshape(1).cpu()
    if task == "multiclass":
        return torch.bincount(target, minlength=columns)[:columns].cpu()
    return (target == 1).sum(0).cpu()


def _per_class_aucs(
    state: tuple[Tensor, ...], task: str, columns: int, thresholds: Tensor | None, input_format: str = "probs"
) -> tuple[Tensor, Tensor]:
    """``(AUC, positives)`` per class. Exact mode takes each AUC from the sorted values, one class at a time."""
    if thresholds is not None:
        per_class = _binned_counts(state[0], thresholds)
        return torch.stack([_auc_from_counts(c) for c in per_class]), torch.stack(
            [c.tp[0] + c.fn[0] for c in per_class]
        )
    return exact_class_aucs(state[0], state[1], task, columns, input_format)


def roc_from_counts(counts: ThresholdCounts, drop_intermediate: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """ROC curve from threshold counts, ordered as scikit-learn's ``roc_curve`` orders it.

    Args:
        counts: counts of one class.
        drop_intermediate: drop points that lie on a straight line between their neighbours (scikit-learn's
            default); the area under the curve does not change.

    Returns:
        ``(fpr, tpr, thresholds)``, float64. Thresholds decrease and start at ``inf``, where fpr = tpr = 0;
        fpr and tpr increase. fpr (tpr) is NaN, with a warning, when there is no negative (positive) sample.

    Example:
        >>> import torch
        >>> from lightning_evalkit.functional import curve_counts
        >>> scores = torch.tensor([0.1, 0.4, 0.35, 0.8], dtype=torch.float64)
        >>> counts = curve_counts(scores, torch.tensor([0, 0, 1, 1]), task="binary")
        >>> fpr, tpr, thresholds = roc_from_counts(counts[0])
        >>> fpr.tolist(), tpr.tolist(), thresholds.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    tps, fps, thresholds = counts.tp.flip(0), counts.fp.flip(0), counts.thresholds.flip(0)
    if drop_intermediate and tps.numel() > 2:
        keep = torch.ones_like(tps, dtype=torch.bool)
        keep[1:-1] = (tps.diff(n=2) != 0) | (fps.diff(n=2) != 0)
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    zero = tps.new_zeros(1)
    tps, fps = torch.cat([zero, tps]).double(), torch.cat([zero, fps]).double()
    thresholds = torch.cat([thresholds.new_full((1,), float("inf")), thresholds])
    n_pos, n_neg = _totals(counts)
    if n_neg == 0:
        rank_zero_warn("No negative samples: the false-positive rate is undefined (NaN).", stacklevel=2)
    if n_pos == 0:
        rank_zero_warn("No positive samples: the true-positive rate is undefined (NaN).", stacklevel=2)
    return (
        fps / n_neg if n_neg else fps * float("nan"),
        tps / n_pos if n_pos else tps * float("nan"),
        thresholds,
    )


def precision_recall_from_counts(counts: ThresholdCounts) -> tuple[Tensor, Tensor, Tensor]:
    """Precision-recall curve from threshold counts, as scikit-learn's ``precision_recall_curve`` returns it.

    Returns:
        ``(precision, recall, thresholds)``, float64. Thresholds increase; precision and recall have one more
        element than thresholds, the final point (precision 1, recall 0). Precision is 0 where nothing is
        predicted positive; recall is 1 everywhere when there is no positive sample.

    Example:
        >>> import torch
        >>> from lightning_evalkit.functional import curve_counts
        >>> scores = torch.tensor([0.1, 0.4, 0.35, 0.8], dtype=torch.float64)
        >>> counts = curve_counts(scores, torch.tensor([0, 0, 1, 1]), task="binary")
        >>> precision, recall, thresholds = precision_recall_from_counts(counts[0])
        >>> precision.tolist(), recall.tolist(), thresholds.tolist()
        ([0.5, 0.6666666666666666, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.5, 0.0], [0.1, 0.35, 0.4, 0.8])
    """
    tp, predicted = counts.tp.double(), (counts.tp + counts.fp).double()
    precision = torch.where(predicted > 0, tp / predicted.clamp_min(1), torch.zeros_like(tp))
    n_pos, _ = _totals(counts)
    recall = tp / n_pos if n_pos else torch.ones_like(tp)
    one = tp.new_ones(1)
    return torch.cat([precision, one]), torch.cat([recall, one * 0]), counts.thresholds


def _totals(counts: ThresholdCounts) -> tuple[int, int]:
    if counts.tp.numel() == 0:
        return 0, 0
    return int(counts.tp[0] + counts.fn[0]), int(counts.fp[0] + counts.tn[0])


def _auc_from_counts(counts: ThresholdCounts) -> Tensor:
    """Area under the ROC curve of one class; NaN when a class is absent.

    The trapezoids are summed in integers, (sum of dFP * (TP_left + TP_right)) / (2 P N), so the area is exact
    up to the final division (it is the Mann-Whitney U statistic, ties counted one half).
    """
    n_pos, n_neg = _totals(counts)
    if n_pos == 0 or n_neg == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    zero = counts.tp.new_zeros(1)
    tp, fp = torch.cat([counts.tp, zero]), torch.cat([counts.fp, zero])
    twice_area = ((fp[:-1] - fp[1:]) * (tp[:-1] + tp[1:])).sum()
    return twice_area.double() / (2.0 * n_pos * n_neg)


def _auroc_compute(
    state: tuple[Tensor, ...],
    task: str,
    columns: int,
    thresholds: Tensor | None,
    input_format: str,
    average: str,
    max_fpr: float | None = None,
) -> Tensor:
    """AUROC from the state: binary (optionally partial, up to ``max_fpr``), micro, or per-class averaged."""
    if max_fpr is not None and max_fpr < 1:
        counts = _curve_counts_compute(state, task, columns, thresholds, input_format)[0]
        return _warn_if_undefined(_partial_auc(counts, max_fpr).unsqueeze(0), "the binary problem")[0]
    if task != "binary" and average == "micro":
        if thresholds is None:
            micro = exact_auc(sort_problem(*pooled_problem(state[0], state[1], task, columns, input_format)))[0]
        else:
            micro = _auc_from_counts(_micro_counts(state, task, columns, thresholds, input_format))
        return _warn_if_undefined(micro.unsqueeze(0), "the pooled (micro) problem")[0]
    aucs, positives = _per_class_aucs(state, task, columns, thresholds, input_format)
    return _average_aucs(_warn_if_undefined(aucs, "classes"), positives, task, average)


def _average_aucs(aucs: Tensor, positives: Tensor, task: str, average: str) -> Tensor:
    """Reduce per-class AUCs; NaN classes (one class present) are left out of macro and weighted means."""
    if task == "binary":
        return aucs[0]
    if average == "none":
        return aucs
    defined = ~aucs.isnan()
    if not bool(defined.any()):
        return torch.tensor(float("nan"), dtype=torch.float64)
    if not bool(defined.all()):
        rank_zero_warn(
            f"AUROC: {average} average taken over the {int(defined.sum())} classes where it is defined.",
            stacklevel=3,
        )
    weights = positives.double() if average == "weighted" else torch.ones_like(aucs)
    weights = weights * defined
    return (aucs.nan_to_num() * weights).sum() / weights.sum()


def check_max_fpr(max_fpr: float | None, task: str) -> float | None:
    """Validate ``max_fpr``: None, or a float in (0, 1] with task="binary"."""
    if max_fpr is None:
        return None
    if isinstance(max_fpr, bool) or not isinstance(max_fpr, (int, float)):
        raise TypeError(f"Expected `max_fpr` to be None or a float in (0, 1], but got {type(max_fpr).__name__}.")
    if not 0 < max_fpr <= 1:
        raise ValueError(f"Expected `max_fpr` to be None or a float in (0, 1], but got {max_fpr}.")
    if task != "binary":
        raise ValueError(f"Expected `max_fpr` only with task='binary' (partial AUC is binary), but got task={task!r}.")
    return float(max_fpr)


def _partial_auc(counts: ThresholdCounts, max_fpr: float) -> Tensor:
    """McClish-standardised area up to ``max_fpr``, as scikit-learn's ``roc_auc_score(max_fpr=...)``.

    The curve is cut at ``max_fpr`` by linear interpolation; the area is rescaled so that 0.5 is chance and
    1 perfect: ``0.5 * (1 + (area - max_fpr**2 / 2) / (max_fpr - max_fpr**2 / 2))``.
    """
    n_pos, n_neg = _totals(counts)
    if n_pos == 0 or n_neg == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    fpr, tpr, _ = roc_from_counts(counts)
    stop = int(torch.searchsorted(fpr, torch.tensor([max_fpr], dtype=torch.float64), right=True))
    x0, x1, y0, y1 = fpr[stop - 1], fpr[stop], tpr[stop - 1], tpr[stop]
    cut = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
    fpr = torch.cat([fpr[:stop], fpr.new_full((1,), max_fpr)])
    tpr = torch.cat([tpr[:stop], cut.reshape(1)])
    area = torch.trapezoid(tpr, fpr)
    min_area, max_area = 0.5 * max_fpr**2, max_fpr
    return 0.5 * (1 + (area - min_area) / (max_area - min_area))


def _warn_if_undefined(aucs: Tensor, what: str) -> Tensor:
    undefined = aucs.isnan()
    if bool(undefined.any()):
        where = (
            f" for classes {undefined.nonzero().flatten().tolist()}" if what == "classes" and aucs.numel() > 1 else ""
        )
        rank_zero_warn(f"AUROC is undefined (NaN){where}: only one class is present in the target.", stacklevel=4)
    return aucs
