"""Bootstrap numerics: Poisson resampling weights from a counter-based hash, stratified resamples, percentile and
BCa intervals.

The Poisson bootstrap (Hanley and MacGibbon 2006; Chamandy et al. 2012) gives sample ``i`` the weight ``w_ib ~
Poisson(1)`` in resample ``b`` instead of drawing n samples with replacement; for large n the two agree. Here the
weight is a pure function of ``(seed, i, b)``: a 32-bit integer hash (Wellons' "lowbias32", chained over the
words of the inputs) turned into a uniform number and inverted through the Poisson(1) distribution function. So a
sample's weight does not depend on which process saw it, in which batch or in which order, and two runs with the
same seed draw the same resamples. All arithmetic is on int64 tensors without overflow, on any device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_MASK32 = 0xFFFFFFFF
_MASK16 = 0xFFFF
# Poisson(1) distribution function at 0, 1, ..., 19 (beyond 19 it equals 1 in float64)
_POISSON_CDF = tuple(math.fsum(math.exp(-1.0) / math.factorial(j) for j in range(k + 1)) for k in range(20))


def _mul32(x: Tensor, constant: int) -> Tensor:
    """``x * constant mod 2**32`` for x in [0, 2**32), in int64 without overflow (16-bit halves)."""
    high = ((x >> 16) * constant) & _MASK16
    return ((high << 16) + (x & _MASK16) * constant) & _MASK32


def _mix32(x: Tensor) -> Tensor:
    """Wellons' lowbias32 finaliser: a bijection of 32-bit integers with strong avalanche."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def counter_uniform(seed: int, index: Tensor, resample: int) -> Tensor:
    """A uniform number in (0, 1) for each ``index`` (int64 >= 0), a pure function of ``(seed, index, resample)``.

    Example:
        >>> first, again, other = counter_uniform(0, torch.tensor([5, 5, 6]), 3).tolist()
        >>> first == again != other
        True
    """
    words = (seed & _MASK32, (seed >> 32) & _MASK32, resample & _MASK32, (resample >> 32) & _MASK32)
    state = torch.full_like(index, 0x9E3779B9)
    for word in words:
        state = _mix32(state ^ word)
    state = _mix32(state ^ (index & _MASK32))
    state = _mix32(_mix32(state ^ ((index >> 32) & _MASK32)))
    return (state.double() + 0.5) / 2.0**32


def poisson_weights(seed: int, index: Tensor, resample: int) -> Tensor:
    """The Poisson(1) weight (int64) of each sample ``index`` in resample ``resample`` (see the module docstring).

    Example:
        >>> weights = poisson_weights(7, torch.arange(100_000), 0)
        >>> round(weights.double().mean().item(), 1), round(weights.double().var().item(), 1)
        (1.0, 1.0)
    """
    uniform = counter_uniform(seed, index, resample)
    table = torch.tensor(_POISSON_CDF, dtype=torch.float64, device=index.device)
    return torch.searchsorted(table, uniform, right=True)


def resample_rows(seed: int, index: Tensor, resample: int) -> Tensor:
    """The rows of resample ``resample``: each position of ``index`` repeated by its Poisson weight, in order.

    Example:
        >>> rows = resample_rows(3, torch.arange(1000), 0)
        >>> bool((rows[1:] >= rows[:-1]).all()), rows.numel() > 900
        (True, True)
    """
    positions = torch.arange(index.numel(), device=index.device)
    return positions.repeat_interleave(poisson_weights(seed, index, resample))


def percentile_interval(values: Tensor, level: float) -> tuple[Tensor, Tensor]:
    """The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of resampled ``values`` (B, ...) along dim 0,
    linearly interpolated (numpy's default), leaving out NaN resamples; NaN where every resample is NaN.

    Example:
        >>> [round(float(bound), 6) for bound in percentile_interval(torch.arange(101, dtype=torch.float64), 0.9)]
        [5.0, 95.0]
    """
    levels = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64, device=values.device)
    bounds = torch.nanquantile(values.double(), levels, dim=0)
    return bounds[0], bounds[1]


