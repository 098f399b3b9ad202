"""Calibration of predicted probabilities: CalibrationError (ECE, RMS, MCE) and the reliability curve.

What is binned, per task (the forecast ``f`` and its outcome ``o``):

- binary: the probability of the positive class and the target (as scikit-learn's ``calibration_curve`` and
  torchmetrics' ``BinaryCalibrationError``);
- multiclass: the top-label confidence (largest probability) and whether its class is the target (as
  torchmetrics' ``MulticlassCalibrationError``);
- multilabel: each label's probability and target, one problem per label.

Bins (see :mod:`lightning_evalkit.statistics.calibration`): bin ``k`` holds ``(edges[k], edges[k + 1]]``, the first
also its left edge, as scikit-learn and Guo et al. (2017) define them. torchmetrics (1.9) differs only for a forecast
lying exactly on an edge: it bins ``[edges[k], edges[k + 1])`` and counts a forecast of exactly 1.0 in an extra
bin of its own (torchmetrics issue #3510); on forecasts off the edges the two agree.

- ``binning="uniform"``: ``n_bins`` equal bins of [0, 1]; the state is per-bin integer sums (constant memory), so a
  synced result equals the one-process result to the bit.
- ``binning="quantile"``: edges at the quantiles of all forecasts (``numpy.percentile``, as scikit-learn); they
  depend on every sample, so the state keeps every forecast ("cat", 16 bytes a sample and label) and the edges are
  found after the states are synced. Sums are again exact, so DDP equals one process to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.cat_states import CatStateMetric, state_name
from lightning_evalkit._core.checks import check_choice, check_positive_int
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, value_entries
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit.classification.inputs import (
    check_classification_args,
    check_task,
    format_scores,
    to_probabilities,
)
from lightning_evalkit.statistics.calibration import (
    BINNINGS,
    NORMS,
    BinStats,
    accumulate_bins,
    bin_indices,
    calibration_error_from_bins,
    quantile_edges,
    uniform_edges,
)

CALIBRATION_AVERAGES = ("macro", "none")


def check_probability_format(input_format: str) -> None:
    """Calibration compares probabilities with frequencies: refuse raw scores."""
    check_choice("input_format", input_format, ("probs", "logits"))


def check_calibration_args(n_bins: int, norm: str, binning: str, average: str) -> None:
    """Validate the binning arguments shared by the functional and the class."""
    check_positive_int("n_bins", n_bins)
    check_choice("norm", norm, NORMS)
    check_choice("binning", binning, BINNINGS)
    check_choice("average", average, CALIBRATION_AVERAGES)


def calibration_values(
    preds: Tensor, target: Tensor, task: str, columns: int, ignore_index: int | None, input_format: str
) -> tuple[Tensor, Tensor]:
    """Validate one batch; return ``(forecast, outcome)`` of shape (M, L): float64 probabilities and 0/1 outcomes
    (-1 where a multilabel target is ignored). L is 1 except for multilabel (see the module docstring)."""
    values, flat_target = format_scores(preds, target, task, columns, ignore_index, input_format)
    probabilities = to_probabilities(values, task, input_format).double()
    if task == "binary":
        return probabilities.unsqueeze(-1), flat_target.unsqueeze(-1)
    if task == "multiclass":
        confidence, predicted = probabilities.max(dim=-1)
        return confidence.unsqueeze(-1), (predicted == flat_target).long().unsqueeze(-1)
    return probabilities, flat_target


def uniform_sums(forecast: Tensor, outcome: Tensor, n_bins: int) -> Tensor:
    """The (L, n_bins, 2, 5) sums of one batch in uniform bins (what the uniform state adds)."""
    edges = uniform_edges(n_bins, forecast.device)
    return accumulate_bins(forecast, outcome, bin_indices(forecast, edges), n_bins)


def quantile_sums(forecast: Tensor, outcome: Tensor, n_bins: int) -> tuple[Tensor, Tensor]:
    """``(sums (L, n_bins, 2, 5), edges (L, n_bins + 1))`` in quantile bins of each label's forecasts."""
    bins = torch.zeros_like(outcome)
    edges = []
    for label in range(forecast.shape[1]):
        keep = outcome[:, label] >= 0
        scores = forecast[keep, label]
        edges.append(quantile_edges(scores.sort().values, n_bins))
        bins[keep, label] = bin_indices(scores, edges[-1])
    return accumulate_bins(forecast, outcome, bins, n_bins), torch.stack(edges)


