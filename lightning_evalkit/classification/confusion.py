"""Confusion counts and the rates derived from them: sensitivity (recall, TPR) and specificity (TNR).

Threshold convention: a binary or multilabel score is positive iff ``score >= threshold``, the convention of
scikit-learn's and pROC's ROC curves, so ``sensitivity(threshold=t)`` equals the ROC curve's TPR at ``t``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit.classification.inputs import (
    AVERAGES,
    check_classification_args,
    check_task,
    check_threshold,
    format_labels,
)

NORMALIZATIONS = (None, "true", "pred", "all")
ZERO_DIVISIONS = (0.0, 1.0, "nan")


def confusion_shape(task: str, columns: int) -> tuple[int, ...]:
    """Shape of the confusion state: binary (2, 2), multiclass (C, C), multilabel (L, 2, 2)."""
    if task == "binary":
        return (2, 2)
    return (columns, columns) if task == "multiclass" else (columns, 2, 2)


def _confusion_update(predicted: Tensor, target: Tensor, task: str, columns: int) -> Tensor:
    """Count one formatted batch into a confusion tensor (rows: true class, columns: predicted class)."""
    if task == "multiclass":
        flat = target * columns + predicted
    elif task == "binary":
        flat = target * 2 + predicted
    else:
        label = torch.arange(columns, device=target.device).expand_as(target)
        valid = target >= 0
        flat = (label * 4 + target * 2 + predicted)[valid]
    counts = torch.bincount(flat.reshape(-1), minlength=int(torch.tensor(confusion_shape(task, columns)).prod()))
    return counts.reshape(confusion_shape(task, columns))


def per_class_counts(confmat: Tensor, task: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One-vs-rest ``(tp, fp, tn, fn)`` per class from a confusion tensor; binary gives 1-element tensors."""
    if task == "multiclass":
        tp = confmat.diagonal()
        fp, fn = confmat.sum(0) - tp, confmat.sum(1) - tp
        return tp, fp, confmat.sum() - tp - fp - fn, fn
    cells = confmat.reshape(-1, 4)
    return cells[:, 3], cells[:, 1], cells[:, 0], cells[:, 2]


def _absent_classes(confmat: Tensor, task: str) -> Tensor | None:
    """Multiclass classes neither in the target nor predicted (no TP, FP or FN), or None for other tasks.

    scikit-learn's macro averages see only the labels present in target or predictions, and torchmetrics'
    multiclass recall and specificity give such classes zero weight; so do we. The decision is made on the
    counts compute() sees, which under DDP are the synced ones.
    """
    if task != "multiclass":
        return None
    tp, fp, _, fn = per_class_counts(confmat, task)
    return (tp + fp + fn) == 0


def _average_rates(
    numerator: Tensor,
    denominator: Tensor,
    support: Tensor,
    average: str,
    zero_division: float | str,
    name: str,
    absent: Tensor | None = None,
) -> Tensor:
    """Per-class ``numerator / denominator`` reduced by ``average`` (scikit-learn's zero_division rules).

    ``absent`` classes are reported with ``average="none"`` and left out of macro and weighted averages.
    """
    fill = float("nan") if zero_division == "nan" else float(zero_division)
    numerator, denominator = numerator.double(), denominator.double()
    if average == "micro":
        total = denominator.sum()
        return numerator.sum() / total if total > 0 else torch.tensor(fill, dtype=torch.float64)
    undefined = denominator == 0
    if absent is not None and average != "none":
        undefined = undefined & ~absent
    if bool(undefined.any()):
        classes = undefined.nonzero().flatten().tolist()
        rank_zero_warn(f"{name} is undefined for classes {classes} (zero denominator); set to {fill}.", stacklevel=3)
    rates = torch.where(undefined, torch.full_like(numerator, fill), numerator / denominator.clamp_min(1))
    if average == "none":
        return rates
    defined = ~rates.isnan() if absent is None else ~rates.isnan() & ~absent
    weights = support.double() if average == "weighted" else torch.ones_like(rates)
    weights = weights * defined
    if weights.sum() == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    return (rates.nan_to_num() * weights).sum() / weights.sum()