def stratified_rows(seed: int, index: Tensor, strata: Tensor, resample: int) -> Tensor:
    """The rows of a stratified resample: each stratum's n_s rows drawn n_s times with replacement (pROC's
    stratified bootstrap: the case and control counts stay fixed), sorted.

    ``index`` holds the global sample indices in ascending order (as compute() sorts them), so the draw is a pure
    function of ``(seed, the samples, resample)``: the sample at the k-th place of stratum s picks the row
    ``floor(u * n_s)`` of that stratum, ``u = counter_uniform(seed, index_k, resample)``.

    Example:
        >>> strata = torch.tensor([0, 1, 0, 1, 1, 0, 0])
        >>> rows = stratified_rows(3, torch.arange(7), strata, 0)
        >>> int((strata[rows] == 1).sum()), int((strata[rows] == 0).sum())
        (3, 4)
    """
    uniform = counter_uniform(seed, index, resample)
    picked = []
    for stratum in torch.unique(strata):
        positions = torch.nonzero(strata == stratum).flatten()
        draws = (uniform[positions] * positions.numel()).long().clamp_(max=positions.numel() - 1)
        picked.append(positions[draws])
    return torch.sort(torch.cat(picked)).values if picked else index.new_zeros(0)


def _percentile_of_score(values: Tensor, score: Tensor) -> Tensor:
    """scipy's ``_percentile_of_score``: ``(#(values < score) + #(values <= score)) / 2B`` along dim 0."""
    return ((values < score).sum(0) + (values <= score).sum(0)).double() / (2 * values.shape[0])


def bca_interval(values: Tensor, value: Tensor, jackknife: Tensor, level: float) -> tuple[Tensor, Tensor]:
    """The bias-corrected and accelerated interval (Efron 1987), as ``scipy.stats.bootstrap(method="BCa")``
    computes it from its resampled values: ``z0 = Phi^-1(percentile of value among values)``, the acceleration
    ``a = sum(d^3) / (6 sum(d^2)^1.5)`` with ``d`` the jackknife values' deviations from their mean, and the
    quantiles ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1((1 -+ level) / 2)``. ``values`` (B, ...)
    are the resampled values (NaN resamples left out), ``jackknife`` (n, ...) the leave-one-out values.

    Example:
        >>> values = torch.linspace(0, 1, 101, dtype=torch.float64)
        >>> lower, upper = bca_interval(values, torch.tensor(0.5, dtype=torch.float64), values, 0.9)
        >>> round(float(lower), 3), round(float(upper), 3)
        (0.05, 0.95)
    """
    defined = values[~values.isnan().reshape(values.shape[0], -1).any(1)]
    z0 = torch.special.ndtri(_percentile_of_score(defined, value))
    deviations = jackknife.mean(0) - jackknife
    acceleration = (deviations**3).sum(0) / (6 * (deviations**2).sum(0) ** 1.5)
    bounds = []
    for tail in ((1 - level) / 2, (1 + level) / 2):
        z = z0 + torch.special.ndtri(torch.tensor(tail, dtype=torch.float64))
        alpha = torch.special.ndtr(z0 + z / (1 - acceleration * z))
        bounds.append(_quantile_each(defined, alpha))
    return bounds[0], bounds[1]


def _quantile_each(values: Tensor, alpha: Tensor) -> Tensor:
    """The ``alpha`` quantile of ``values`` along dim 0, one alpha per trailing position (linear, as numpy)."""
    flat, alphas = values.reshape(values.shape[0], -1), alpha.reshape(-1)
    out = torch.stack(
        [torch.quantile(flat[:, k], alphas[k]) if not alphas[k].isnan() else alphas[k] for k in range(flat.shape[1])]
    )
    return out.reshape(alpha.shape)
