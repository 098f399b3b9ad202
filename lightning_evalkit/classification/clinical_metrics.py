"""Clinical metrics: operating points on the ROC curve and the paired DeLong test, as torchmetrics shells.

``SensitivityAtSpecificity`` and ``SpecificityAtSensitivity`` keep the curve state of ROC and AUROC (exact scores or
a binned histogram); ``DeLongTest`` keeps the exact scores of two models on the same samples. All states are
"sum" or "cat" tensors, so under DDP the synced results equal the single-process ones exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.cat_states import CatStateMetric
from lightning_evalkit._core.checks import check_same_shape, check_tensor
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, value_entries
from lightning_evalkit.classification.auc_intervals import _delong_tests
from lightning_evalkit.classification.curve_metrics import _CurveMetric
from lightning_evalkit.classification.curves import _curve_counts_compute
from lightning_evalkit.classification.inputs import check_classification_args, check_task, format_scores
from lightning_evalkit.classification.operating_points import _operating_points_compute, check_rate


class _OperatingPointMetric(_CurveMetric):
    """The best rate ``_maximise`` subject to a minimum of the other rate, and its threshold (curve state)."""

    higher_is_better = True
    _maximise: str  # "sensitivity" or "specificity"
    _minimum: float  # the constraint on the other rate

    def compute(self) -> tuple[Tensor, Tensor]:
        """``(rate, threshold)`` over everything seen."""
        self._warn_if_empty()
        per_class = _curve_counts_compute(self._curve_state(), self.task, self.columns, self._grid(), self.input_format)
        return _operating_points_compute(per_class, self.task, self._maximise, self._minimum)

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """The rate as ``<name>`` and its threshold as ``<name>_threshold`` (per class where there are classes),
        and the operating point of ``options`` as every curve metric logs it."""
        rate, threshold = value
        entries = value_entries(name, rate) + value_entries(f"{name}_threshold", threshold)
        return entries + self._operating_point_entries(name, options)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the ROC with the operating point and the constraint, without pyplot; returns ``(figure, axes)``."""
        from lightning_evalkit.classification.clinical_plots import plot_operating_point_metric

        return plot_operating_point_metric(self, val, ax)


class SensitivityAtSpecificity(_OperatingPointMetric):
    """The highest sensitivity at a specificity of at least ``min_specificity``, and its threshold.

    Arguments are those of :func:`lightning_evalkit.functional.sensitivity_at_specificity`; compute() returns
    ``(sensitivity, threshold)`` (per class for multiclass and multilabel), as torchmetrics' metric of this name.

    Example:
        >>> import torch
        >>> metric = SensitivityAtSpecificity(task="binary", min_specificity=0.6)
        >>> metric.update(torch.tensor([0.1, 0.4, 0.35]), torch.tensor([0, 0, 1]))
        >>> metric.update(torch.tensor([0.8, 0.7]), torch.tensor([1, 0]))
        >>> metric.compute()
        (tensor(0.5000, dtype=torch.float64), tensor(0.8000, dtype=torch.float64))
    """

    _maximise = "sensitivity"

    def __init__(self, task: str | None, min_specificity: float, **kwargs: Any) -> None:
        self.min_specificity = self._minimum = check_rate("min_specificity", min_specificity)
        super().__init__(task, **kwargs)


class SpecificityAtSensitivity(_OperatingPointMetric):
    """The highest specificity at a sensitivity of at least ``min_sensitivity``, and its threshold.

    Arguments are those of :func:`lightning_evalkit.functional.specificity_at_sensitivity`; compute() returns
    ``(specificity, threshold)``.

    Example:
        >>> import torch
        >>> metric = SpecificityAtSensitivity(task="binary", min_sensitivity=1.0, thresholds=11)
        >>> metric.update(torch.tensor([0.1, 0.4, 0.35, 0.8, 0.7]), torch.tensor([0, 0, 1, 1, 0]))
        >>> metric.compute()
        (tensor(0.3333, dtype=torch.float64), tensor(0.3000, dtype=torch.float64))
    """

    _maximise = "specificity"

    def __init__(self, task: str | None, min_sensitivity: float, **kwargs: Any) -> None:
        self.min_sensitivity = self._minimum = check_rate("min_sensitivity", min_sensitivity)
        super().__init__(task, **kwargs)


