"""The Brier score of predicted probabilities, with Murphy's decomposition of a binary one.

- binary: mean of (p - y)**2 over samples, as scikit-learn's ``brier_score_loss``;
- multiclass: mean over samples of sum over classes of (p_c - [y = c])**2, in [0, 2], as scikit-learn's
  ``brier_score_loss(..., scale_by_half=False)`` (its default ``"auto"`` halves it for two classes only);
- multilabel: each label's binary Brier score, averaged over labels (``average="macro"``) or not (``"none"``).

Squared errors are summed as exact integers (:func:`lightning_evalkit.statistics.calibration.fixed_point`), so a
synced result equals the one-process result to the bit. ``decomposition=True`` (binary) also bins the forecasts in
``n_bins`` uniform bins (those of :class:`CalibrationError`) and returns Murphy's reliability, resolution and
uncertainty with the two within-bin terms that make the identity exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._core.cat_states import state_name
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, value_entries
from lightning_evalkit._core.state_dtypes import check_bool, keep_dtypes_apply
from lightning_evalkit.classification.calibration import (
    check_calibration_args,
    check_probability_format,
    uniform_sums,
)
from lightning_evalkit.classification.inputs import (
    check_classification_args,
    check_task,
    format_scores,
    to_probabilities,
)
from lightning_evalkit.statistics.calibration import BinStats, fixed_point, fixed_point_total, murphy_decomposition

BrierResult = Tensor | dict[str, Tensor]


def _check_brier_args(task: str, average: str, decomposition: bool, n_bins: int) -> None:
    check_calibration_args(n_bins, "l1", "uniform", average)
    check_bool("decomposition", decomposition)
    if decomposition and task != "binary":
        raise ValueError(
            f"Expected `decomposition=True` only with task='binary' (Murphy's decomposition is of binary "
            f"forecasts), but got task={task!r}."
        )


def brier_update(
    preds: Tensor, target: Tensor, task: str, columns: int, ignore_index: int | None, input_format: str
) -> tuple[Tensor, Tensor, Tensor]:
    """Validate one batch; return ``(sums (L, 3), forecast, outcome)``: per problem the count and the two limbs
    of the summed squared errors, and (binary) the forecasts and outcomes for the decomposition's bins."""
    values, flat_target = format_scores(preds, target, task, columns, ignore_index, input_format)
    probabilities = to_probabilities(values, task, input_format).double()
    if task == "multiclass":
        onehot = torch.nn.functional.one_hot(flat_target, columns).double()
        squared = ((probabilities - onehot) ** 2).sum(-1, keepdim=True)
        outcome = torch.zeros_like(squared, dtype=torch.long)
    else:
        if task == "binary":
            probabilities, flat_target = probabilities.unsqueeze(-1), flat_target.unsqueeze(-1)
        squared, outcome = (probabilities - flat_target.clamp(min=0)) ** 2, flat_target
    keep = outcome >= 0
    limbs = fixed_point(squared) * keep.unsqueeze(-1)
    sums = torch.cat([keep.sum(0).unsqueeze(-1), limbs.sum(0)], dim=-1)
    return sums, probabilities, outcome


def _brier_compute(sums: Tensor, bins: Tensor | None, task: str, average: str, name: str = "BrierScore") -> BrierResult:
    """The Brier score of the sums (and with ``bins`` the decomposition); NaN with a warning where nothing was seen."""
    count = sums[:, 0].double()
    scores = fixed_point_total(sums[:, 1:]) / count
    if bool((count == 0).any()):
        where = "" if task != "multilabel" else f" for labels {(count == 0).nonzero().flatten().tolist()}"
        rank_zero_warn(f"{name} is undefined (NaN){where}: no sample was seen.", stacklevel=3)
    if task != "multilabel":
        score = scores[0]
    elif average == "none":
        score = scores
    else:
        score = scores.nanmean() if not bool(scores.isnan().all()) else scores.new_tensor(float("nan"))
    if bins is None:
        return score
    terms = murphy_decomposition(BinStats.from_sums(bins))
    return {"brier": score, **{key: value[0] for key, value in terms.items()}}


