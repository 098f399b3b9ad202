"""Operating points on the ROC curve: the best sensitivity at a minimum specificity (and the reverse), and the
"best" threshold by Youden's J or by the distance to the top-left corner (pROC's two ``best.method`` criteria).

Candidate points are those of our ROC curve: one per threshold of the counts (every distinct score in exact mode,
every grid value when binned), positive iff ``score >= threshold``, plus the point ``threshold = inf`` where
nothing is positive. Among equally good points the highest threshold wins (torchmetrics' and scikit-learn's order).
Constraints are decided on counts: ``k`` of ``n`` meets a minimum iff ``k / n`` rounded once is at least it
(:func:`needed_count`), so a constraint met exactly (1 of 10 negatives at ``min_specificity=0.1``) is met.
"""

from __future__ import annotations

from fractions import Fraction

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit.classification.curves import ThresholdCounts, _totals
from lightning_evalkit.classification.inputs import check_task
from lightning_evalkit.classification.roc import _curve_counts_compute, _curve_state
from lightning_evalkit.statistics.binomial import binomial_interval

CRITERIA = ("youden", "closest_topleft")


def check_rate(name: str, value: object) -> float:
    """Validate a minimum sensitivity or specificity: a float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected `{name}` to be a float in [0, 1], but got {type(value).__name__}.")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Expected `{name}` to be a float in [0, 1], but got {value}.")
    return float(value)


def _counts_high_to_low(counts: ThresholdCounts) -> tuple[Tensor, Tensor, Tensor]:
    """``(tp, tn, thresholds)`` from the highest threshold (inf, nothing positive) down; counts int64."""
    _, n_neg = _totals(counts)
    tp = torch.cat([counts.tp.new_zeros(1), counts.tp.flip(0)])
    tn = torch.cat([counts.tn.new_full((1,), n_neg), counts.tn.flip(0)])
    thresholds = torch.cat([counts.thresholds.new_full((1,), float("inf")), counts.thresholds.flip(0)])
    return tp, tn, thresholds


def needed_count(minimum: float, total: int) -> int:
    """The fewest successes out of ``total`` whose rate meets ``minimum``, decided in exact arithmetic.

    A count ``k`` meets the minimum iff ``k / total``, rounded once to the nearest float64, is ``>= minimum``:
    ``min_specificity=0.1`` is met by 1 of 10 and ``k / n`` by k of n, as a user writing those numbers means.
    (``1 - 9 / 10`` rounds twice, to just below 0.1; the exact ``Fraction(0.1)`` lies just above 1/10.)

    Example:
        >>> needed_count(0.1, 10), needed_count(5 / 7, 7), needed_count(0.1000001, 10), needed_count(0.0, 3)
        (1, 5, 2, 0)
    """
    exact = Fraction(minimum) * total
    needed = -((-exact.numerator) // exact.denominator)  # ceil, in integers
    return needed - 1 if needed > 0 and (needed - 1) / total >= minimum else needed


def _best_subject_to(value: Tensor, constraint: Tensor, needed: int, thresholds: Tensor) -> tuple[Tensor, Tensor]:
    """``(value, threshold)`` of the max ``value`` count among points whose ``constraint`` count is at least
    ``needed`` (the first, i.e. the highest threshold, among ties)."""
    masked = torch.where(constraint >= needed, value, torch.full_like(value, -1))
    best = int(torch.argmax(masked))
    return value[best], thresholds[best]


def _operating_point(counts: ThresholdCounts, maximise: str, minimum: float) -> tuple[Tensor, Tensor]:
    """``(value, threshold)``: the best ``maximise`` rate with the other rate at least ``minimum``.

    Feasibility and the maximum are decided on the integer counts (:func:`needed_count`), never on rounded
    rates. NaN for both where the class has no positive or no negative sample.
    """
    n_pos, n_neg = _totals(counts)
    if n_pos == 0 or n_neg == 0:
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        return nan, nan.clone()
    tp, tn, thresholds = _counts_high_to_low(counts)
    if maximise == "sensitivity":
        best, threshold = _best_subject_to(tp, tn, needed_count(minimum, n_neg), thresholds)
        return best.double() / n_pos, threshold
    best, threshold = _best_subject_to(tn, tp, needed_count(minimum, n_pos), thresholds)
    return best.double() / n_neg, threshold


def _operating_points_compute(
    per_class: list[ThresholdCounts], task: str, maximise: str, minimum: float
) -> tuple[Tensor, Tensor]:
    """Per-class ``(values, thresholds)``; binary gives scalars. Warns for classes where it is undefined."""
    points = [_operating_point(c, maximise, minimum) for c in per_class]
    values, thresholds = torch.stack([p[0] for p in points]), torch.stack([p[1] for p in points])
    if bool(values.isnan().any()):
        where = f" for classes {values.isnan().nonzero().flatten().tolist()}" if task != "binary" else ""
        rank_zero_warn(
            f"The {maximise} at a minimum operating point is undefined (NaN){where}: only one class is present.",
            stacklevel=3,
        )
    return (values[0], thresholds[0]) if task == "binary" else (values, thresholds)


def _at_minimum(
    maximise: str,
    minimum: float,
    preds: Tensor,
    target: Tensor,
    task: str | None,
    thresholds: int | list[float] | Tensor | None,
    num_classes: int | None,
    num_labels: int | None,
    ignore_index: int | None,
    input_format: str,
) -> tuple[Tensor, Tensor]:
    state, columns, grid = _curve_state(
        preds, target, task, thresholds, num_classes, num_labels, ignore_index, input_format
    )
    task = check_task(task)
    per_class = _curve_counts_compute(state, task, columns, grid, input_format)
    return _operating_points_compute(per_class, task, maximise, minimum)


def sensitivity_at_specificity(
    preds: Tensor,
    target: Tensor,
    task: str | None,
    min_specificity: float,
    thresholds: int | list[float] | Tensor | None = None,
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
) -> tuple[Tensor, Tensor]:
    """The highest sensitivity among thresholds whose specificity is at least ``min_specificity``.

    Args are those of :func:`lightning_evalkit.functional.curve_counts`, and ``min_specificity`` in [0, 1]:
    a point with ``tn`` true negatives out of ``n`` meets it iff ``tn / n`` (rounded once) is at least it.

    Returns:
        ``(sensitivity, threshold)``, float64: scalars for binary; (C,) per class for multiclass (one-vs-rest)
        and multilabel. A score is positive iff ``score >= threshold``; ``inf`` means nothing is positive. NaN,
        with a warning, for a class with no positive or no negative sample.

    Example:
        >>> import torch
        >>> preds, target = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.7]), torch.tensor([0, 0, 1, 1, 0])
        >>> sensitivity_at_specificity(preds, target, task="binary", min_specificity=0.6)
        (tensor(0.5000, dtype=torch.float64), tensor(0.8000, dtype=torch.float64))
    """
    minimum = check_rate("min_specificity", min_specificity)
    return _at_minimum(
        "sensitivity", minimum, preds, target, task, thresholds, num_classes, num_labels, ignore_index, input_format
    )


def specificity_at_sensitivity(
    preds: Tensor,
    target: Tensor,
    task: str | None,
    min_sensitivity: float,
    thresholds: int | list[float] | Tensor | None = None,
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
) -> tuple[Tensor, Tensor]:
    """The highest specificity among thresholds whose sensitivity is at least ``min_sensitivity``.

    Args and returns are those of :func:`sensitivity_at_specificity`, with the two rates swapped.

    Example:
        >>> import torch
        >>> preds, target = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.7]), torch.tensor([0, 0, 1, 1, 0])
        >>> specificity_at_sensitivity(preds, target, task="binary", min_sensitivity=1.0)
        (tensor(0.3333, dtype=torch.float64), tensor(0.3500, dtype=torch.float64))
    """
    minimum = check_rate("min_sensitivity", min_sensitivity)
    return _at_minimum(
        "specificity", minimum, preds, target, task, thresholds, num_classes, num_labels, ignore_index, input_format
    )


def optimal_threshold(
    fpr: Tensor, tpr: Tensor, thresholds: Tensor, criterion: str = "youden"
) -> tuple[Tensor, Tensor, Tensor]:
    """The "best" ROC point by one of pROC's two criteria.

    Args:
        fpr, tpr, thresholds: a ROC curve as :func:`lightning_evalkit.classification.roc` returns it (binary).
        criterion: "youden" (max sensitivity + specificity - 1) or "closest_topleft" (min
            (1 - sensitivity)^2 + (1 - specificity)^2). Ties go to the first point in the given order (the
            highest threshold for scikit-learn's ordering).

    Returns:
        ``(threshold, sensitivity, specificity)`` at that point.

    Example:
        >>> import torch
        >>> fpr, tpr = torch.tensor([0.0, 0.0, 0.25, 1.0]), torch.tensor([0.0, 0.5, 0.875, 1.0])
        >>> optimal_threshold(fpr, tpr, torch.tensor([float("inf"), 0.8, 0.4, 0.1]), criterion="closest_topleft")
        (tensor(0.4000), tensor(0.8750), tensor(0.7500))
    """
    check_choice("criterion", criterion, CRITERIA)
    best = _best_index(fpr, tpr, criterion)
    return thresholds[best], tpr[best], 1 - fpr[best]


def youden_threshold(fpr: Tensor, tpr: Tensor, thresholds: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The ROC point maximising Youden's J = sensitivity + specificity - 1: ``optimal_threshold(criterion="youden")``.

    Kept under its public name; ties go to the first point in the given order.

    Example:
        >>> import torch
        >>> youden_threshold(torch.tensor([0.0, 0.0, 0.5, 1.0]), torch.tensor([0.0, 0.5, 1.0, 1.0]),
        ...                  torch.tensor([float("inf"), 0.8, 0.4, 0.1]))
        (tensor(0.8000), tensor(0.5000), tensor(1.))
    """
    return optimal_threshold(fpr, tpr, thresholds, criterion="youden")


def _best_index(fpr: Tensor, tpr: Tensor, criterion: str) -> int:
    distance = (1 - tpr).square() + fpr.square()
    return int(torch.argmax(tpr - fpr) if criterion == "youden" else torch.argmin(distance))


def operating_point_from_counts(
    counts: ThresholdCounts, criterion: str = "youden", level: float | None = None, interval: str = "wilson"
) -> dict[str, Tensor]:
    """The :func:`optimal_threshold` point of one class's counts, with binomial intervals when ``level`` is set.

    Returns:
        ``{"threshold", "sensitivity", "specificity"}`` (float64 scalars), plus ``"sensitivity_ci_lower"``,
        ``"sensitivity_ci_upper"``, ``"specificity_ci_lower"`` and ``"specificity_ci_upper"`` with ``level``.
        NaN where a class is absent.

    Example:
        >>> import torch
        >>> from lightning_evalkit.functional import curve_counts
        >>> preds = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.7], dtype=torch.float64)
        >>> counts = curve_counts(preds, torch.tensor([0, 0, 1, 1, 0]), task="binary")
        >>> point = operating_point_from_counts(counts[0], "closest_topleft")
        >>> point["threshold"].item(), point["sensitivity"].item(), point["specificity"].item()
        (0.8, 0.5, 1.0)
    """
    check_choice("criterion", criterion, CRITERIA)
    n_pos, n_neg = _totals(counts)
    if n_pos == 0 or n_neg == 0:
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        keys = ["threshold", "sensitivity", "specificity"]
        if level is not None:
            keys += [f"{r}_ci_{b}" for r in ("sensitivity", "specificity") for b in ("lower", "upper")]
        return {key: nan.clone() for key in keys}
    tp, tn, thresholds = _counts_high_to_low(counts)
    sensitivity, specificity = tp.double() / n_pos, tn.double() / n_neg
    best = _best_index((n_neg - tn).double() / n_neg, sensitivity, criterion)  # the fpr of roc_from_counts
    point = {"threshold": thresholds[best], "sensitivity": sensitivity[best], "specificity": specificity[best]}
    if level is not None:
        for rate, successes, trials in (("sensitivity", tp[best], n_pos), ("specificity", tn[best], n_neg)):
            lower, upper = binomial_interval(successes, torch.tensor(trials), level, interval)
            point[f"{rate}_ci_lower"], point[f"{rate}_ci_upper"] = lower, upper
    return point
