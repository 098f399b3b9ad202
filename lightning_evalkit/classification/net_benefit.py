"""Decision curve analysis (Vickers and Elkin 2006): the net benefit of treating by a model's risk, by threshold.

At a threshold probability ``pt`` a patient is treated iff the predicted risk is ``>= pt`` (as the ``dcurves``
package does, which also never treats a risk of exactly 0), and, of n patients,

    net benefit = TP / n - FP / n * pt / (1 - pt).

The references: treat all (``prevalence - (1 - prevalence) * pt / (1 - pt)``) and treat none (0). The thresholds
are given up front, so the state is a histogram of exact counts (constant memory, "sum": DDP equals one process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._core.cat_states import state_name
from lightning_evalkit._core.checks import check_finite, format_shape
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, value_entries
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit.classification.calibration import check_probability_format
from lightning_evalkit.classification.curves import _binned_counts, _binned_update
from lightning_evalkit.classification.inputs import check_classification_args, format_scores


class DecisionCurve(NamedTuple):
    """Net benefit at each threshold of the model and of the two reference strategies (float64 tensors)."""

    thresholds: Tensor
    net_benefit: Tensor
    treat_all: Tensor
    treat_none: Tensor
    prevalence: Tensor


def net_benefit_thresholds(thresholds: Sequence[float] | Tensor | None) -> Tensor:
    """The threshold probabilities as float64: by default dcurves' 0, 0.01, ..., 0.99; else strictly increasing
    values in [0, 1) (at 1 the harm of a false positive is infinite).

    Example:
        >>> net_benefit_thresholds([0.1, 0.2])
        tensor([0.1000, 0.2000], dtype=torch.float64)
    """
    if thresholds is None:
        return torch.arange(100, dtype=torch.float64) / 100
    grid = torch.as_tensor(thresholds, dtype=torch.float64) if not isinstance(thresholds, Tensor) else thresholds
    if not grid.is_floating_point() or grid.ndim != 1 or grid.numel() == 0:
        raise ValueError(
            f"Expected `thresholds` to be a non-empty 1-D list or float tensor, but got {format_shape(grid.shape)} "
            f"of {grid.dtype}."
        )
    grid = grid.to(torch.float64)
    check_finite("thresholds", grid)
    if bool((grid < 0).any() | (grid >= 1).any()):
        raise ValueError(f"Expected `thresholds` to lie in [0, 1), but got {grid.tolist()}.")
    if not bool((grid[1:] > grid[:-1]).all()):
        raise ValueError(f"Expected `thresholds` to be strictly increasing, but got {grid.tolist()}.")
    return grid


def _counting_grid(thresholds: Tensor) -> Tensor:
    """The thresholds the counts use: 0 becomes the smallest positive float, so a risk of 0 is never treated."""
    tiny = torch.nextafter(torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64))
    return torch.where(thresholds == 0, tiny.to(thresholds.device), thresholds)


def net_benefit_update(
    preds: Tensor, target: Tensor, thresholds: Tensor, ignore_index: int | None, input_format: str
) -> Tensor:
    """Validate one batch; return its (1, 2, T + 1) histogram of treated counts (see ``curves._binned_update``)."""
    values, flat_target = format_scores(preds, target, "binary", 1, ignore_index, input_format)
    return _binned_update(values, flat_target, "binary", 1, _counting_grid(thresholds), input_format)


def _net_benefit_compute(histogram: Tensor, thresholds: Tensor, name: str = "NetBenefit") -> DecisionCurve:
    """The decision curve of the summed histogram (NaN with a warning before any sample)."""
    counts = _binned_counts(histogram, _counting_grid(thresholds))[0]
    positives = float(counts.tp[0] + counts.fn[0]) if counts.tp.numel() else 0.0
    total = positives + (float(counts.fp[0] + counts.tn[0]) if counts.tp.numel() else 0.0)
    if total == 0:
        rank_zero_warn(f"{name} is undefined (NaN): no sample was seen.", stacklevel=3)
    n = total if total else float("nan")
    odds = thresholds / (1 - thresholds)
    prevalence = torch.tensor(positives / n, dtype=torch.float64, device=thresholds.device)
    model = counts.tp.double() / n - counts.fp.double() / n * odds
    treat_all = prevalence - (1 - prevalence) * odds
    none = torch.where(torch.isnan(prevalence), prevalence, 0.0).expand_as(thresholds).clone()
    return DecisionCurve(thresholds, model, treat_all, none, prevalence)


def net_benefit(
    preds: Tensor,
    target: Tensor,
    thresholds: Sequence[float] | Tensor | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
) -> DecisionCurve:
    """Net benefit of a binary risk model at each threshold probability, with treat-all and treat-none.

    Args:
        preds: predicted risks (probabilities of the positive class) or logits, any shape.
        target: 0/1 outcomes of the same shape.
        thresholds: threshold probabilities in [0, 1), strictly increasing; by default 0, 0.01, ..., 0.99.
        ignore_index: target value whose elements are left out.
        input_format: "probs" or "logits" (compared as their float64 sigmoid).

    Returns:
        :class:`DecisionCurve` ``(thresholds, net_benefit, treat_all, treat_none, prevalence)``, equal to
        ``dcurves.dca``'s ``net_benefit`` of the model, "all" and "none"; NaN (with a warning) without samples.

    Example:
        >>> curve = net_benefit(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]), thresholds=[0.3, 0.5])
        >>> curve.net_benefit, curve.treat_all
        (tensor([0.3929, 0.2500], dtype=torch.float64), tensor([0.2857, 0.0000], dtype=torch.float64))
    """
    grid = net_benefit_thresholds(thresholds)
    check_classification_args("binary", None, None, ignore_index, input_format)
    check_probability_format(input_format)
    histogram = net_benefit_update(preds, target, grid.to(preds.device), ignore_index, input_format)
    return _net_benefit_compute(histogram, grid.to(histogram.device), "net_benefit")


class NetBenefit(Metric):
    """Decision curve analysis of a binary risk model: net benefit by threshold probability, as ``dcurves.dca``.

    Arguments are those of :func:`lightning_evalkit.functional.net_benefit`, plus ``logged_thresholds``: the
    thresholds (among ``thresholds``) whose net benefit EvalCallback logs, as ``<name>_at_<threshold>``.
    compute() returns a :class:`DecisionCurve`.

    Example:
        >>> metric = NetBenefit(thresholds=[0.3, 0.5])
        >>> metric.update(torch.tensor([0.1, 0.4]), torch.tensor([0, 0]))
        >>> metric.update(torch.tensor([0.35, 0.8]), torch.tensor([1, 1]))
        >>> metric.compute().net_benefit
        tensor([0.3929, 0.2500], dtype=torch.float64)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    thresholds: Tensor
    _apply = keep_dtypes_apply

    def __init__(
        self,
        thresholds: Sequence[float] | Tensor | None = None,
        ignore_index: int | None = None,
        input_format: str = "probs",
        logged_thresholds: Sequence[float] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        grid = net_benefit_thresholds(thresholds)
        check_classification_args("binary", None, None, ignore_index, input_format)
        check_probability_format(input_format)
        self.ignore_index, self.input_format = ignore_index, input_format
        listed = grid.tolist()
        for value in logged_thresholds:
            if value not in listed:
                raise ValueError(f"Expected every entry of `logged_thresholds` to be in `thresholds`, but got {value}.")
        self.logged_thresholds = tuple(float(value) for value in logged_thresholds)
        self.register_buffer("thresholds", grid, persistent=False)
        self._histogram_name = state_name("treated", ignore_index, input_format, listed)
        self.add_state(self._histogram_name, torch.zeros(1, 2, grid.numel() + 1, dtype=torch.long), "sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Validate one batch and add its counts (nothing changes if validation fails)."""
        added = net_benefit_update(preds, target, self.thresholds, self.ignore_index, self.input_format)
        getattr(self, self._histogram_name).add_(added)

    def compute(self) -> DecisionCurve:
        """The decision curve over everything seen."""
        return _net_benefit_compute(getattr(self, self._histogram_name), self.thresholds, type(self).__name__)

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """The model's net benefit at each of ``logged_thresholds``, as ``<name>_at_<threshold>``."""
        listed = value.thresholds.tolist()
        return [
            entry
            for threshold in self.logged_thresholds
            for entry in value_entries(f"{name}_at_{threshold:g}", value.net_benefit[listed.index(threshold)])
        ]

    def plot_kinds(self) -> dict[str, int]:
        """The decision curve."""
        return {"decision_curve": 0}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The decision curve of the computed (synced) value; none before any sample."""
        if "decision_curve" not in plots:
            return []
        from lightning_evalkit.classification.calibration_plots import decision_plot_source

        return decision_plot_source(value)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the decision curve (of ``val`` if given), without pyplot; returns ``(figure, axes)``."""
        from lightning_evalkit.classification.calibration_plots import plot_net_benefit_metric

        return plot_net_benefit_metric(self, val, ax)
