"""ROC and AUROC: thin torchmetrics shells over the curve code (:mod:`lightning_evalkit.classification.curves`).

``_CurveMetric`` keeps what a threshold curve needs: a summed histogram when binned, or concatenated scores and
targets when exact; every state is reduced with "sum" or "cat", so a synced compute does one collective per
state however many batches there were. Two guards keep a number right whatever the surrounding code does:

- dtype casts (Lightning's ``precision="bf16-true"`` / ``"16-true"``, ``.to(dtype)``, ``.half()``,
  ``set_dtype``) move the metric's tensors to the new device but never change their dtype: counts stay
  int64, thresholds float64 and exact values as stored;
- each state's name carries a digest of the arguments that decide what the state means (task, classes,
  input format, ignore_index, binned thresholds; see ``state_name``), so a ``MetricCollection`` puts two
  metrics in one compute group only when their states truly mean the same (exact ROC and AUROC of one task and
  format), never two thresholds of one metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.cat_states import CatStateMetric, state_name
from lightning_evalkit._core.checks import check_choice
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit._core.report import (
    LoggedValue,
    PlotSource,
    ReportOptions,
    interval_entries,
    result_entries,
    value_entries,
)
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit.classification.auc_intervals import _auroc_interval_compute
from lightning_evalkit.classification.curves import (
    ThresholdCounts,
    _auroc_compute,
    _curve_counts_compute,
    check_max_fpr,
    resolve_thresholds,
)
from lightning_evalkit.classification.inputs import (
    AVERAGES,
    check_classification_args,
    check_task,
    format_scores,
)
from lightning_evalkit.classification.operating_points import operating_point_from_counts
from lightning_evalkit.classification.plot_sources import CURVE_PLOTS, curve_plot_sources, per_class_plot_source

# clinical statistics (issue 9): confidence intervals of AUROC, Sensitivity and Specificity
from lightning_evalkit.classification.roc import _curve_update, _roc_compute, exact_score_dtype
from lightning_evalkit.statistics.normal import check_level, resolve_level


class _CurveMetric(CatStateMetric):
    """Accumulates what a threshold curve needs: a (C, 2, T + 1) histogram (binned) or every value (exact).

    Exact mode keeps, per sample, the input values as given (float32, or float64 for float64 input: 4 or 8
    bytes per class column) and the int64 target (8 bytes; multilabel one per label).
    """

    is_differentiable = False
    full_state_update = False
    thresholds: Tensor
    _apply = keep_dtypes_apply

    def __init__(
        self,
        task: str | None = None,
        thresholds: int | list[float] | Tensor | None = None,
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
        self.ignore_index, self.input_format = ignore_index, input_format
        grid = resolve_thresholds(thresholds, input_format)
        self.binned = grid is not None
        # a buffer, so the thresholds follow the metric's device (and, by _apply, never its dtype casts)
        self.register_buffer("thresholds", grid if grid is not None else torch.empty(0), persistent=False)
        self._templates = {}
        meaning = (task, self.columns, ignore_index, input_format)
        if grid is not None:
            self._histogram_name = state_name("histogram", *meaning, grid.tolist())
            bins = torch.zeros(self.columns, 2, grid.numel() + 1, dtype=torch.long)
            self.add_state(self._histogram_name, default=bins, dist_reduce_fx="sum")
        else:
            self._values_name, self._target_name = state_name("scores", *meaning), state_name("target", *meaning)
            score_shape = (0,) if task == "binary" else (0, self.columns)
            target_shape = (0, self.columns) if task == "multilabel" else (0,)
            self._add_cat_states(
                {
                    self._values_name: torch.empty(score_shape, dtype=torch.float32),
                    self._target_name: torch.empty(target_shape, dtype=torch.long),
                }
            )

    def _grid(self) -> Tensor | None:
        return self.thresholds if self.binned else None

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Validate one batch and add it to the state (nothing changes if validation fails)."""
        values, flat_target = format_scores(
            preds, target, self.task, self.columns, self.ignore_index, self.input_format
        )
        grid, score_dtype = self._grid(), exact_score_dtype(preds)
        added = _curve_update(values, flat_target, self.task, self.columns, grid, score_dtype, self.input_format)
        if self.binned:
            getattr(self, self._histogram_name).add_(added[0])
        else:
            getattr(self, self._values_name).append(added[0])
            getattr(self, self._target_name).append(added[1])

    def _before_sync(self, process_group: Any | None) -> None:
        """Agree on one score dtype across ranks (one scalar all-reduce) before the exact states are gathered.

        Exact mode keeps float32 input as float32 and float64 as float64; ranks that differ, or a rank that
        saw nothing, must still send scores of one dtype.
        """
        if self.binned:
            return
        stored = getattr(self, self._values_name)
        scores = stored if isinstance(stored, list) else [stored]
        wide = torch.tensor(int(any(s.dtype == torch.float64 for s in scores)), device=self.device)
        torch.distributed.all_reduce(wide, op=torch.distributed.ReduceOp.MAX, group=process_group)
        score_dtype = torch.float64 if bool(wide) else torch.float32
        self._templates[self._values_name] = self._templates[self._values_name].to(score_dtype)
        setattr(self, self._values_name, [s.to(score_dtype) for s in scores])

    def _curve_state(self) -> tuple[Tensor, ...]:
        if self.binned:
            return (getattr(self, self._histogram_name),)
        return self._cat_state(self._values_name), self._cat_state(self._target_name)

    def _warn_if_empty(self) -> None:
        if self.binned:
            seen = int(getattr(self, self._histogram_name).sum())
        else:
            stored = getattr(self, self._values_name)
            seen = sum(s.shape[0] for s in stored) if isinstance(stored, list) else stored.shape[0]
        if seen == 0:
            rank_zero_warn(
                f"{type(self).__name__}: compute() was called before any sample was seen; returning NaN.",
                stacklevel=3,
            )

    def curve_counts(self) -> list[ThresholdCounts]:
        """Counts at every threshold per class, over all processes (a collective under DDP: call on every rank).

        Binary gives a list of one. In exact mode there is one threshold per distinct score.
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=not self._is_synced):
            return _curve_counts_compute(self._curve_state(), self.task, self.columns, self._grid(), self.input_format)

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Its value where it is a tensor (a curve is not logged) and, with the callback's ``operating_point``, the
        best binary point ``<name>_op_<key>`` (a collective under DDP)."""
        return result_entries(name, value) + self._operating_point_entries(name, options)

    def _operating_point_entries(self, name: str, options: ReportOptions) -> list[LoggedValue]:
        if options.operating_point is None or self.task != "binary":
            return []
        counts = self.curve_counts()[0]
        point = operating_point_from_counts(counts, options.operating_point, options.confidence_level)
        return [entry for key, value in point.items() for entry in value_entries(f"{name}_op_{key}", value)]

    def plot_kinds(self) -> dict[str, int]:
        """The ROC, sensitivity/specificity and precision-recall curves, and TensorBoard's PR-curve plugin."""
        return dict.fromkeys(CURVE_PLOTS, 1)

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The threshold counts of the curves (a collective under DDP)."""
        return curve_plot_sources(self, plots, options)


class ROC(_CurveMetric):
    """Receiver operating characteristic curve, exact (``thresholds=None``) or binned.

    Arguments are those of :func:`lightning_evalkit.classification.roc`. compute() returns binary
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

    def __init__(self, task: str | None = None, *, drop_intermediate: bool = True, **kwargs: Any):
        super().__init__(task, **kwargs)
        self.drop_intermediate = drop_intermediate

    def compute(self) -> tuple[Tensor, Tensor, Tensor] | tuple[list[Tensor], ...]:
        """The curve over everything seen."""
        self._warn_if_empty()
        per_class = _curve_counts_compute(self._curve_state(), self.task, self.columns, self._grid(), self.input_format)
        return _roc_compute(per_class, self.task, self.drop_intermediate)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the ROC curve without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit.classification.plots import plot_curve_metric

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

    def __init__(
        self,
        task: str | None = None,
        *,
        average: str = "macro",
        max_fpr: float | None = None,
        confidence_level: float | None = None,
        **kwargs: Any,
    ):
        check_choice("average", average, AVERAGES)
        self.confidence_level = None if confidence_level is None else check_level(confidence_level)
        super().__init__(task, **kwargs)
        self.average, self.max_fpr = average, check_max_fpr(max_fpr, self.task)
        if self.max_fpr is not None and confidence_level is not None:
            raise ValueError(_PARTIAL_AUC_INTERVAL.format(f"AUROC(max_fpr={max_fpr}, confidence_level=...)"))

    def confidence_interval(self, level: float | None = None) -> tuple[Tensor, Tensor]:
        """DeLong's ``(lower, upper)`` at ``level``, else ``confidence_level``, else 0.95, as
        ``auroc_confidence_interval``.

        Per class for multiclass and multilabel (of the pooled problem with ``average="micro"``). Synced like
        :meth:`curve_counts`: a collective under DDP, call it on every rank.
        """
        level = resolve_level(level, self.confidence_level)
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=not self._is_synced):
            args = (self.task, self.columns, self._grid(), self.input_format, self.average, self.max_fpr, level)
            return _auroc_interval_compute(self._curve_state(), *args)

    def compute(self) -> Tensor:
        """AUROC over everything seen (NaN with a warning before any sample or with one class present)."""
        self._warn_if_empty()
        state = self._curve_state()
        return _auroc_compute(
            state, self.task, self.columns, self._grid(), self.input_format, self.average, self.max_fpr
        )

    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Refuse an interval of the partial AUC: DeLong's covers only the full AUC (the callback's ``bootstrap``
        gives it one)."""
        if options.confidence_level is not None and self.max_fpr is not None and options.bootstrap is None:
            raise ValueError(_PARTIAL_AUC_INTERVAL.format(f"EvalCallback(confidence_level=...) with metrics[{name!r}]"))
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Its value, the operating point (see ROC) and, with the callback's ``confidence_level``, DeLong's
        bounds ``<name>_ci_lower/_upper`` (at the metric's own level where it has one; collectives under DDP) of the
        full AUC; a partial AUC has none of its own."""
        delong = interval_entries(self, name, options) if self.max_fpr is None else []
        return super().logged_values(name, value, options) + delong

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The curve counts (with many classes the title's macro AUC is this AUROC's own value), and the per-class
        bars of a per-class value."""
        sources = curve_plot_sources(self, plots, options, self._macro_auc(value))
        if "per_class_values" in plots and value is not None:
            sources.append(per_class_plot_source(value, "AUROC"))
        return sources

    def plot_kinds(self) -> dict[str, int]:
        """The curves, and the per-class bars when it has one value per class (``average="none"``)."""
        kinds = super().plot_kinds()
        if self.task != "binary" and self.average == "none" and self.max_fpr is None:
            kinds["per_class_values"] = 1
        return kinds

    def _macro_auc(self, value: Any) -> float | None:
        """The macro-average AUC over every class that the computed ``value`` holds, else None."""
        if value is None or self.max_fpr is not None:
            return None
        values = value.detach().double().cpu().reshape(-1)
        if self.average == "macro" and values.numel() == 1:
            return float(values[0])
        if self.average == "none" and values.numel() > 1:
            return float(values.nanmean()) if not bool(values.isnan().all()) else float("nan")
        return None

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the ROC curve without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit.classification.plots import plot_curve_metric

        return plot_curve_metric(self, val, ax)


_PARTIAL_AUC_INTERVAL = (
    "Expected no confidence interval of a partial AUC, but got {}: DeLong's interval covers the full AUC only. "
    "Drop `max_fpr` to get the full AUC with its interval, or drop `confidence_level` to log the partial AUC alone."
)