def brier_score(
    preds: Tensor,
    target: Tensor,
    task: str | None = None,
    num_classes: int | None = None,
    num_labels: int | None = None,
    ignore_index: int | None = None,
    input_format: str = "probs",
    average: str = "macro",
    decomposition: bool = False,
    n_bins: int = 10,
) -> BrierResult:
    """The Brier score: the mean squared difference between predicted probabilities and outcomes.

    Args:
        preds: probabilities (or logits): binary (N, ...), multiclass (N, C, ...), multilabel (N, L, ...).
        target: integer labels: multiclass (N, ...), otherwise shaped like ``preds``.
        task: "binary", "multiclass" (sum over classes, range [0, 2]) or "multilabel" (per label).
        num_classes: number of classes (multiclass).
        num_labels: number of labels (multilabel).
        ignore_index: target value whose elements are left out.
        input_format: "probs" or "logits".
        average: multilabel only: "macro" (mean over labels) or "none".
        decomposition: binary only: return Murphy's decomposition too (see the module docstring).
        n_bins: uniform bins of the decomposition.

    Returns:
        float64 score (NaN with a warning before any sample), or with ``decomposition`` a dict of ``brier``,
        ``reliability``, ``resolution``, ``uncertainty``, ``within_bin_variance`` and ``within_bin_covariance``
        (``brier = reliability - resolution + uncertainty + within_bin_variance - 2 * within_bin_covariance``).

    Example:
        >>> brier_score(torch.tensor([0.1, 0.9, 0.8, 0.3]), torch.tensor([0, 1, 1, 0]), task="binary")
        tensor(0.0375, dtype=torch.float64)
    """
    task = check_task(task)
    columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
    _check_brier_args(task, average, decomposition, n_bins)
    check_probability_format(input_format)
    sums, forecast, outcome = brier_update(preds, target, task, columns, ignore_index, input_format)
    bins = uniform_sums(forecast, outcome, n_bins) if decomposition else None
    return _brier_compute(sums, bins, task, average, "brier_score")


class BrierScore(Metric):
    """The Brier score, as scikit-learn's ``brier_score_loss``; with ``decomposition=True`` Murphy's terms too.

    Arguments are those of :func:`lightning_evalkit.functional.brier_score`.

    Example:
        >>> metric = BrierScore(task="binary", decomposition=True, n_bins=2)
        >>> metric.update(torch.tensor([0.2, 0.2]), torch.tensor([0, 1]))
        >>> metric.update(torch.tensor([0.9]), torch.tensor([1]))
        >>> {key: round(float(value), 4) for key, value in metric.compute().items()}
        {'brier': 0.23, 'reliability': 0.0633, 'resolution': 0.0556, 'uncertainty': 0.2222, \
'within_bin_variance': 0.0, 'within_bin_covariance': 0.0}
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    _apply = keep_dtypes_apply

    def __init__(
        self,
        task: str | None = None,
        num_classes: int | None = None,
        num_labels: int | None = None,
        ignore_index: int | None = None,
        input_format: str = "probs",
        average: str = "macro",
        decomposition: bool = False,
        n_bins: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.columns = check_classification_args(task, num_classes, num_labels, ignore_index, input_format)
        self.task: str = check_task(task)
        _check_brier_args(self.task, average, decomposition, n_bins)
        check_probability_format(input_format)
        self.num_classes, self.num_labels = num_classes, num_labels
        self.ignore_index, self.input_format, self.average = ignore_index, input_format, average
        self.decomposition, self.n_bins = decomposition, n_bins
        meaning = (self.task, self.columns, ignore_index, input_format)
        labels = self.columns if self.task == "multilabel" else 1
        self._sums_name = state_name("brier_sums", *meaning)
        self.add_state(self._sums_name, torch.zeros(labels, 3, dtype=torch.long), dist_reduce_fx="sum")
        if decomposition:
            self._bins_name = state_name("calibration_sums", *meaning, n_bins)
            self.add_state(self._bins_name, torch.zeros(1, n_bins, 2, 5, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Validate one batch and add it to the state (nothing changes if validation fails)."""
        args = (self.task, self.columns, self.ignore_index, self.input_format)
        sums, forecast, outcome = brier_update(preds, target, *args)
        getattr(self, self._sums_name).add_(sums)
        if self.decomposition:
            getattr(self, self._bins_name).add_(uniform_sums(forecast, outcome, self.n_bins))

    def compute(self) -> BrierResult:
        """The Brier score (or the decomposition's dict) over everything seen."""
        bins = getattr(self, self._bins_name) if self.decomposition else None
        return _brier_compute(getattr(self, self._sums_name), bins, self.task, self.average)

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Its value as ``<name>``; with the decomposition also ``<name>_reliability``, ``<name>_resolution``, ..."""
        if not isinstance(value, dict):
            return value_entries(name, value)
        entries = value_entries(name, value["brier"])
        for key, item in value.items():
            entries += [] if key == "brier" else value_entries(f"{name}_{key}", item)
        return entries

    def plot_kinds(self) -> dict[str, int]:
        """No callback plot (a CalibrationError draws the reliability diagram)."""
        return {}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """No callback plot."""
        return []

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit.plotting.values import plot_value_metric

        return plot_value_metric(self, val, ax)
