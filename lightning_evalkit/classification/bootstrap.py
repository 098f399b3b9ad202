"""BootstrapInterval: a percentile confidence interval of a classification metric by the Poisson bootstrap.

Each sample must carry a global index, unique over the whole evaluation (its dataset index, say): the resampling
weight of a sample is a function of ``(seed, index, resample)`` only (:mod:`lightning_evalkit.statistics.bootstrap`),
so under DDP it does not matter which rank saw a sample or in which order. A running count of the samples seen
plus a rank offset would not do: it numbers the same sample differently on one process and on several (and
differently again with a shuffling sampler), so the resamples would differ. Pass ``indices`` to ``update``, or,
through EvalCallback, return ``{"target": target, "indices": indices}`` as the target of a callback of its own.

The state keeps every sample (preds as float64, target, index: "cat"); compute() sorts the synced samples by index,
computes the wrapped metric on all of them and on ``num_resamples`` weighted copies (each sample repeated by its
Poisson(1) weight), and takes the percentile interval. So two processes give the bits of one.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._core.cat_states import CatStateMetric
from lightning_evalkit._core.checks import check_choice, check_integer, check_positive_int, check_tensor, format_shape
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, value_entries
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit.statistics.bootstrap import bca_interval, percentile_interval, resample_rows, stratified_rows
from lightning_evalkit.statistics.normal import check_level

METHODS = ("percentile", "bca")


_TORCHMETRICS_KINDS = (
    ("Binary", "binary", None),
    ("Multiclass", "multiclass", "num_classes"),
    ("Multilabel", "multilabel", "num_labels"),
)


def _wrapped_task(metric: object) -> tuple[Metric, str, int]:
    """``(metric, task, columns)`` of a classification metric of this package or of torchmetrics: the task and
    the number of score columns (1 for binary) say the shapes of the samples kept."""
    if isinstance(metric, Metric) and hasattr(metric, "task") and hasattr(metric, "columns"):
        return metric, str(getattr(metric, "task")), int(getattr(metric, "columns"))  # noqa: B009 (untyped)
    name = type(metric).__name__
    if isinstance(metric, Metric) and type(metric).__module__.startswith("torchmetrics.classification"):
        for prefix, task, columns_attribute in _TORCHMETRICS_KINDS:
            columns = 1 if columns_attribute is None else getattr(metric, columns_attribute, None)
            if name.startswith(prefix) and isinstance(columns, int):
                return metric, task, columns
    raise TypeError(
        "Expected `metric` to be a classification metric of lightning_evalkit (AUROC, Sensitivity, "
        "CalibrationError, ...) or of torchmetrics with its task in the name (BinaryF1Score(), "
        f"MulticlassAccuracy(num_classes=C), MultilabelAUROC(num_labels=L)), but got {name}. For a detection "
        "MeanAveragePrecision use ImageBootstrapInterval, which resamples images."
    )


def _unpack(target: Any, indices: Tensor | None) -> tuple[Any, Tensor]:
    """``(target, indices)`` from the arguments, or from a ``{"target": ..., "indices": ...}`` target."""
    if indices is None and isinstance(target, Mapping) and set(target) == {"target", "indices"}:
        return target["target"], target["indices"]
    if indices is None:
        raise ValueError(
            "Expected `indices` (the global index of each sample, e.g. its dataset index), but got None. Pass "
            "update(preds, target, indices), or a target {'target': target, 'indices': indices}."
        )
    return target, indices


def _check_samples(preds: Tensor, indices: Tensor, score_shape: tuple[int, ...]) -> None:
    """Floating-point scores of one sample per row, and one index >= 0 per row."""
    if not preds.is_floating_point() or preds.ndim == 0 or tuple(preds.shape[1:]) != score_shape:
        want = format_shape((preds.shape[0] if preds.ndim else 0, *score_shape))
        raise ValueError(
            f"Expected floating-point `preds` of shape {want}, but got {preds.dtype} of {format_shape(preds.shape)}."
        )
    if indices.shape != preds.shape[:1]:
        raise ValueError(
            f"Expected `indices` to hold one index per sample, shape {format_shape(preds.shape[:1])}, but got "
            f"{format_shape(indices.shape)}."
        )
    if indices.numel() and bool(indices.min() < 0):
        raise ValueError(f"Expected `indices` to be >= 0, but got {int(indices.min())}.")


class BootstrapInterval(CatStateMetric):
    """A percentile bootstrap interval of ``metric`` (e.g. AUROC), exact under DDP (see the module docstring).

    Args:
        metric: the metric to resample, taking floating-point ``preds`` shaped (N,) for binary and (N, C)
            otherwise: a classification metric of this package, or one of torchmetrics whose name gives its task
            (``BinaryF1Score()``, ``MulticlassAccuracy(num_classes=C)``, ``MultilabelAUROC(num_labels=L)``). Its
            state is not used: a copy is computed on each resample. For mAP, ImageBootstrapInterval resamples
            images.
        num_resamples: number of Poisson resamples.
        confidence_level: level of the interval, in (0, 1).
        method: "percentile" (the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled values)
            or "bca" (bias-corrected and accelerated, as ``scipy.stats.bootstrap(method="BCa")``; the acceleration
            from the leave-one-out jackknife: n more computes of the metric).
        seed: seed of the resampling weights (an int >= 0).
        stratified: resample each class's samples apart, keeping the class counts (pROC's stratified bootstrap;
            binary and multiclass). Each resample then draws n_c of a class's n_c samples with replacement, a
            pure function of the seed and the sorted sample indices, so DDP stays exact. The default, False, is
            the Poisson bootstrap, the one EvalCallback's ``bootstrap=`` uses for any metric.

    compute() returns ``(value, lower, upper)``: the metric on all samples and the interval (per class where the
    metric gives one value per class); resamples where the metric is undefined (NaN) are left out with a warning.

    Example:
        >>> from lightning_evalkit import AUROC
        >>> metric = BootstrapInterval(AUROC(task="binary"), num_resamples=200, seed=1)
        >>> preds = torch.linspace(0.05, 0.95, 20)
        >>> target = torch.tensor([0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1])
        >>> metric.update(preds, target, indices=torch.arange(20))
        >>> value, lower, upper = metric.compute()
        >>> round(float(value), 4), bool(lower < value < upper)
        (0.7778, True)
    """

    is_differentiable = False
    higher_is_better = None  # the wrapped metric's direction: an interval has none of its own
    full_state_update = False
    _apply = keep_dtypes_apply
    preds: list[Tensor]
    target: list[Tensor]
    indices: list[Tensor]

    def __init__(
        self,
        metric: Metric,
        num_resamples: int = 1000,
        confidence_level: float = 0.95,
        method: str = "percentile",
        seed: int = 0,
        stratified: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        wrapped, task, columns = _wrapped_task(metric)
        if not isinstance(stratified, bool):
            raise TypeError(f"Expected `stratified` to be a bool, but got {type(stratified).__name__}.")
        if stratified and task == "multilabel":
            raise ValueError(
                "Expected `stratified=False` for a multilabel metric (a sample has several classes, so there are no "
                "strata to keep), but got stratified=True. Pass stratified=False, or a binary or multiclass metric."
            )
        self.stratified = stratified
        check_positive_int("num_resamples", num_resamples, minimum=2)
        check_choice("method", method, METHODS)
        check_positive_int("seed", seed, minimum=0)
        self.num_resamples, self.method, self.seed = num_resamples, method, seed
        self.confidence_level = check_level(confidence_level)
        self.metric = wrapped.clone()
        self.metric.reset()
        self.metric.sync_on_compute = self.metric._to_sync = False  # it replays synced samples: never sync it
        self._score_shape: tuple[int, ...] = () if task == "binary" else (columns,)
        target_shape = (columns,) if task == "multilabel" else ()
        self._add_cat_states(
            {
                "preds": torch.empty(0, *self._score_shape, dtype=torch.float64),
                "target": torch.empty(0, *target_shape, dtype=torch.long),
                "indices": torch.empty(0, dtype=torch.long),
            }
        )

    def update(self, preds: Tensor, target: Any, indices: Tensor | None = None) -> None:
        """Validate one batch (with the wrapped metric's own checks) and keep it with its sample ``indices``."""
        target, indices = _unpack(target, indices)
        preds, indices = check_tensor("preds", preds), check_tensor("indices", indices)
        check_integer("indices", indices)
        _check_samples(preds, indices, self._score_shape)
        self.metric.update(preds, target)  # the wrapped metric's checks; its state is cleared right away
        self.metric.reset()
        self.preds.append(preds.double())
        self.target.append(target.long())
        self.indices.append(indices.long())

    def _replay(self, preds: Tensor, target: Tensor) -> Tensor:
        self.metric.reset()
        self.metric.update(preds, target)
        value = self.metric.compute()
        if not isinstance(value, Tensor):
            raise TypeError(f"Expected the wrapped metric to compute a tensor, but got {type(value).__name__}.")
        return value.double()

    def _sorted_samples(self) -> tuple[Tensor, Tensor, Tensor]:
        preds, target, indices = (self._cat_state(name) for name in ("preds", "target", "indices"))
        indices, order = torch.sort(indices, stable=True)
        repeated = indices[1:] == indices[:-1]
        if bool(repeated.any()):
            twice = int(indices[1:][repeated][0])
            raise ValueError(f"Expected every sample index once, but got index {twice} more than once.")
        return preds[order], target[order], indices

    def compute(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(value, lower, upper)`` over everything seen (NaN with a warning before any sample)."""
        preds, target, indices = self._sorted_samples()
        if indices.numel() == 0:
            rank_zero_warn("BootstrapInterval is undefined (NaN): no sample was seen.", stacklevel=3)
            nan = torch.tensor(float("nan"), dtype=torch.float64)
            return nan, nan, nan
        value = self._replay(preds, target)
        resampled = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an undefined resample is counted below, not warned about each time
            for resample in range(self.num_resamples):
                rows = self._rows(indices, target, resample)
                resampled.append(self._replay(preds[rows], target[rows]))
        values = torch.stack(resampled)
        undefined = int(values.isnan().reshape(values.shape[0], -1).any(-1).sum())
        if undefined:
            rank_zero_warn(
                f"BootstrapInterval: the metric is undefined (NaN) in {undefined} of {self.num_resamples} resamples; "
                "they are left out of the interval.",
                stacklevel=3,
            )
        if self.method == "bca":
            lower, upper = bca_interval(values, value, self._jackknife(preds, target), self.confidence_level)
        else:
            lower, upper = percentile_interval(values, self.confidence_level)
        return value, lower, upper

    def _rows(self, indices: Tensor, target: Tensor, resample: int) -> Tensor:
        """The rows of one resample: Poisson weights, or drawn within each class when stratified."""
        if self.stratified:
            return stratified_rows(self.seed, indices, target, resample)
        return resample_rows(self.seed, indices, resample)

    def _jackknife(self, preds: Tensor, target: Tensor) -> Tensor:
        """The metric on every leave-one-out copy of the samples (n, ...), for BCa's acceleration."""
        keep = torch.ones(preds.shape[0], dtype=torch.bool)
        values = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for left_out in range(preds.shape[0]):
                keep[left_out] = False
                values.append(self._replay(preds[keep], target[keep]))
                keep[left_out] = True
        return torch.stack(values)

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """The value as ``<name>`` and its bounds as ``<name>_ci_lower`` and ``<name>_ci_upper``."""
        point, lower, upper = value
        entries = value_entries(name, point) + value_entries(f"{name}_ci_lower", lower)
        return entries + value_entries(f"{name}_ci_upper", upper)

    def plot_kinds(self) -> dict[str, int]:
        """No callback plot."""
        return {}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """No callback plot."""
        return []

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the value with its interval (``val``'s, or compute()'s) as bars with whiskers, without pyplot;
        returns ``(figure, axes)``."""
        from lightning_evalkit.plotting.values import plot_interval_metric

        point, lower, upper = (self.compute() if val is None else val)[:3]
        return plot_interval_metric(self, point, lower, upper, ax)
