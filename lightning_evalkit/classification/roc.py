"""Functional ROC, ROC-AUC and threshold counts: the same update and compute code the classes run."""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice
from lightning_evalkit.classification.curves import (
    ThresholdCounts,
    _auroc_compute,
    _binned_update,
    _curve_counts_compute,
    check_max_fpr,
    resolve_thresholds,
    roc_from_counts,
)
from lightning_evalkit.classification.inputs import AVERAGES, check_classification_args, check_task, format_scores

Curve = tuple[Tensor, Tensor, Tensor]


def exact_score_dtype(preds: Tensor) -> torch.dtype:
    """Exact mode keeps float64 input as float64 and every other input as float32 (4 bytes a value).

    The stored values are the input itself (probabilities, logits or scores): float16 and bfloat16 widen to
    float32 exactly, and nothing is transformed, so no two distinct inputs become a tie.
    """
    return torch.float64 if preds.dtype == torch.float64 else torch.float32


def _curve_update(
    values: Tensor,
    target: Tensor,
    task: str,
    columns: int,
    thresholds: Tensor | None,
    score_dtype: torch.dtype,
    input_format: str = "probs",
) -> tuple[Tensor, ...]:
    """The state one formatted batch adds: ``(histogram,)`` when binned, ``(values, target)`` when exact."""
    if thresholds is None:
        return values.to(score_dtype), target
    return (_binned_update(values, target, task, columns, thresholds, input_format),)


def _curve_state(
    preds: Tensor,
    target: Tensor,
    task: str | None,
    thresholds: int | list[float] | Tensor | None,
    num_classes: int | None,
    num_labels: int | None,
    ignore_index: int | None,
    input_format: str,
) -> tuple[tuple[Tensor, ...], int, Tensor | None]:
    task = check_task(task)
    columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
    grid = resolve_thresholds(thresholds, input_format)
    scores, flat_target = format_scores(preds, target, task, columns, ignore_index, input_format)
    state = _curve_update(scores, flat_target, task, columns, grid, exact_score_dtype(preds), input_format)
    return state, columns, grid


def _roc_compute(
    per_class: list[ThresholdCounts], task: str, drop_intermediate: bool
) -> Curve | tuple[list[Tensor], ...]:
    curves = [roc_from_counts(c, drop_intermediate) for c in per_class]
    if task == "binary":
        return curves[0]
    return [c[0] for c in curves], [c[1] for c in curves], [c[2] for c in curves]


def curve_counts(
    preds: Tensor,
    target: Tensor,
    task: str | None = None,
    thresholds: int | list[float] | Tensor | None = None,
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
) -> list[ThresholdCounts]:
    """Confusion counts at every threshold, one :class:`ThresholdCounts` per class (binary: one).

    Args:
        preds: binary (N, ...), multiclass (N, C, ...) or multilabel (N, L, ...) scores.
        target: integer labels: multiclass (N, ...), otherwise shaped like ``preds``.
        task: "binary", "multiclass" (one-vs-rest) or "multilabel".
        thresholds: None for exact counts at every distinct input value; an int T for T evenly spaced
            thresholds in [0, 1]; or a strictly increasing list or tensor of thresholds (in [0, 1], or in score
            units with ``input_format="scores"``, which takes no int).
        num_classes: number of classes (multiclass).
        num_labels: number of labels (multilabel).
        ignore_index: target value whose elements are left out (binary and multilabel: neither 0 nor 1;
            multiclass: may be a class index, whose samples are then left out).
        input_format: "probs" (checked to lie in [0, 1]), "logits" (ranked as given; thresholds are their
            float64 sigmoid or softmax probabilities) or "scores" (any finite value, untransformed; thresholds
            in score units).

    Example:
        >>> import torch
        >>> curve_counts(torch.tensor([0.2, 0.7, 0.7]), torch.tensor([0, 1, 0]), task="binary")[0].tp
        tensor([1, 1])
    """
    task = check_task(task)
    state, columns, grid = _curve_state(
        preds, target, task, thresholds, num_classes, num_labels, ignore_index, input_format
    )
    return _curve_counts_compute(state, task, columns, grid, input_format)


def roc(
    preds: Tensor,
    target: Tensor,
    task: str | None = None,
    thresholds: int | list[float] | Tensor | None = None,
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
    drop_intermediate: bool = True,
) -> Curve | tuple[list[Tensor], ...]:
    """Receiver operating characteristic curve; multiclass is one-vs-rest.

    Args are those of :func:`curve_counts`, and ``drop_intermediate`` (see :func:`roc_from_counts`).

    Returns:
        Binary: ``(fpr, tpr, thresholds)`` float64 tensors ordered as scikit-learn's ``roc_curve``:
        thresholds decrease from ``inf`` (where fpr = tpr = 0), fpr and tpr increase. Multiclass and
        multilabel: three lists holding those tensors per class.

    Example:
        >>> import torch
        >>> fpr, tpr, thr = roc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]), task="binary")
        >>> tpr
        tensor([0.0000, 0.5000, 0.5000, 1.0000, 1.0000], dtype=torch.float64)
    """
    task = check_task(task)
    state, columns, grid = _curve_state(
        preds, target, task, thresholds, num_classes, num_labels, ignore_index, input_format
    )
    return _roc_compute(_curve_counts_compute(state, task, columns, grid, input_format), task, drop_intermediate)


def auroc(
    preds: Tensor,
    target: Tensor,
    task: str | None = None,
    thresholds: int | list[float] | Tensor | None = None,
    num_classes: int | None = None,
    num_labels: int | None = None,
    average: str = "macro",
    ignore_index: int | None = None,
    input_format: str = "probs",
    max_fpr: float | None = None,
) -> Tensor:
    """Area under the ROC curve (trapezoidal); multiclass is one-vs-rest.

    Args are those of :func:`curve_counts`, and:
        average: "macro" (mean over classes), "weighted" (by each class's positives), "micro" (all
            (sample, class) pairs pooled into one binary problem) or "none" (one AUC per class).
            Binary ignores it.
        max_fpr: binary only: the partial AUC over false-positive rates in [0, max_fpr], McClish-standardised
            as scikit-learn's ``roc_auc_score(max_fpr=...)`` (0.5 chance, 1 perfect); None or 1: the full AUC.

    Returns:
        A float64 scalar, or (C,) with ``average="none"``. A class whose target holds only one class has AUC
        NaN, with a warning, and is left out of macro and weighted averages (with a warning).

    Example:
        >>> import torch
        >>> auroc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]), task="binary")
        tensor(0.7500, dtype=torch.float64)
    """
    task = check_task(task)
    check_choice("average", average, AVERAGES)
    max_fpr = check_max_fpr(max_fpr, task)
    state, columns, grid = _curve_state(
        preds, target, task, thresholds, num_classes, num_labels, ignore_index, input_format
    )
    return _auroc_compute(state, task, columns, grid, input_format, average, max_fpr)
