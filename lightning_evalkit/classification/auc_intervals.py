"""DeLong's variance, confidence interval and paired test of the ROC-AUC (pROC's ``ci.auc`` and ``roc.test``).

The fast algorithm of Sun and Xu (2014) needs only the midranks of the pooled, positive and negative scores.
Within the run of samples sharing one score, those midranks differ by the count of the other class below the
run plus half the tied ones (ties count one half), so every structural component follows from the per-score
class counts: the same counts the ROC curve is built from. One sort, then O(number of distinct scores) work;
never the P x N kernel matrix.

For positive ``i`` and negative ``j``, with ``psi = 1 if x_i > y_j, 1/2 if equal, 0 otherwise``:

- ``V10_i = mean_j psi(x_i, y_j)`` and ``V01_j = mean_i psi(x_i, y_j)``; the AUC is the mean of either;
- ``Var(AUC) = S10 / P + S01 / N`` with ``S10``, ``S01`` the sample variances (denominator P - 1, N - 1);
- the interval is ``AUC +- z * sqrt(Var)`` clipped to [0, 1], ``z`` the normal quantile (pROC's "delong").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_same_shape
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit.classification.curves import ThresholdCounts, _curve_counts_compute, _micro_counts
from lightning_evalkit.classification.exact import _runs, class_problems, pooled_problem, sort_problem
from lightning_evalkit.classification.inputs import check_classification_args, check_task, format_scores
from lightning_evalkit.statistics.delong import _auc_and_variance, _chunked_auc_and_variance, _z_test, delong_covariance
from lightning_evalkit.statistics.normal import _normal_interval, check_level


def _runs_from_counts(counts: ThresholdCounts) -> tuple[Tensor, Tensor]:
    """Positives and negatives at each distinct score (ascending) from the counts at each score."""
    zero = counts.tp.new_zeros(1)
    pos = counts.tp - torch.cat([counts.tp[1:], zero])
    neg = counts.fp - torch.cat([counts.fp[1:], zero])
    return pos, neg


def delong_interval_from_counts(counts: ThresholdCounts, level: float = 0.95) -> tuple[Tensor, Tensor, Tensor]:
    """``(auc, lower, upper)`` of one class from its threshold counts (exact counts: one per distinct score).

    From binned counts it is the interval of the binned AUC (scores rounded down to the grid).

    Example:
        >>> import torch
        >>> from lightning_evalkit.functional import curve_counts
        >>> scores = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.6])
        >>> counts = curve_counts(scores, torch.tensor([0, 0, 1, 1, 0, 0, 1, 1]), task="binary")
        >>> [round(float(v), 4) for v in delong_interval_from_counts(counts[0])]
        [0.8125, 0.4808, 1.0]
    """
    level = check_level(level)
    pos, neg = _runs_from_counts(counts)
    auc, variance = _auc_and_variance(pos, neg)
    return _normal_interval(auc, variance, level)


def _warn_one_class(aucs: Tensor, what: str) -> None:
    undefined = aucs.isnan()
    if bool(undefined.any()):
        where = f" for classes {undefined.nonzero().flatten().tolist()}" if aucs.numel() > 1 else ""
        rank_zero_warn(f"{what} is undefined (NaN){where}: only one class is present in the target.", stacklevel=3)


def _stack_per_class(values: Sequence[tuple[Tensor, ...]], task: str) -> tuple[Tensor, ...]:
    stacked = tuple(torch.stack(column) for column in zip(*values, strict=True))
    return tuple(v[0] for v in stacked) if task == "binary" else stacked


def _delong_intervals(
    runs: list[list[tuple[Tensor, Tensor]]], task: str, level: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class ``(auc, lower, upper)`` from per-class chunks of run counts; scalars for binary, (C,) otherwise."""
    per_class = [_normal_interval(*_chunked_auc_and_variance(chunks), level) for chunks in runs]
    result = _stack_per_class(per_class, task)
    _warn_one_class(result[0].reshape(-1), "The AUROC confidence interval")
    return result[0], result[1], result[2]


