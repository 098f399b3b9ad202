"""Sensitivity and specificity with their binomial confidence intervals, from confusion counts or predictions."""

from __future__ import annotations

from torch import Tensor

from lightning_evalkit._core.checks import check_choice
from lightning_evalkit.classification.confusion import _confusion_from_preds, per_class_counts
from lightning_evalkit.classification.inputs import AVERAGES
from lightning_evalkit.statistics.binomial import INTERVALS, binomial_interval
from lightning_evalkit.statistics.normal import check_level


def _rate_interval(
    confmat: Tensor, task: str, rate: str, average: str, level: float, method: str
) -> tuple[Tensor, Tensor, Tensor]:
    """``(rate, lower, upper)`` of sensitivity or specificity per class (binary: scalars) from confusion counts.

    ``average="micro"`` pools the counts of all classes into one proportion; any other average gives one
    interval per class (an average of proportions is not a binomial proportion).
    """
    tp, fp, tn, fn = per_class_counts(confmat, task)
    successes, trials = (tp, tp + fn) if rate == "sensitivity" else (tn, tn + fp)
    if task != "binary" and average == "micro":
        successes, trials = successes.sum(), trials.sum()
    elif task == "binary":
        successes, trials = successes[0], trials[0]
    lower, upper = binomial_interval(successes, trials, level, method)
    value = successes.double() / trials.double()
    return value.cpu(), lower, upper


def _rate_confidence_interval(
    rate: str,
    preds: Tensor,
    target: Tensor,
    task: str,
    threshold: float,
    num_classes: int | None,
    num_labels: int | None,
    average: str,
    ignore_index: int | None,
    input_format: str,
    level: float,
    interval: str,
) -> tuple[Tensor, Tensor, Tensor]:
    level = check_level(level)
    check_choice("interval", interval, INTERVALS)
    check_choice("average", average, AVERAGES)
    confmat, _ = _confusion_from_preds(
        preds, target, task, threshold, num_classes, num_labels, ignore_index, input_format
    )
    return _rate_interval(confmat, task, rate, average, level, interval)


def sensitivity_confidence_interval(
    preds: Tensor,
    target: Tensor,
    task: str,
    threshold: float = 0.5,
    num_classes: int | None = None,
    num_labels: int | None = None,
    average: str = "none",
    ignore_index: int | None = None,
    input_format: str = "probs",
    level: float = 0.95,
    interval: str = "wilson",
) -> tuple[Tensor, Tensor, Tensor]:
    """Sensitivity TP / (TP + FN) with its binomial confidence interval.

    Args are those of :func:`lightning_evalkit.functional.sensitivity`, and:
        average: "micro" pools the counts of all classes; anything else gives one interval per class.
        level: confidence level in (0, 1).
        interval: "wilson" (score interval) or "clopper_pearson" (exact); see :func:`binomial_interval`.

    Returns:
        ``(sensitivity, lower, upper)``, float64: scalars for binary (and micro), (C,) per class otherwise.
        NaN where a class has no positive sample.

    Example:
        >>> import torch
        >>> preds, target = torch.tensor([0.9, 0.8, 0.7, 0.2, 0.6]), torch.tensor([1, 1, 1, 1, 0])
        >>> [round(float(v), 4) for v in sensitivity_confidence_interval(preds, target, task="binary")]
        [0.75, 0.3006, 0.9544]
    """
    return _rate_confidence_interval(
        "sensitivity", preds, target, task, threshold, num_classes, num_labels, average, ignore_index,
        input_format, level, interval,
    )  # fmt: skip


def specificity_confidence_interval(
    preds: Tensor,
    target: Tensor,
    task: str,
    threshold: float = 0.5,
    num_classes: int | None = None,
    num_labels: int | None = None,
    average: str = "none",
    ignore_index: int | None = None,
    input_format: str = "probs",
    level: float = 0.95,
    interval: str = "wilson",
) -> tuple[Tensor, Tensor, Tensor]:
    """Specificity TN / (TN + FP) with its binomial confidence interval.

    Args and returns are those of :func:`sensitivity_confidence_interval`; NaN where a class has no negative.

    Example:
        >>> import torch
        >>> preds, target = torch.tensor([0.9, 0.3, 0.2, 0.1, 0.6]), torch.tensor([1, 0, 0, 0, 0])
        >>> result = specificity_confidence_interval(preds, target, "binary", interval="clopper_pearson")
        >>> [round(float(v), 4) for v in result]
        [0.75, 0.1941, 0.9937]
    """
    return _rate_confidence_interval(
        "specificity", preds, target, task, threshold, num_classes, num_labels, average, ignore_index,
        input_format, level, interval,
    )  # fmt: skip