def calibration_stats(state: tuple[Tensor, ...], n_bins: int, binning: str) -> tuple[BinStats, Tensor]:
    """``(BinStats (L, n_bins), edges (L, n_bins + 1))`` of a state: ``(sums,)`` or ``(forecast, outcome)``."""
    if binning == "uniform":
        (sums,) = state
        edges = uniform_edges(n_bins, sums.device).expand(sums.shape[0], n_bins + 1)
        return BinStats.from_sums(sums), edges
    sums, edges = quantile_sums(state[0], state[1], n_bins)
    return BinStats.from_sums(sums), edges


def _calibration_compute(stats: BinStats, task: str, norm: str, average: str, name: str) -> Tensor:
    """The error of each problem, reduced: a scalar, or per label for multilabel with ``average="none"``."""
    errors = calibration_error_from_bins(stats, norm)
    _warn_if_empty(stats, task, name)
    if task != "multilabel":
        return errors[0]
    if average == "none":
        return errors
    return errors.nanmean() if not bool(errors.isnan().all()) else errors.new_tensor(float("nan"))


def _warn_if_empty(stats: BinStats, task: str, name: str) -> None:
    empty = stats.counts.sum(-1) == 0
    if bool(empty.all()):
        rank_zero_warn(f"{name} is undefined (NaN): no sample was seen.", stacklevel=4)
    elif task == "multilabel" and bool(empty.any()):
        labels = empty.nonzero().flatten().tolist()
        rank_zero_warn(f"{name} is undefined (NaN) for labels {labels}: no sample was seen.", stacklevel=4)


def calibration_error(
    preds: Tensor,
    target: Tensor,
    task: str | None = None,
    n_bins: int = 15,
    norm: str = "l1",
    binning: str = "uniform",
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
    average: str = "macro",
) -> Tensor:
    """Calibration error of predicted probabilities: expected (ECE), root-mean-square or maximum.

    Args:
        preds: probabilities (or logits): binary (N, ...), multiclass (N, C, ...), multilabel (N, L, ...).
        target: integer labels: multiclass (N, ...), otherwise shaped like ``preds``.
        task: "binary", "multiclass" (top-label confidence) or "multilabel" (each label a binary problem).
        n_bins: number of bins.
        norm: "l1" (ECE, sum_k n_k / N |o_k - f_k|), "l2" (root of the weighted squares) or "max" (MCE).
        binning: "uniform" (equal widths in [0, 1]) or "quantile" (equal counts, as scikit-learn's strategy).
        num_classes: number of classes (multiclass).
        num_labels: number of labels (multilabel).
        ignore_index: target value whose elements are left out.
        input_format: "probs" (checked to lie in [0, 1]) or "logits" (float64 sigmoid, or softmax for multiclass).
        average: multilabel only: "macro" (mean over the labels that have samples) or "none" (one per label).

    Returns:
        float64: a scalar, or one value per label; NaN (with a warning) where no sample was seen.

    Example:
        >>> preds = torch.tensor([0.25, 0.25, 0.55, 0.75, 0.75])
        >>> calibration_error(preds, torch.tensor([0, 0, 1, 1, 1]), task="binary", n_bins=2)
        tensor(0.2900, dtype=torch.float64)
    """
    task = check_task(task)
    columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
    check_calibration_args(n_bins, norm, binning, average)
    check_probability_format(input_format)
    forecast, outcome = calibration_values(preds, target, task, columns, ignore_index, input_format)
    state = (uniform_sums(forecast, outcome, n_bins),) if binning == "uniform" else (forecast, outcome)
    stats, _ = calibration_stats(state, n_bins, binning)
    return _calibration_compute(stats, task, norm, average, "calibration_error")


def calibration_curve(
    preds: Tensor,
    target: Tensor,
    n_bins: int = 5,
    strategy: str = "uniform",
    ignore_index: int | None = None,
    input_format: str = "probs",
) -> tuple[Tensor, Tensor]:
    """The reliability curve of binary probabilities, as scikit-learn's ``calibration_curve``.

    Args:
        preds: probabilities of the positive class (or logits), any shape.
        target: 0/1 labels of the same shape.
        n_bins: number of bins.
        strategy: "uniform" or "quantile" (see :func:`calibration_error`'s ``binning``).
        ignore_index: target value whose elements are left out.
        input_format: "probs" or "logits".

    Returns:
        ``(prob_true, prob_pred)``: the fraction of positives and the mean probability of each non-empty bin,
        in bin order (float64).

    Example:
        >>> preds = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.65, 0.7, 0.8, 0.9, 1.0])
        >>> prob_true, prob_pred = calibration_curve(preds, torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1]), n_bins=3)
        >>> prob_true
        tensor([0.0000, 0.5000, 1.0000], dtype=torch.float64)
    """
    check_calibration_args(n_bins, "l1", strategy, "macro")
    check_probability_format(input_format)
    check_classification_args("binary", None, None, ignore_index, input_format)
    forecast, outcome = calibration_values(preds, target, "binary", 1, ignore_index, input_format)
    state = (uniform_sums(forecast, outcome, n_bins),) if strategy == "uniform" else (forecast, outcome)
    stats, _ = calibration_stats(state, n_bins, strategy)
    mean_forecast, observed = stats.means()
    filled = stats.counts[0] > 0
    return observed[0][filled], mean_forecast[0][filled]