def _exact_runs(values: Tensor, positive: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Chunks of (positives, negatives) per distinct value, ascending: one sort, walked as AUROC's exact AUC."""
    walk = _runs(sort_problem(values, positive))
    return [(run_positives, run_sizes - run_positives) for _, run_positives, run_sizes in walk]


def _state_runs(
    state: tuple[Tensor, ...], task: str, columns: int, thresholds: Tensor | None, input_format: str, micro: bool
) -> list[list[tuple[Tensor, Tensor]]]:
    """Per-class (or pooled, with ``micro``) chunks of run counts from an AUROC state: exact values or a histogram."""
    if thresholds is not None:
        counts = (
            [_micro_counts(state, task, columns, thresholds, input_format)]
            if micro
            else _curve_counts_compute(state, task, columns, thresholds, input_format)
        )
        return [[_runs_from_counts(c)] for c in counts]
    if micro:
        return [_exact_runs(*pooled_problem(state[0], state[1], task, columns, input_format))]
    return [
        _exact_runs(values, positive)
        for values, positive in class_problems(state[0], state[1], task, columns, input_format)
    ]


def auroc_confidence_interval(
    preds: Tensor,
    target: Tensor,
    task: str | None,
    level: float = 0.95,
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
) -> tuple[Tensor, Tensor, Tensor]:
    """ROC-AUC with DeLong's confidence interval (pROC's ``ci.auc(method="delong")``), from the exact scores.

    Args:
        preds, target, task, num_classes, num_labels, ignore_index, input_format: as for
            :func:`lightning_evalkit.functional.auroc`.
        level: confidence level in (0, 1).

    Returns:
        ``(auc, lower, upper)``, float64: scalars for binary; (C,) per class for multiclass (one-vs-rest) and
        multilabel. The interval is the normal one on the AUC scale, clipped to [0, 1]. A class with only
        one class present has NaN everywhere (with a warning); with a single positive or negative the
        variance, and so the interval, is NaN.

    Example:
        >>> import torch
        >>> preds = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.6])
        >>> auc, lower, upper = auroc_confidence_interval(preds, torch.tensor([0, 0, 1, 1, 0, 0, 1, 1]), task="binary")
        >>> round(float(auc), 4), round(float(lower), 4), round(float(upper), 4)
        (0.8125, 0.4808, 1.0)
    """
    level = check_level(level)
    task = check_task(task)
    columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
    scores, flat_target = format_scores(preds, target, task, columns, ignore_index, input_format)
    runs = _state_runs((scores, flat_target), task, columns, None, input_format, micro=False)
    return _delong_intervals(runs, task, level)


def _delong_tests(
    values_a: Tensor, values_b: Tensor, target: Tensor, task: str, columns: int, input_format: str
) -> tuple[Tensor, Tensor]:
    """Per-class ``(z, p_value)`` from both models' formatted values (ranked as stored; multiclass logits as
    their softmax, as AUROC ranks them)."""
    results = []
    problems_a = class_problems(values_a, target, task, columns, input_format)
    problems_b = class_problems(values_b, target, task, columns, input_format)
    for (scores_a, positive), (scores_b, _) in zip(problems_a, problems_b, strict=True):
        aucs, covariance = delong_covariance(scores_a, scores_b, positive)
        results.append(_z_test(aucs, covariance))
    z, p_value = _stack_per_class(results, task)[:2]
    if bool(z.isnan().any()):
        rank_zero_warn(
            "DeLong test is undefined (NaN) where a class is absent, has a single sample, or both AUCs have zero "
            "variance of their difference.",
            stacklevel=3,
        )
    return z, p_value


def delong_test(
    preds_a: Tensor,
    preds_b: Tensor,
    target: Tensor,
    task: str | None = "binary",
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
) -> tuple[Tensor, Tensor]:
    """Paired DeLong test of two models' ROC-AUCs on the same samples (pROC's ``roc.test(method="delong")``).

    Args:
        preds_a: scores of model A, shaped as for :func:`lightning_evalkit.functional.auroc`.
        preds_b: scores of model B for the same samples, the shape of ``preds_a``.
        target, task, num_classes, num_labels, ignore_index, input_format: as for ``auroc``.

    Returns:
        ``(z, p_value)``, float64: ``z = (AUC_a - AUC_b) / sd`` with ``sd`` from the DeLong covariance of the
        two AUCs, and the two-sided normal p-value. Scalars for binary, (C,) per class otherwise. NaN, with a
        warning, where a class is absent, has a single sample, or the difference has zero variance.

    Example:
        >>> import torch
        >>> target = torch.tensor([0, 1, 0, 1, 0, 1, 1, 0])
        >>> a = torch.tensor([0.1, 0.8, 0.4, 0.9, 0.3, 0.7, 0.6, 0.2])
        >>> b = torch.tensor([0.3, 0.2, 0.6, 0.7, 0.1, 0.5, 0.4, 0.8])
        >>> z, p = delong_test(a, b, target)
        >>> round(float(z), 4), round(float(p), 4)
        (2.0, 0.0455)
    """
    task = check_task(task)
    columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
    for name, value in (("preds_a", preds_a), ("preds_b", preds_b)):
        if not isinstance(value, Tensor):
            raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(value).__name__}.")
    check_same_shape("preds_a", preds_a, "preds_b", preds_b)
    scores_a, flat_target = format_scores(preds_a, target, task, columns, ignore_index, input_format)
    scores_b, _ = format_scores(preds_b, target, task, columns, ignore_index, input_format)
    return _delong_tests(scores_a, scores_b, flat_target, task, columns, input_format)


def _auroc_interval_compute(
    state: tuple[Tensor, ...],
    task: str,
    columns: int,
    thresholds: Tensor | None,
    input_format: str,
    average: str,
    max_fpr: float | None,
    level: float,
) -> tuple[Tensor, Tensor]:
    """``(lower, upper)`` for AUROC's state: per class, or of the pooled problem with ``average="micro"``."""
    if max_fpr is not None:
        raise ValueError(f"Expected `max_fpr` to be None for DeLong's interval (full AUC only), but got {max_fpr}.")
    micro = task != "binary" and average == "micro"
    runs = _state_runs(state, task, columns, thresholds, input_format, micro)
    _, lower, upper = _delong_intervals(runs, "binary" if micro else task, level)
    return lower, upper
