"""Confidence levels and the normal (Wald) interval of an estimate with a known variance."""

from __future__ import annotations

import torch
from torch import Tensor


def check_level(level: object) -> float:
    """Validate a confidence level: a float strictly between 0 and 1."""
    if isinstance(level, bool) or not isinstance(level, (int, float)):
        raise TypeError(f"Expected `level` to be a float in (0, 1), but got {type(level).__name__}.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"Expected `level` to be a float in (0, 1), but got {level}.")
    return float(level)


def normal_quantiles(level: float) -> tuple[Tensor, Tensor]:
    """The lower and upper two-sided normal quantiles ``(ndtri((1 - level) / 2), ndtri(1 - (1 - level) / 2))``."""
    tails = torch.tensor([(1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0], dtype=torch.float64)
    low, high = torch.special.ndtri(tails)
    return low, high


def _normal_interval(estimate: Tensor, variance: Tensor, level: float) -> tuple[Tensor, Tensor, Tensor]:
    low_z, high_z = normal_quantiles(level)
    spread = variance.sqrt()
    return estimate, (estimate + low_z * spread).clamp(0.0, 1.0), (estimate + high_z * spread).clamp(0.0, 1.0)


def resolve_level(level: float | None, own: float | None) -> float:
    """The level asked for, else the metric's own, else 0.95.

    Example:
        >>> resolve_level(None, 0.9), resolve_level(0.8, 0.9), resolve_level(None, None)
        (0.9, 0.8, 0.95)
    """
    if level is not None:
        return check_level(level)
    return 0.95 if own is None else own