def _empty_result(task: str, columns: int, average: str, name: str) -> Tensor:
    rank_zero_warn(f"{name}: compute() was called before any sample was seen; returning NaN.", stacklevel=3)
    size = columns if task != "binary" and average == "none" else None
    return torch.full((size,) if size else (), float("nan"), dtype=torch.float64)


def _sensitivity_compute(confmat: Tensor, task: str, average: str, zero_division: float | str = 0.0) -> Tensor:
    """Sensitivity (recall, TPR = TP / (TP + FN)) from accumulated confusion counts."""
    if confmat.sum() == 0:
        return _empty_result(task, confmat.shape[0], average, "Sensitivity")
    tp, _, _, fn = per_class_counts(confmat, task)
    absent = _absent_classes(confmat, task)
    result = _average_rates(tp, tp + fn, tp + fn, average, zero_division, "Sensitivity", absent)
    return result.squeeze(0) if task == "binary" else result


def _specificity_compute(confmat: Tensor, task: str, average: str, zero_division: float | str = 0.0) -> Tensor:
    """Specificity (TNR = TN / (TN + FP)) from accumulated confusion counts; weighted uses TP + FN."""
    if confmat.sum() == 0:
        return _empty_result(task, confmat.shape[0], average, "Specificity")
    tp, fp, tn, fn = per_class_counts(confmat, task)
    absent = _absent_classes(confmat, task)
    result = _average_rates(tn, tn + fp, tp + fn, average, zero_division, "Specificity", absent)
    return result.squeeze(0) if task == "binary" else result


def _confusion_matrix_compute(confmat: Tensor, normalize: str | None) -> Tensor:
    """Optionally normalise counts over true rows, predicted columns or everything (as scikit-learn does)."""
    if normalize is None:
        return confmat
    counts = confmat.double()
    if normalize == "true":
        total = counts.sum(-1, keepdim=True)
    elif normalize == "pred":
        total = counts.sum(-2, keepdim=True)
    else:
        total = counts.sum((-2, -1), keepdim=True)
    return (counts / total).nan_to_num(0.0)


def check_rate_args(average: str, zero_division: float | str) -> None:
    """Validate the arguments of sensitivity and specificity: ``average`` and ``zero_division``."""
    check_choice("average", average, AVERAGES)
    check_choice("zero_division", zero_division, ZERO_DIVISIONS)


def _confusion_from_preds(
    preds: Tensor,
    target: Tensor,
    task: str | None,
    threshold: float,
    num_classes: int | None,
    num_labels: int | None,
    ignore_index: int | None,
    input_format: str,
) -> tuple[Tensor, int]:
    task = check_task(task)
    columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
    threshold = check_threshold(threshold, input_format)
    predicted, flat_target = format_labels(preds, target, task, columns, ignore_index, input_format, threshold)
    return _confusion_update(predicted, flat_target, task, columns), columns


