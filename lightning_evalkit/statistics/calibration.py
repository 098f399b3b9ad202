"""Calibration numerics on binned forecasts: bin edges, exact per-bin sums, calibration errors, Murphy's terms.

Bins follow scikit-learn's ``calibration_curve`` (and Guo et al. 2017): bin ``k`` holds the forecasts in
``(edges[k], edges[k + 1]]``, and the first bin also holds ``edges[0]`` itself (a forecast of 0). Uniform edges are
``numpy.linspace(0, 1, n_bins + 1)`` to the bit; quantile edges are ``numpy.percentile(scores, linspace * 100)``
(linear interpolation) to the bit, so a forecast lying on an edge lands in the same bin as in scikit-learn.

Per-bin sums of forecasts are kept as integers: each float64 forecast ``f`` in [0, 2] is cut into two 32-bit limbs
of ``f * 2**64`` (truncated below 2**-64), and limbs add exactly in int64. A sum therefore does not depend on the
order or the grouping of its terms (one process or several, any batch sizes give the same bits), and it is exact
to 2**-64 per forecast. A bin holds up to 2**30 forecasts before int64 could overflow.

The accumulated layout of one problem is ``(B, 2, 5)`` int64: per bin, per outcome (0, 1), the count, the two
limbs of the sum of forecasts and the two limbs of the sum of squared forecasts.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

NORMS = ("l1", "l2", "max")
BINNINGS = ("uniform", "quantile")
_LIMB = float(2**32)
_LOW_MASK = 2**32 - 1


def uniform_edges(n_bins: int, device: torch.device | str | None = None) -> Tensor:
    """``numpy.linspace(0, 1, n_bins + 1)``, bit for bit, as float64 (``torch.linspace`` differs in the last bits).

    Example:
        >>> uniform_edges(4)
        tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000], dtype=torch.float64)
    """
    edges = torch.arange(n_bins + 1, dtype=torch.float64, device=device) * (1.0 / n_bins)
    edges[-1] = 1.0
    return edges


def quantile_edges(sorted_scores: Tensor, n_bins: int) -> Tensor:
    """``numpy.percentile(scores, numpy.linspace(0, 1, n_bins + 1) * 100)`` bit for bit (linear interpolation).

    ``sorted_scores`` is 1-D float64, ascending; with no scores every edge is NaN.

    Example:
        >>> quantile_edges(torch.tensor([0.1, 0.2, 0.4, 0.8], dtype=torch.float64), 2)
        tensor([0.1000, 0.3000, 0.8000], dtype=torch.float64)
    """
    count = sorted_scores.numel()
    if count == 0:
        return torch.full((n_bins + 1,), float("nan"), dtype=torch.float64, device=sorted_scores.device)
    levels = (uniform_edges(n_bins, sorted_scores.device) * 100) / 100  # as scikit-learn passes them to numpy
    virtual = (count - 1) * levels
    below = torch.floor(virtual)
    previous = below.long().clamp(max=count - 1)
    following = (previous + 1).clamp(max=count - 1)
    weight = virtual - below
    low, high = sorted_scores[previous], sorted_scores[following]
    step = high - low
    # numpy's _lerp: from the nearer end, so the interpolation is monotone and exact at both ends
    return torch.where(weight >= 0.5, high - step * (1 - weight), low + step * weight)


def bin_indices(scores: Tensor, edges: Tensor) -> Tensor:
    """The bin of each float64 score: ``(edges[k], edges[k + 1]]``, the first bin closed at ``edges[0]`` too."""
    inner = edges[1:-1].contiguous()
    return torch.searchsorted(inner, scores.contiguous(), right=False)


def fixed_point(values: Tensor) -> Tensor:
    """``(..., 2)`` int64 limbs of float64 ``values`` in [0, 2]: ``floor(v * 2**32)`` and the next 32 bits.

    Example:
        >>> fixed_point(torch.tensor([0.5, 1.0 + 2**-40], dtype=torch.float64)).tolist()
        [[2147483648, 0], [4294967296, 16777216]]
    """
    scaled = values * _LIMB  # exact: a power-of-two scale
    high = torch.floor(scaled)
    low = torch.floor((scaled - high) * _LIMB)  # both steps exact; what is cut off is below 2**-64
    return torch.stack([high, low], dim=-1).long()


def fixed_point_total(limbs: Tensor) -> Tensor:
    """The float64 value of summed limbs ``(..., 2)`` (one rounding, so equal sums give equal bits).

    Example:
        >>> fixed_point_total(fixed_point(torch.tensor([0.25, 0.5], dtype=torch.float64)).sum(0))
        tensor(0.7500, dtype=torch.float64)
    """
    carry = limbs[..., 1] >> 32
    high, low = limbs[..., 0] + carry, limbs[..., 1] & _LOW_MASK
    return high.double() / _LIMB + low.double() / (_LIMB * _LIMB)


def accumulate_bins(scores: Tensor, outcome: Tensor, bins: Tensor, n_bins: int) -> Tensor:
    """The int64 sums of forecasts (see the module docstring): ``(n_bins, 2, 5)`` of 1-D inputs, ``(L, n_bins, 2, 5)``
    of (M, L) inputs, one problem per column. ``outcome`` is 0 or 1, or -1 for an entry left out.

    Example:
        >>> scores = torch.tensor([0.1, 0.8, 0.9], dtype=torch.float64)
        >>> raw = accumulate_bins(scores, torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1]), 2)
        >>> raw[..., 0].tolist()  # per bin: negatives, positives
        [[1, 0], [1, 1]]
    """
    columns = 1 if scores.ndim == 1 else scores.shape[1]
    label = torch.arange(columns, device=scores.device).expand(scores.shape[0], columns).reshape(scores.shape)
    keep = outcome >= 0
    values = scores[keep]
    key = ((label[keep] * n_bins + bins[keep]) * 2 + outcome[keep]).long()
    added = torch.cat([torch.ones_like(key).unsqueeze(-1), fixed_point(values), fixed_point(values * values)], -1)
    sums = torch.zeros(columns * n_bins * 2, 5, dtype=torch.long, device=scores.device).index_add_(0, key, added)
    return sums.reshape(n_bins, 2, 5) if scores.ndim == 1 else sums.reshape(columns, n_bins, 2, 5)


class BinStats(NamedTuple):
    """Per-bin totals of forecasts ``f`` and outcomes ``o`` (last dimension: bins), all float64.

    ``counts`` of forecasts, ``positives`` with o = 1, ``score_sum`` = sum f, ``positive_score_sum`` = sum o * f,
    ``square_sum`` = sum f**2.
    """

    counts: Tensor
    positives: Tensor
    score_sum: Tensor
    positive_score_sum: Tensor
    square_sum: Tensor

    @classmethod
    def from_sums(cls, sums: Tensor) -> BinStats:
        """Totals of accumulated ``(..., B, 2, 5)`` sums (any leading dimensions, e.g. labels)."""
        return cls(
            counts=sums[..., 0].sum(-1).double(),
            positives=sums[..., 1, 0].double(),
            score_sum=fixed_point_total(sums[..., 1:3].sum(-2)),
            positive_score_sum=fixed_point_total(sums[..., 1, 1:3]),
            square_sum=fixed_point_total(sums[..., 3:5].sum(-2)),
        )

    def means(self) -> tuple[Tensor, Tensor]:
        """``(mean forecast, observed frequency)`` of each bin; NaN in an empty bin."""
        filled = self.counts > 0
        safe = torch.where(filled, self.counts, torch.ones_like(self.counts))
        nan = torch.full_like(self.counts, float("nan"))
        return torch.where(filled, self.score_sum / safe, nan), torch.where(filled, self.positives / safe, nan)


def calibration_error_from_bins(stats: BinStats, norm: str = "l1") -> Tensor:
    """Expected (``"l1"``), root-mean-square (``"l2"``) or maximum (``"max"``) calibration error of binned totals.

    ``l1`` = sum_k (n_k / N) |o_k - f_k|, ``l2`` = sqrt(sum_k (n_k / N) (o_k - f_k)**2), ``max`` = max_k |o_k - f_k|
    over the filled bins; NaN where nothing was counted.

    Example:
        >>> raw = accumulate_bins(torch.tensor([0.2, 0.9], dtype=torch.float64), torch.tensor([0, 1]),
        ...                       torch.tensor([0, 1]), 2)
        >>> calibration_error_from_bins(BinStats.from_sums(raw))
        tensor(0.1500, dtype=torch.float64)
    """
    mean_forecast, observed = stats.means()
    gap = torch.nan_to_num((observed - mean_forecast).abs(), nan=0.0)
    total = stats.counts.sum(-1)
    weight = stats.counts / total.unsqueeze(-1)
    if norm == "l1":
        error = (weight * gap).sum(-1)
    elif norm == "l2":
        error = (weight * gap * gap).sum(-1).sqrt()
    else:
        error = gap.amax(-1)
    return torch.where(total > 0, error, torch.full_like(error, float("nan")))


def murphy_decomposition(stats: BinStats) -> dict[str, Tensor]:
    """Murphy's reliability, resolution and uncertainty of binned binary forecasts, with the two within-bin terms.

    With N forecasts, n_k in bin k of mean forecast f_k and observed frequency o_k, and base rate o:
    reliability = sum_k n_k (f_k - o_k)**2 / N, resolution = sum_k n_k (o_k - o)**2 / N, uncertainty = o (1 - o),
    within_bin_variance = sum_i (f_i - f_k(i))**2 / N and within_bin_covariance = sum_i (o_i - o_k(i)) (f_i -
    f_k(i)) / N (Stephenson et al. 2008), so that, exactly,
    ``brier = reliability - resolution + uncertainty + within_bin_variance - 2 * within_bin_covariance``. The last
    two vanish when every bin holds one distinct forecast.

    Example:
        >>> raw = accumulate_bins(torch.tensor([0.2, 0.2, 0.9], dtype=torch.float64), torch.tensor([0, 1, 1]),
        ...                       torch.tensor([0, 0, 1]), 2)
        >>> {key: round(float(value), 4) for key, value in murphy_decomposition(BinStats.from_sums(raw)).items()}
        {'reliability': 0.0633, 'resolution': 0.0556, 'uncertainty': 0.2222, 'within_bin_variance': 0.0, \
'within_bin_covariance': 0.0}
    """
    total = stats.counts.sum(-1)
    base_rate = stats.positives.sum(-1) / total
    filled = stats.counts > 0
    safe = torch.where(filled, stats.counts, torch.ones_like(stats.counts))
    mean_forecast, observed = stats.score_sum / safe, stats.positives / safe
    reliability = (stats.counts * (mean_forecast - observed) ** 2).sum(-1) / total
    resolution = (stats.counts * (observed - base_rate.unsqueeze(-1)) ** 2).sum(-1) / total
    variance = (stats.square_sum - stats.counts * mean_forecast**2).sum(-1) / total
    covariance = (stats.positive_score_sum - stats.counts * observed * mean_forecast).sum(-1) / total
    return {
        "reliability": reliability,
        "resolution": resolution,
        "uncertainty": base_rate * (1 - base_rate),
        "within_bin_variance": variance,
        "within_bin_covariance": covariance,
    }