class DeLongTest(CatStateMetric):
    """Paired DeLong test of a model's ROC-AUC against a baseline's, scored on the same samples.

    ``update(preds, baseline_preds, target)`` accumulates both score streams (exact, float64); compute() returns
    ``(z, p_value)`` of :func:`lightning_evalkit.functional.delong_test` with model A = ``preds`` (z > 0 when the
    model's AUC is the higher). Arguments are those of ``delong_test``.

    Example:
        >>> import torch
        >>> metric = DeLongTest(task="binary")
        >>> target = torch.tensor([0, 1, 0, 1, 0, 1, 1, 0])
        >>> model = torch.tensor([0.1, 0.8, 0.4, 0.9, 0.3, 0.7, 0.6, 0.2])
        >>> baseline = torch.tensor([0.3, 0.2, 0.6, 0.7, 0.1, 0.5, 0.4, 0.8])
        >>> metric.update(model[:5], baseline[:5], target[:5])
        >>> metric.update(model[5:], baseline[5:], target[5:])
        >>> z, p_value = metric.compute()
        >>> round(float(z), 4), round(float(p_value), 4)
        (2.0, 0.0455)
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False
    scores: list[Tensor]
    baseline_scores: list[Tensor]
    target: list[Tensor]

    def __init__(
        self,
        task: str | None = "binary",
        num_classes: int | None = None,
        num_labels: int | None = None,
        ignore_index: int | None = None,
        input_format: str = "probs",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
        task = self.task = check_task(task)
        self.num_classes, self.num_labels = num_classes, num_labels
        self.ignore_index, self.input_format = ignore_index, input_format
        score_shape = (0,) if task == "binary" else (0, self.columns)
        target_shape = (0, self.columns) if task == "multilabel" else (0,)
        scores = torch.empty(score_shape, dtype=torch.float64)
        self._add_cat_states(
            {"scores": scores, "baseline_scores": scores.clone(), "target": torch.empty(target_shape, dtype=torch.long)}
        )

    def update(self, preds: Tensor, baseline_preds: Tensor, target: Tensor) -> None:
        """Validate one batch of both models' scores and add it (nothing changes if validation fails)."""
        check_tensor("preds", preds)
        check_tensor("baseline_preds", baseline_preds)
        check_same_shape("preds", preds, "baseline_preds", baseline_preds)
        args = (self.task, self.columns, self.ignore_index, self.input_format)
        scores, flat_target = format_scores(preds, target, *args)
        baseline_scores, _ = format_scores(baseline_preds, target, *args)
        self.scores.append(scores.double())
        self.baseline_scores.append(baseline_scores.double())
        self.target.append(flat_target)

    def compute(self) -> tuple[Tensor, Tensor]:
        """``(z, p_value)`` over everything seen (NaN with a warning where the test is undefined)."""
        values = self._cat_state("scores"), self._cat_state("baseline_scores"), self._cat_state("target")
        return _delong_tests(*values, self.task, self.columns, self.input_format)

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """The test's ``<name>_z`` and ``<name>_p_value`` (per class where there are classes)."""
        z, p_value = value
        return value_entries(f"{name}_z", z) + value_entries(f"{name}_p_value", p_value)

    def plot_kinds(self) -> dict[str, int]:
        """No callback plot (its ``.plot()`` draws both ROC curves)."""
        return {}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """No callback plot."""
        return []

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw both models' ROC curves with their AUCs and the test's z and p, without pyplot; returns
        ``(figure, axes)`` as torchmetrics does (per class AUC bars for multiclass and multilabel)."""
        from lightning_evalkit.classification.clinical_plots import plot_delong_metric

        return plot_delong_metric(self, val, ax)
