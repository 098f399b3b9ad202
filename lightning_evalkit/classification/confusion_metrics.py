"""Sensitivity, Specificity and ConfusionMatrix: one summed confusion tensor each (thin shells over
:mod:`lightning_evalkit.classification.confusion`).

A dtype cast of the module never changes the state's dtype (counts stay int64), and the state's name carries a
digest of the arguments that give it its meaning (``state_name``), so a ``MetricCollection`` puts two metrics in
one compute group only when their counts truly mean the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._core.cat_states import state_name
from lightning_evalkit._core.checks import check_choice
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, interval_entries, value_entries
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit.classification.confusion import (
    NORMALIZATIONS,
    _confusion_matrix_compute,
    _confusion_update,
    _sensitivity_compute,
    _specificity_compute,
    check_rate_args,
    confusion_shape,
)
from lightning_evalkit.classification.inputs import (
    check_classification_args,
    check_task,
    check_threshold,
    format_labels,
)
from lightning_evalkit.classification.plot_sources import confusion_plot_source, per_class_plot_source

# clinical statistics (issue 9): confidence intervals of AUROC, Sensitivity and Specificity
from lightning_evalkit.classification.rate_intervals import _rate_interval
from lightning_evalkit.statistics.binomial import INTERVALS
from lightning_evalkit.statistics.normal import check_level, resolve_level


class _ConfusionMetric(Metric):
    """Accumulates one confusion tensor: binary (2, 2), multiclass (C, C), multilabel (L, 2, 2)."""

    is_differentiable = False
    full_state_update = False
    _apply = keep_dtypes_apply

    def __init__(
        self,
        task: str | None = None,
        threshold: float = 0.5,
        num_classes: int | None = None,
        num_labels: int | None = None,
        ignore_index: int | None = None,
        input_format: str = "probs",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
        self.task: str = check_task(task)
        self.num_classes, self.num_labels = num_classes, num_labels
        self.threshold = check_threshold(threshold, input_format)
        self.ignore_index, self.input_format = ignore_index, input_format
        shape = confusion_shape(self.task, self.columns)
        cut = None if task == "multiclass" else self.threshold  # multiclass takes the arg-max
        self._confmat_name = state_name("confmat", task, self.columns, cut, ignore_index, input_format)
        self.add_state(self._confmat_name, default=torch.zeros(shape, dtype=torch.long), dist_reduce_fx="sum")

    @property
    def confmat(self) -> Tensor:
        """The accumulated confusion counts (the state, under its argument-specific name)."""
        return getattr(self, self._confmat_name)

    @confmat.setter
    def confmat(self, value: Tensor) -> None:
        setattr(self, self._confmat_name, value)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Validate one batch and add its confusion counts (nothing changes if validation fails)."""
        predicted, flat_target = format_labels(
            preds, target, self.task, self.columns, self.ignore_index, self.input_format, self.threshold
        )
        self.confmat += _confusion_update(predicted, flat_target, self.task, self.columns)

    def confusion_counts(self) -> Tensor:
        """The confusion counts over all processes (a collective under DDP: call it on every rank)."""
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=not self._is_synced):
            return self.confmat.clone()

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Its value (one per class for a vector; a matrix is not logged)."""
        return value_entries(name, value)

    def plot_kinds(self) -> dict[str, int]:
        """The confusion matrix (a ConfusionMatrix's first: a rate metric may use another threshold), and a rate
        metric's per-class bars when it has one value per class."""
        kinds = {"confusion_matrix": 1}
        if self.task != "binary" and getattr(self, "average", None) == "none":
            kinds["per_class_values"] = 1
        return kinds

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The confusion counts over all processes (a collective), with the threshold the title names; the
        per-class bars of the computed value."""
        sources = []
        if "per_class_values" in plots:
            sources.append(per_class_plot_source(value, type(self).__name__.lower()))
        if "confusion_matrix" in plots:
            # the threshold decides binary and multilabel counts (multiclass takes the arg-max): the title says it
            threshold = None if self.task == "multiclass" else float(self.threshold)
            sources.append(confusion_plot_source(self.confusion_counts(), threshold))
        return sources


class _RateMetric(_ConfusionMetric):
    """Sensitivity and Specificity: one rate per class from the confusion counts, with binomial intervals."""

    higher_is_better = True
    _rate: str  # "sensitivity" or "specificity"

    def __init__(
        self,
        task: str | None = None,
        *,
        average: str = "macro",
        zero_division: float | str = 0.0,
        confidence_level: float | None = None,
        interval: str = "wilson",
        **kwargs: Any,
    ):
        check_rate_args(average, zero_division)
        check_choice("interval", interval, INTERVALS)
        self.confidence_level = None if confidence_level is None else check_level(confidence_level)
        super().__init__(task, **kwargs)
        self.average, self.zero_division, self.interval = average, zero_division, interval

    def compute(self) -> Tensor:
        """The rate over everything seen (NaN with a warning before any sample)."""
        rate_compute = _sensitivity_compute if self._rate == "sensitivity" else _specificity_compute
        return rate_compute(self.confmat, self.task, self.average, self.zero_division)

    def confidence_interval(self, level: float | None = None) -> tuple[Tensor, Tensor]:
        """Binomial ``(lower, upper)`` with the ``interval`` method, at ``level``, else ``confidence_level``, else 0.95.

        Per class (binary: scalars; ``average="micro"``: of the pooled counts), as
        :func:`lightning_evalkit.functional.sensitivity_confidence_interval` and its specificity twin. A
        collective under DDP: call it on every rank.
        """
        level = resolve_level(level, self.confidence_level)
        confmat = self.confusion_counts()
        _, lower, upper = _rate_interval(confmat, self.task, self._rate, self.average, level, self.interval)
        return lower, upper

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Its value, and with the callback's ``confidence_level`` its bounds ``<name>_ci_lower/_upper`` (at the
        metric's own level where it has one; a collective under DDP)."""
        return value_entries(name, value) + interval_entries(self, name, options)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit.plotting.values import plot_value_metric

        return plot_value_metric(self, val, ax)


class Sensitivity(_RateMetric):
    """Sensitivity (recall, true-positive rate): TP / (TP + FN).

    A binary or multilabel score is positive iff ``score >= threshold``, so ``Sensitivity(threshold=t)``
    equals the ROC curve's TPR at ``t``. Arguments are those of
    :func:`lightning_evalkit.functional.sensitivity`, plus ``confidence_level`` and ``interval``
    ("wilson" or "clopper_pearson") for :meth:`confidence_interval`.

    Example:
        >>> import torch
        >>> metric = Sensitivity(task="binary")
        >>> metric.update(torch.tensor([0.9, 0.2]), torch.tensor([1, 0]))
        >>> metric.update(torch.tensor([0.6, 0.4]), torch.tensor([0, 1]))
        >>> metric.compute()
        tensor(0.5000, dtype=torch.float64)
    """

    _rate = "sensitivity"


class Specificity(_RateMetric):
    """Specificity (true-negative rate): TN / (TN + FP), one-vs-rest per class.

    Arguments are those of :func:`lightning_evalkit.functional.specificity`, plus ``confidence_level`` and
    ``interval`` ("wilson" or "clopper_pearson") for :meth:`confidence_interval`.

    Example:
        >>> import torch
        >>> metric = Specificity(task="multiclass", num_classes=3, average="none")
        >>> metric.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]))
        >>> metric.compute()
        tensor([1.0000, 1.0000, 0.6667], dtype=torch.float64)
    """

    _rate = "specificity"


class ConfusionMatrix(_ConfusionMetric):
    """Confusion matrix, rows = true class, columns = predicted class (scikit-learn's layout).

    Arguments are those of :func:`lightning_evalkit.functional.confusion_matrix`.

    Example:
        >>> import torch
        >>> metric = ConfusionMatrix(task="binary")
        >>> metric.update(torch.tensor([0.9, 0.2, 0.6, 0.4]), torch.tensor([1, 0, 0, 1]))
        >>> metric.compute()
        tensor([[1, 1],
                [1, 1]])
    """

    higher_is_better = None

    def __init__(self, task: str | None = None, *, normalize: str | None = None, **kwargs: Any):
        check_choice("normalize", normalize, NORMALIZATIONS)
        super().__init__(task, **kwargs)
        self.normalize = normalize

    def compute(self) -> Tensor:
        """Counts (int64), or float64 rates with ``normalize``."""
        return _confusion_matrix_compute(self.confmat, self.normalize)

    def plot_kinds(self) -> dict[str, int]:
        """The confusion matrix, before any rate metric's."""
        return {"confusion_matrix": 0}

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the confusion matrix without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit.classification.plots import plot_confusion_metric

        return plot_confusion_metric(self, val, ax)
