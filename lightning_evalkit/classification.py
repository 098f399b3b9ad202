"""Classification metrics: thin torchmetrics shells over lightning_evalkit.functional.

Two small bases, one per state layout:

- ``_ConfusionMetric`` (Sensitivity, Specificity, ConfusionMatrix): one summed confusion tensor;
- ``_CurveMetric`` (ROC, AUROC): a summed histogram when binned, or concatenated scores and targets when exact.

Every state is a tensor reduced with "sum" or "cat", so a synced compute does one collective per state
however many batches there were.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._cat_states import CatStateMetric
from lightning_evalkit._checks import check_choice
from lightning_evalkit.functional._inputs import (
    AVERAGES,
    check_classification_args,
    check_threshold,
    format_labels,
    format_scores,
)
from lightning_evalkit.functional.confusion import (
    NORMALIZATIONS,
    _confusion_matrix_compute,
    _confusion_update,
    _sensitivity_compute,
    _specificity_compute,
    check_rate_args,
    confusion_shape,
)
from lightning_evalkit.functional.curves import (
    ThresholdCounts,
    _auroc_compute,
    _curve_counts_compute,
    _micro_counts,
    resolve_thresholds,
)
from lightning_evalkit.functional.roc import _curve_update, _roc_compute, exact_score_dtype


class _ConfusionMetric(Metric):
    """Accumulates one confusion tensor: binary (2, 2), multiclass (C, C), multilabel (L, 2, 2)."""

    is_differentiable = False
    full_state_update = False
    confmat: Tensor

    def __init__(
        self,
        task: str,
        threshold: float = 0.5,
        num_classes: int | None = None,
        num_labels: int | None = None,
        ignore_index: int | None = None,
        input_format: str = "probs",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
        self.task, self.num_classes, self.num_labels = task, num_classes, num_labels
        self.threshold = check_threshold(threshold)
        self.ignore_index, self.input_format = ignore_index, input_format
        shape = confusion_shape(task, self.columns)
        self.add_state("confmat", default=torch.zeros(shape, dtype=torch.long), dist_reduce_fx="sum")

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


class Sensitivity(_ConfusionMetric):
    """Sensitivity (recall, true-positive rate): TP / (TP + FN).

    A binary or multilabel score is positive iff ``score >= threshold``, so ``Sensitivity(threshold=t)``
    equals the ROC curve's TPR at ``t``. Arguments are those of
    :func:`lightning_evalkit.functional.sensitivity`.

    Example:
        >>> import torch
        >>> metric = Sensitivity(task="binary")
        >>> metric.update(torch.tensor([0.9, 0.2]), torch.tensor([1, 0]))
        >>> metric.update(torch.tensor([0.6, 0.4]), torch.tensor([0, 1]))
        >>> metric.compute()
        tensor(0.5000, dtype=torch.float64)
    """

    higher_is_better = True

    def __init__(self, task: str, *, average: str = "macro", zero_division: float | str = 0.0, **kwargs: Any):
        check_rate_args(average, zero_division)
        super().__init__(task, **kwargs)
        self.average, self.zero_division = average, zero_division

    def compute(self) -> Tensor:
        """Sensitivity over everything seen (NaN with a warning before any sample)."""
        return _sensitivity_compute(self.confmat, self.task, self.average, self.zero_division)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit._metric_plot import plot_value_metric

        return plot_value_metric(self, val, ax)


class Specificity(_ConfusionMetric):
    """Specificity (true-negative rate): TN / (TN + FP), one-vs-rest per class.

    Arguments are those of :func:`lightning_evalkit.functional.specificity`.

    Example:
        >>> import torch
        >>> metric = Specificity(task="multiclass", num_classes=3, average="none")
        >>> metric.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]))
        >>> metric.compute()
        tensor([1.0000, 1.0000, 0.6667], dtype=torch.float64)
    """

    higher_is_better = True

    def __init__(self, task: str, *, average: str = "macro", zero_division: float | str = 0.0, **kwargs: Any):
        check_rate_args(average, zero_division)
        super().__init__(task, **kwargs)
        self.average, self.zero_division = average, zero_division

    def compute(self) -> Tensor:
        """Specificity over everything seen (NaN with a warning before any sample)."""
        return _specificity_compute(self.confmat, self.task, self.average, self.zero_division)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit._metric_plot import plot_value_metric

        return plot_value_metric(self, val, ax)


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

    def __init__(self, task: str, *, normalize: str | None = None, **kwargs: Any):
        check_choice("normalize", normalize, NORMALIZATIONS)
        super().__init__(task, **kwargs)
        self.normalize = normalize

    def compute(self) -> Tensor:
        """Counts (int64), or float64 rates with ``normalize``."""
        return _confusion_matrix_compute(self.confmat, self.normalize)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the confusion matrix without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit._metric_plot import plot_confusion_metric

        return plot_confusion_metric(self, val, ax)


class _CurveMetric(CatStateMetric):
    """Accumulates what a threshold curve needs: a (C, 2, T + 1) histogram (binned) or every score (exact)."""

    is_differentiable = False
    full_state_update = False
    thresholds: Tensor
    histogram: Tensor
    scores: list[Tensor]
    target: list[Tensor]

    def __init__(
        self,
        task: str,
        thresholds: int | list[float] | Tensor | None = None,
        num_classes: int | None = None,
        num_labels: int | None = None,
        ignore_index: int | None = None,
        input_format: str = "probs",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
        self.task, self.num_classes, self.num_labels = task, num_classes, num_labels
        self.ignore_index, self.input_format = ignore_index, input_format
        grid = resolve_thresholds(thresholds)
        self.binned = grid is not None
        # a buffer, so the thresholds follow the metric's device
        self.register_buffer("thresholds", grid if grid is not None else torch.empty(0), persistent=False)
        self._templates = {}
        if grid is not None:
            bins = torch.zeros(self.columns, 2, grid.numel() + 1, dtype=torch.long)
            self.add_state("histogram", default=bins, dist_reduce_fx="sum")
        else:
            score_shape = (0,) if task == "binary" else (0, self.columns)
            target_shape = (0, self.columns) if task == "multilabel" else (0,)
            self._add_cat_states(
                {"scores": torch.empty(score_shape), "target": torch.empty(target_shape, dtype=torch.long)}
            )

    def _grid(self) -> Tensor | None:
        return self.thresholds if self.binned else None

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Validate one batch and add it to the state (nothing changes if validation fails)."""
        scores, flat_target = format_scores(
            preds, target, self.task, self.columns, self.ignore_index, self.input_format
        )
        added = _curve_update(scores, flat_target, self.task, self.columns, self._grid(), exact_score_dtype(preds))
        if self.binned:
            self.histogram += added[0]
        else:
            self.scores.append(added[0])
            self.target.append(added[1])

    def _before_sync(self, process_group: Any | None) -> None:
        """Agree on one score dtype across ranks (one scalar all-reduce) before the exact states are gathered.

        Exact mode keeps float32 input as float32 and float64 as float64; ranks that differ, or a rank that
        saw nothing, must still send scores of one dtype.
        """
        if self.binned:
            return
        scores = self.scores if isinstance(self.scores, list) else [self.scores]
        wide = torch.tensor(int(any(s.dtype == torch.float64 for s in scores)), device=self.device)
        torch.distributed.all_reduce(wide, op=torch.distributed.ReduceOp.MAX, group=process_group)
        score_dtype = torch.float64 if bool(wide) else torch.float32
        self._templates["scores"] = self._templates["scores"].to(score_dtype)
        self.scores = [s.to(score_dtype) for s in scores]

    def _curve_state(self) -> tuple[Tensor, ...]:
        if self.binned:
            return (self.histogram,)
        return self._cat_state("scores"), self._cat_state("target")

    def _warn_if_empty(self) -> None:
        state = self._curve_state()
        seen = int(state[0].sum()) if self.binned else state[0].shape[0]
        if seen == 0:
            warnings.warn(
                f"{type(self).__name__}: compute() was called before any sample was seen; returning NaN.",
                stacklevel=3,
            )

    def curve_counts(self) -> list[ThresholdCounts]:
        """Counts at every threshold per class, over all processes (a collective under DDP: call on every rank).

        Binary gives a list of one. In exact mode there is one threshold per distinct score.
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=not self._is_synced):
            return _curve_counts_compute(self._curve_state(), self.task, self.columns, self._grid())


class ROC(_CurveMetric):
    """Receiver operating characteristic curve, exact (``thresholds=None``) or binned.

    Arguments are those of :func:`lightning_evalkit.functional.roc`. compute() returns binary
    ``(fpr, tpr, thresholds)`` ordered as scikit-learn's ``roc_curve``; multiclass (one-vs-rest) and
    multilabel return three lists of per-class tensors.

    Example:
        >>> import torch
        >>> metric = ROC(task="binary")
        >>> metric.update(torch.tensor([0.1, 0.4]), torch.tensor([0, 0]))
        >>> metric.update(torch.tensor([0.35, 0.8]), torch.tensor([1, 1]))
        >>> fpr, tpr, thresholds = metric.compute()
        >>> fpr
        tensor([0.0000, 0.0000, 0.5000, 0.5000, 1.0000], dtype=torch.float64)
    """

    higher_is_better = None

    def __init__(self, task: str, *, drop_intermediate: bool = True, **kwargs: Any):
        super().__init__(task, **kwargs)
        self.drop_intermediate = drop_intermediate

    def compute(self) -> tuple[Tensor, Tensor, Tensor] | tuple[list[Tensor], ...]:
        """The curve over everything seen."""
        self._warn_if_empty()
        per_class = _curve_counts_compute(self._curve_state(), self.task, self.columns, self._grid())
        return _roc_compute(per_class, self.task, self.drop_intermediate)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the ROC curve without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit._metric_plot import plot_curve_metric

        return plot_curve_metric(self, val, ax)


class AUROC(_CurveMetric):
    """Area under the ROC curve, exact (``thresholds=None``, equals scikit-learn) or binned (constant memory).

    Arguments are those of :func:`lightning_evalkit.functional.auroc`; multiclass is one-vs-rest.

    Example:
        >>> import torch
        >>> metric = AUROC(task="binary", thresholds=1000)
        >>> metric.update(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))
        >>> metric.compute()
        tensor(0.7500, dtype=torch.float64)
    """

    higher_is_better = True

    def __init__(self, task: str, *, average: str = "macro", **kwargs: Any):
        check_choice("average", average, AVERAGES)
        super().__init__(task, **kwargs)
        self.average = average

    def compute(self) -> Tensor:
        """AUROC over everything seen (NaN with a warning before any sample or with one class present)."""
        self._warn_if_empty()
        state = self._curve_state()
        per_class = _curve_counts_compute(state, self.task, self.columns, self._grid())
        pooled = self.task != "binary" and self.average == "micro"
        micro = _micro_counts(state, self.task, self.columns, self._grid()) if pooled else None
        return _auroc_compute(per_class, micro, self.task, self.average)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the ROC curve without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit._metric_plot import plot_curve_metric

        return plot_curve_metric(self, val, ax)
