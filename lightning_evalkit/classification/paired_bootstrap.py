"""PairedBootstrapInterval: the bootstrap interval and test of the difference between two models' metric values.

Both models' scores of the same samples are resampled together (the same Poisson weights, drawn from ``(seed,
sample index, resample)`` as in :class:`BootstrapInterval`), so the interval of ``metric(A) - metric(B)`` keeps
the correlation between the models, and N processes give the bits of one. The p-value is pROC's
``roc.test(method="bootstrap")``: ``D = (value_a - value_b) / sd`` with ``sd`` the standard deviation (n - 1) of
the resampled differences, ``p = 2 * Phi(-|D|)``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._core.checks import check_integer, check_tensor, format_shape
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit._core.report import LoggedValue, ReportOptions, value_entries
from lightning_evalkit.classification.bootstrap import BootstrapInterval, _check_samples, _unpack
from lightning_evalkit.statistics.bootstrap import bca_interval, percentile_interval


class PairedBootstrapInterval(BootstrapInterval):
    """The difference ``metric(preds_a) - metric(preds_b)`` on the same samples, its bootstrap
    interval and a two-sided bootstrap p-value; exact under DDP.

    Args:
        metric: the metric compared, of this package (as for :class:`BootstrapInterval`).
        num_resamples, confidence_level, seed, stratified: as for :class:`BootstrapInterval`.
        method: "percentile", or "bca": BCa of the difference (its acceleration from the leave-one-out
            differences: 2n more computes of the metric), as for :class:`BootstrapInterval`.

    ``update(preds_a, preds_b, target, indices)`` takes both models' scores of the same samples. compute() returns
    ``(difference, lower, upper, p_value)`` (per class where the metric gives one value per class); resamples
    where either value is undefined are left out with a warning.

    Example:
        >>> from lightning_evalkit import AUROC
        >>> metric = PairedBootstrapInterval(AUROC(task="binary"), num_resamples=200, seed=1)
        >>> target = torch.tensor([0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1])
        >>> preds_a, preds_b = torch.linspace(0.05, 0.95, 20), torch.linspace(0.95, 0.05, 20)
        >>> metric.update(preds_a, preds_b, target, indices=torch.arange(20))
        >>> difference, lower, upper, p_value = metric.compute()
        >>> round(float(difference), 4), bool(lower < difference < upper), bool(p_value < 0.05)
        (0.5556, True, True)
    """

    preds_b: list[Tensor]

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
        super().__init__(metric, num_resamples, confidence_level, method, seed, stratified, **kwargs)
        self._add_cat_states({"preds_b": torch.empty(0, *self._score_shape, dtype=torch.float64)})

    def update(  # type: ignore[override]
        self, preds_a: Tensor, preds_b: Tensor, target: Any, indices: Tensor | None = None
    ) -> None:
        """Validate one batch of both models' scores (with the metric's own checks) and keep it."""
        target, indices = _unpack(target, indices)
        preds_a, preds_b = check_tensor("preds_a", preds_a), check_tensor("preds_b", preds_b)
        indices = check_tensor("indices", indices)
        check_integer("indices", indices)
        _check_samples(preds_a, indices, self._score_shape)
        if preds_b.shape != preds_a.shape or not preds_b.is_floating_point():
            raise ValueError(
                f"Expected floating-point `preds_b` of the shape of `preds_a`, {format_shape(preds_a.shape)}, but "
                f"got {preds_b.dtype} of {format_shape(preds_b.shape)}."
            )
        for preds in (preds_a, preds_b):  # the metric's checks on both; its state is cleared right away
            self.metric.update(preds, target)
            self.metric.reset()
        self.preds.append(preds_a.double())
        self.preds_b.append(preds_b.double())
        self.target.append(target.long())
        self.indices.append(indices.long())

    def compute(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # type: ignore[override]
        """``(difference, lower, upper, p_value)`` over everything seen (NaN with a warning before any sample)."""
        preds_a, target, indices = self._sorted_samples()
        preds_b = self._cat_state("preds_b")[torch.sort(self._cat_state("indices"), stable=True).indices]
        if indices.numel() == 0:
            rank_zero_warn("PairedBootstrapInterval is undefined (NaN): no sample was seen.", stacklevel=3)
            nan = torch.tensor(float("nan"), dtype=torch.float64)
            return nan, nan, nan, nan
        difference = self._replay(preds_a, target) - self._replay(preds_b, target)
        resampled = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an undefined resample is counted below, not warned about each time
            for resample in range(self.num_resamples):
                rows = self._rows(indices, target, resample)
                a, b = self._replay(preds_a[rows], target[rows]), self._replay(preds_b[rows], target[rows])
                resampled.append(a - b)
        values = torch.stack(resampled)
        undefined = int(values.isnan().reshape(values.shape[0], -1).any(-1).sum())
        if undefined:
            rank_zero_warn(
                f"PairedBootstrapInterval: the difference is undefined (NaN) in {undefined} of "
                f"{self.num_resamples} resamples; they are left out.",
                stacklevel=3,
            )
        if self.method == "bca":
            jackknife = self._jackknife(preds_a, target) - self._jackknife(preds_b, target)
            lower, upper = bca_interval(values, difference, jackknife, self.confidence_level)
        else:
            lower, upper = percentile_interval(values, self.confidence_level)
        return difference, lower, upper, _bootstrap_p_value(difference, values)

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """The difference as ``<name>``, its bounds as ``<name>_ci_lower/_upper`` and ``<name>_p_value``."""
        difference, lower, upper, p_value = value
        entries = value_entries(name, difference) + value_entries(f"{name}_ci_lower", lower)
        return entries + value_entries(f"{name}_ci_upper", upper) + value_entries(f"{name}_p_value", p_value)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the difference (``val``'s, or compute()'s) as bars without pyplot; returns ``(figure, axes)``."""
        from lightning_evalkit.plotting.values import plot_value_metric

        difference = (self.compute() if val is None else val)[0]
        return plot_value_metric(self, difference, ax)


def _bootstrap_p_value(difference: Tensor, resampled: Tensor) -> Tensor:
    """pROC's bootstrap test: ``2 * Phi(-|difference / sd|)``, sd over the defined resamples (n - 1)."""
    defined = (~resampled.isnan()).sum(0)
    mean = resampled.nansum(0) / defined
    sd = (((resampled - mean) ** 2).nansum(0) / (defined - 1)).sqrt()
    return torch.special.erfc((difference / sd).abs() / math.sqrt(2.0))
