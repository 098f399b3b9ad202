"""Binomial confidence intervals of a proportion (sensitivity, specificity), as statsmodels' ``proportion_confint``.

- ``"wilson"``: Wilson's score interval, the inversion of the score test; clipped to [0, 1].
- ``"clopper_pearson"``: the exact interval (statsmodels' ``method="beta"``): the bounds are quantiles of beta
  distributions, ``B(alpha/2; k, n - k + 1)`` and ``B(1 - alpha/2; k + 1, n - k)``, with 0 at k = 0 and 1 at k = n.

torch has neither the regularised incomplete beta function nor its inverse, so both are written here in float64
(a continued fraction, and a Newton iteration kept inside a shrinking bracket), rather than adding scipy as a
runtime dependency for one special function; the tests check them against scipy and statsmodels to 1e-12.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice
from lightning_evalkit.statistics.normal import check_level

INTERVALS = ("wilson", "clopper_pearson")
_EPS = 1e-16
_TINY = 1e-300


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz), converging fast for x < (a + 1) / (a + b + 2)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    result = d
    for m in range(1, 100_000):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            result *= c * d
        if abs(c * d - 1.0) < _EPS:
            break
    return result


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for a, b > 0 and x in [0, 1], in float64.

    Example:
        >>> round(betainc(2.0, 3.0, 0.4), 12)
        0.5248
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def betaincinv(a: float, b: float, p: float) -> float:
    """The x in [0, 1] with I_x(a, b) = p: Newton steps on the bracket [lo, hi], bisection where they leave it.

    Example:
        >>> round(betaincinv(2.0, 3.0, 0.5248), 12)
        0.4
    """
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lo, hi, x = 0.0, 1.0, a / (a + b)
    log_norm = _log_beta(a, b)
    previous_step = 1.0
    for _ in range(2000):
        error = betainc(a, b, x) - p
        if error == 0.0:
            return x
        lo, hi = (x, hi) if error < 0 else (lo, x)
        density = math.exp((a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - log_norm)
        step = error / density if density > 0 else math.inf
        # Newton where it lands inside the bracket and converges fast enough; otherwise bisect (NR's rtsafe)
        if not lo < x - step < hi or abs(step) > 0.5 * abs(previous_step):
            step = x - 0.5 * (lo + hi)
        candidate = x - step
        if candidate in (lo, hi) or abs(step) <= 2e-16 * x:
            return candidate
        x, previous_step = candidate, step
    return x


def _wilson(successes: Tensor, trials: Tensor, level: float) -> tuple[Tensor, Tensor]:
    """statsmodels' Wilson formula, step for step, so the two agree to the last bits."""
    crit = -torch.special.ndtri(torch.tensor((1.0 - level) / 2.0, dtype=torch.float64))
    crit2 = crit**2
    nobs = trials.double()
    proportion = successes.double() / nobs
    denom = 1 + crit2 / nobs
    center = (proportion + crit2 / (2 * nobs)) / denom
    dist = crit * torch.sqrt(proportion * (1.0 - proportion) / nobs + crit2 / (4.0 * nobs**2)) / denom
    return (center - dist).clamp(0.0, 1.0), (center + dist).clamp(0.0, 1.0)


def _clopper_pearson(successes: Tensor, trials: Tensor, level: float) -> tuple[Tensor, Tensor]:
    tail = (1.0 - level) / 2.0
    lower, upper = [], []
    for k, n in zip(successes.reshape(-1).tolist(), trials.reshape(-1).tolist(), strict=True):
        if n == 0:
            lower.append(math.nan)
            upper.append(math.nan)
            continue
        lower.append(0.0 if k == 0 else betaincinv(k, n - k + 1.0, tail))
        # the upper quantile of B(k + 1, n - k) is 1 - the lower quantile of B(n - k, k + 1)
        upper.append(1.0 if k == n else 1.0 - betaincinv(n - k, k + 1.0, tail))
    shape = successes.shape
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float64).reshape(shape)  # noqa: E731
    return as_tensor(lower), as_tensor(upper)


def binomial_interval(
    successes: Tensor, trials: Tensor, level: float = 0.95, method: str = "wilson"
) -> tuple[Tensor, Tensor]:
    """Two-sided confidence interval of ``successes / trials``, elementwise (statsmodels' ``proportion_confint``).

    Args:
        successes: integer counts, e.g. TP per class for sensitivity.
        trials: integer counts of the same shape, e.g. TP + FN; a zero gives NaN bounds.
        level: confidence level in (0, 1).
        method: "wilson" (score interval, statsmodels "wilson") or "clopper_pearson" (exact, statsmodels "beta").

    Returns:
        ``(lower, upper)``, float64 tensors shaped like ``successes``.

    Example:
        >>> import torch
        >>> lower, upper = binomial_interval(torch.tensor([26]), torch.tensor([41]))
        >>> [round(v, 4) for v in (lower.item(), upper.item())]
        [0.4812, 0.7641]
    """
    level = check_level(level)
    check_choice("method", method, INTERVALS)
    successes, trials = torch.as_tensor(successes), torch.as_tensor(trials)
    if bool((successes < 0).any()) or bool((successes > trials).any()):
        raise ValueError(
            f"Expected `successes` to lie in [0, trials], but got {successes.tolist()} of {trials.tolist()}."
        )
    if method == "wilson":
        lower, upper = _wilson(successes, trials, level)
    else:
        lower, upper = _clopper_pearson(successes.cpu(), trials.cpu(), level)
    undefined = trials == 0
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    return torch.where(undefined.cpu(), nan, lower.cpu()), torch.where(undefined.cpu(), nan, upper.cpu())