class CalibrationError(CatStateMetric):
    """Calibration error of predicted probabilities: ECE (``norm="l1"``), RMS (``"l2"``) or MCE (``"max"``).

    Arguments are those of :func:`lightning_evalkit.functional.calibration_error`. With uniform bins it equals
    torchmetrics' ``BinaryCalibrationError`` / ``MulticlassCalibrationError`` on forecasts that do not lie on a bin
    edge (see the module docstring for the edges, and for why quantile bins keep every forecast).

    Example:
        >>> metric = CalibrationError(task="multiclass", num_classes=3, n_bins=3)
        >>> metric.update(torch.tensor([[0.25, 0.20, 0.55], [0.55, 0.05, 0.40]]), torch.tensor([0, 1]))
        >>> metric.update(torch.tensor([[0.10, 0.30, 0.60], [0.90, 0.05, 0.05]]), torch.tensor([2, 0]))
        >>> metric.compute()
        tensor(0.2000, dtype=torch.float64)
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    _apply = keep_dtypes_apply

    def __init__(
        self,
        task: str | None = None,
        n_bins: int = 15,
        norm: str = "l1",
        binning: str = "uniform",
        num_classes: int | None = None,
        num_labels: int | None = None,
        ignore_index: int | None = None,
        input_format: str = "probs",
        average: str = "macro",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
        self.task: str = check_task(task)
        check_calibration_args(n_bins, norm, binning, average)
        check_probability_format(input_format)
        self.n_bins, self.norm, self.binning, self.average = n_bins, norm, binning, average
        self.num_classes, self.num_labels = num_classes, num_labels
        self.ignore_index, self.input_format = ignore_index, input_format
        labels = self.columns if self.task == "multilabel" else 1
        meaning = (self.task, self.columns, ignore_index, input_format)
        self._templates = {}
        if binning == "uniform":
            self._sums_name = state_name("calibration_sums", *meaning, n_bins)
            self.add_state(self._sums_name, torch.zeros(labels, n_bins, 2, 5, dtype=torch.long), dist_reduce_fx="sum")
        else:
            self._forecast_name = state_name("forecast", *meaning)
            self._outcome_name = state_name("outcome", *meaning)
            empty = torch.empty(0, labels, dtype=torch.float64)
            self._add_cat_states({self._forecast_name: empty, self._outcome_name: empty.long()})

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Validate one batch and add it to the state (nothing changes if validation fails)."""
        args = (self.task, self.columns, self.ignore_index, self.input_format)
        forecast, outcome = calibration_values(preds, target, *args)
        if self.binning == "uniform":
            getattr(self, self._sums_name).add_(uniform_sums(forecast, outcome, self.n_bins))
        else:
            getattr(self, self._forecast_name).append(forecast)
            getattr(self, self._outcome_name).append(outcome)

    def _state(self) -> tuple[Tensor, ...]:
        if self.binning == "uniform":
            return (getattr(self, self._sums_name),)
        return self._cat_state(self._forecast_name), self._cat_state(self._outcome_name)

    def compute(self) -> Tensor:
        """The calibration error over everything seen (NaN with a warning before any sample)."""
        stats, _ = calibration_stats(self._state(), self.n_bins, self.binning)
        return _calibration_compute(stats, self.task, self.norm, self.average, type(self).__name__)

    def bin_statistics(self) -> tuple[BinStats, Tensor]:
        """``(BinStats (L, n_bins), edges (L, n_bins + 1))`` over all processes (a collective under DDP)."""
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=not self._is_synced):
            return calibration_stats(self._state(), self.n_bins, self.binning)

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Its value (per label for multilabel with ``average="none"``)."""
        return value_entries(name, value)

    def plot_kinds(self) -> dict[str, int]:
        """The reliability diagram."""
        return {"calibration": 0}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The reliability diagram of the synced bins (a collective under DDP); none before any sample."""
        if "calibration" not in plots:
            return []
        from lightning_evalkit.classification.calibration_plots import reliability_plot_source

        return reliability_plot_source(self, *self.bin_statistics())

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the reliability diagram (a given ``val`` as a bar), without pyplot; returns ``(figure, axes)``."""
        from lightning_evalkit.classification.calibration_plots import plot_calibration_metric

        return plot_calibration_metric(self, val, ax)
