"""Wilson and Clopper-Pearson intervals against statsmodels' proportion_confint; betainc(inv) against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import multilabel_confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from lightning_evalkit.classification.rate_intervals import (
    sensitivity_confidence_interval,
    specificity_confidence_interval,
)
from lightning_evalkit.statistics.binomial import betainc, betaincinv, binomial_interval

METHODS = {"wilson": "wilson", "clopper_pearson": "beta"}


def _check_against_statsmodels(successes: int, trials: int, level: float, method: str) -> None:
    lower, upper = binomial_interval(torch.tensor(successes), torch.tensor(trials), level, method)
    expected_lower, expected_upper = proportion_confint(successes, trials, alpha=1 - level, method=METHODS[method])
    assert float(lower) == pytest.approx(expected_lower, abs=1e-12)
    assert float(upper) == pytest.approx(expected_upper, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.floats(0.5, 0.999))
@pytest.mark.parametrize("method", ["wilson", "clopper_pearson"])
def test_interval_equals_statsmodels(method: str, counts: tuple[int, int], level: float) -> None:
    _check_against_statsmodels(*counts, level, method)


@pytest.mark.parametrize("method", ["wilson", "clopper_pearson"])
@pytest.mark.parametrize("trials", [1, 2, 7, 41, 1000, 100_000, 1_000_000])
def test_zero_and_full_proportions_and_large_counts_equal_statsmodels(method: str, trials: int) -> None:
    for successes in sorted({0, 1, trials // 3, trials - 1, trials}):
        _check_against_statsmodels(successes, trials, 0.95, method)


def test_elementwise_on_tensors_and_zero_trials_is_nan() -> None:
    successes, trials = torch.tensor([[0, 3], [5, 0]]), torch.tensor([[4, 3], [9, 0]])
    for method, reference in METHODS.items():
        lower, upper = binomial_interval(successes, trials, 0.9, method)
        assert lower.shape == (2, 2) and lower[1, 1].isnan() and upper[1, 1].isnan()
        expected = proportion_confint(np.array([0, 3, 5]), np.array([4, 3, 9]), alpha=0.1, method=reference)
        np.testing.assert_allclose(lower.flatten()[:3].numpy(), expected[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(upper.flatten()[:3].numpy(), expected[1], rtol=0, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.5, 400), st.floats(0.5, 400), st.floats(0.0, 1.0))
def test_betainc_and_inverse_equal_scipy(a: float, b: float, u: float) -> None:
    assert betainc(a, b, u) == pytest.approx(scipy.special.betainc(a, b, u), abs=1e-12)
    # Clopper-Pearson inverts only at a lower tail (1 - level) / 2 in (0, 1/2): there the inverse is well
    # conditioned (near p = 1 the x of I_x = p is not determined to 1e-12 by a float64 p); scipy itself gives
    # NaN for some p far below 1e-12
    p = min(max(u, 1e-12), 0.5)
    # scipy's inverse is the rough reference: its own error reaches 9e-9 (a = b = 0.5054, p = 1/2 gives
    # 0.4999999909, exactly 1/2 by symmetry); the round trip through betainc (equal to scipy to 1e-12) is exact
    assert betaincinv(a, b, p) == pytest.approx(scipy.special.betaincinv(a, b, p), abs=1e-7)
    assert betainc(a, b, betaincinv(a, b, p)) == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize("a", [0.5054350842824012, 1.75, 7.0, 391.0])
def test_betaincinv_of_a_symmetric_beta_at_one_half_is_one_half(a: float) -> None:
    assert betaincinv(a, a, 0.5) == pytest.approx(0.5, abs=1e-12)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="Expected `method`"):
        binomial_interval(torch.tensor(1), torch.tensor(2), method="exact")
    with pytest.raises(ValueError, match="Expected `successes` to lie in \\[0, trials\\]"):
        binomial_interval(torch.tensor(3), torch.tensor(2))
    with pytest.raises(ValueError, match="Expected `level`"):
        binomial_interval(torch.tensor(1), torch.tensor(2), level=1.0)


@pytest.mark.parametrize("interval", ["wilson", "clopper_pearson"])
def test_functional_twins_per_class_equal_statsmodels_on_sklearn_counts(interval: str) -> None:
    generator = torch.Generator().manual_seed(3)
    preds = torch.rand(200, 4, generator=generator)
    target = torch.randint(0, 4, (200,), generator=generator)
    counts = multilabel_confusion_matrix(target.numpy(), preds.argmax(1).numpy(), labels=range(4))
    tn, fp, fn, tp = (counts[:, i // 2, i % 2] for i in range(4))
    kwargs = {"task": "multiclass", "num_classes": 4, "level": 0.9, "interval": interval}
    for function, successes, trials in (
        (sensitivity_confidence_interval, tp, tp + fn),
        (specificity_confidence_interval, tn, tn + fp),
    ):
        value, lower, upper = function(preds, target, **kwargs)
        expected = proportion_confint(successes, trials, alpha=0.1, method=METHODS[interval])
        np.testing.assert_allclose(value.numpy(), successes / trials, rtol=0, atol=1e-15)
        np.testing.assert_allclose(lower.numpy(), expected[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(upper.numpy(), expected[1], rtol=0, atol=1e-12)
        value, lower, upper = function(preds, target, average="micro", **kwargs)
        expected = proportion_confint(successes.sum(), trials.sum(), alpha=0.1, method=METHODS[interval])
        assert value.ndim == 0 and float(lower) == pytest.approx(expected[0], abs=1e-12)


def test_binary_twin_uses_the_threshold_convention() -> None:
    preds, target = torch.tensor([0.5, 0.49, 0.9, 0.1]), torch.tensor([1, 1, 0, 0])
    value, lower, upper = sensitivity_confidence_interval(preds, target, task="binary", threshold=0.5)
    expected = proportion_confint(1, 2, method="wilson")
    assert float(value) == 0.5 and (float(lower), float(upper)) == pytest.approx(expected, abs=1e-12)