def confusion_matrix(
    preds: Tensor,
    target: Tensor,
    task: str | None = None,
    threshold: float = 0.5,
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
    normalize: str | None = None,
) -> Tensor:
    """Confusion matrix with rows = true class and columns = predicted class (scikit-learn's layout).

    Args:
        preds: binary (N, ...) scores; multiclass (N, C, ...) scores or (N, ...) integer classes;
            multilabel (N, L, ...) scores.
        target: integer labels: binary and multilabel shaped like ``preds``, multiclass (N, ...).
        task: "binary", "multiclass" or "multilabel".
        threshold: a binary or multilabel value is positive iff ``value >= threshold``: a probability in
            [0, 1] (logits: compared as their float64 sigmoid), or any finite float in score units with
            ``input_format="scores"``.
        num_classes: number of classes (multiclass).
        num_labels: number of labels (multilabel).
        ignore_index: target value whose elements are left out (binary and multilabel: neither 0 nor 1;
            multiclass: may be a class index, whose samples are then left out).
        input_format: "probs" (checked to lie in [0, 1]), "logits" (float64 sigmoid before the threshold;
            multiclass takes the arg-max) or "scores" (any finite value, untransformed).
        normalize: None (counts), "true" (rows sum to 1), "pred" (columns sum to 1) or "all".

    Returns:
        binary (2, 2) ``[[TN, FP], [FN, TP]]``; multiclass (C, C); multilabel (L, 2, 2), one binary matrix
        per label. int64 counts, or float64 when normalised.

    Example:
        >>> import torch
        >>> confusion_matrix(torch.tensor([0.9, 0.2, 0.6, 0.4]), torch.tensor([1, 0, 0, 1]), task="binary")
        tensor([[1, 1],
                [1, 1]])
    """
    task = check_task(task)
    check_choice("normalize", normalize, NORMALIZATIONS)
    confmat, _ = _confusion_from_preds(
        preds, target, task, threshold, num_classes, num_labels, ignore_index, input_format
    )
    return _confusion_matrix_compute(confmat, normalize)


def sensitivity(
    preds: Tensor,
    target: Tensor,
    task: str | None = None,
    threshold: float = 0.5,
    num_classes: int | None = None,
    num_labels: int | None = None,
    average: str = "macro",
    ignore_index: int | None = None,
    input_format: str = "probs",
    zero_division: float | str = 0.0,
) -> Tensor:
    """Sensitivity, also called recall or true-positive rate: TP / (TP + FN).

    Args are those of :func:`confusion_matrix`, and:
        average: over classes: "macro" (mean), "micro" (pooled counts; for multiclass this is accuracy),
            "weighted" (mean weighted by each class's positives), "none" (one value per class). Binary ignores it.
        zero_division: value for a class with no positives: 0.0 (scikit-learn's default, with a warning),
            1.0, or "nan" (left out of averages). A multiclass class absent from both target and predictions
            is left out of macro and weighted averages, as scikit-learn and torchmetrics do; "none" reports it.

    Returns:
        A float64 scalar, or (C,) with ``average="none"``. NaN, with a warning, when no sample was given.

    Example:
        >>> import torch
        >>> sensitivity(torch.tensor([0.9, 0.2, 0.6, 0.4]), torch.tensor([1, 0, 0, 1]), task="binary")
        tensor(0.5000, dtype=torch.float64)
    """
    task = check_task(task)
    check_rate_args(average, zero_division)
    confmat, _ = _confusion_from_preds(
        preds, target, task, threshold, num_classes, num_labels, ignore_index, input_format
    )
    return _sensitivity_compute(confmat, task, average, zero_division)


def specificity(
    preds: Tensor,
    target: Tensor,
    task: str | None = None,
    threshold: float = 0.5,
    num_classes: int | None = None,
    num_labels: int | None = None,
    average: str = "macro",
    ignore_index: int | None = None,
    input_format: str = "probs",
    zero_division: float | str = 0.0,
) -> Tensor:
    """Specificity, the true-negative rate: TN / (TN + FP), one-vs-rest per class.

    Args are those of :func:`sensitivity`; "weighted" weighs each class by its positives (TP + FN). A
    multiclass class absent from both target and predictions is left out of macro and weighted averages.

    Returns:
        A float64 scalar, or (C,) with ``average="none"``. NaN, with a warning, when no sample was given.

    Example:
        >>> import torch
        >>> specificity(torch.tensor([0.9, 0.2, 0.6, 0.4]), torch.tensor([1, 0, 0, 1]), task="binary")
        tensor(0.5000, dtype=torch.float64)
    """
    task = check_task(task)
    check_rate_args(average, zero_division)
    confmat, _ = _confusion_from_preds(
        preds, target, task, threshold, num_classes, num_labels, ignore_index, input_format
    )
    return _specificity_compute(confmat, task, average, zero_division)
