"""BootstrapInterval(method="bca") and (stratified=True): scipy's BCa formula on our resamples with scikit-learn's
AUC on every resample and leave-one-out copy, scipy.stats.bootstrap's own BCa interval, fixed class counts in every
stratified resample, order- and merge-independent bits, and the refused configurations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from sklearn.metrics import roc_auc_score

from lightning_evalkit import AUROC, PairedBootstrapInterval
from lightning_evalkit.classification.bootstrap import BootstrapInterval
from lightning_evalkit.statistics.bootstrap import resample_rows, stratified_rows


def _binary(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return torch.from_numpy(rng.normal(0.9 * labels, 1.0)), torch.from_numpy(labels)


def _auroc(**kwargs: object) -> BootstrapInterval:
    return BootstrapInterval(AUROC(task="binary", input_format="scores"), **kwargs)  # type: ignore[arg-type]


def test_bca_is_scipys_formula_on_the_same_resamples_with_scikit_learns_auc() -> None:
    preds, target = _binary(120, seed=1)
    metric = _auroc(num_resamples=60, seed=2, method="bca", confidence_level=0.9)
    metric.update(preds, target, torch.arange(120))
    value, lower, upper = metric.compute()
    x, y = preds.numpy(), target.numpy()
    theta = roc_auc_score(y, x)
    boot = np.array(
        [roc_auc_score(y[r], x[r]) for r in (resample_rows(2, torch.arange(120), b).numpy() for b in range(60))]
    )
    jack = np.array([roc_auc_score(np.delete(y, i), np.delete(x, i)) for i in range(120)])
    z0 = special.ndtri(((boot < theta).sum() + (boot <= theta).sum()) / (2 * len(boot)))
    d = jack.mean() - jack
    a = (d**3).sum() / (6 * (d**2).sum() ** 1.5)
    alphas = [special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z))) for z in special.ndtri([0.05, 0.95])]
    expected = np.percentile(boot, [100 * alpha for alpha in alphas])
    assert math.isclose(float(value), theta, abs_tol=1e-12)
    assert math.isclose(float(lower), expected[0], abs_tol=1e-12)
    assert math.isclose(float(upper), expected[1], abs_tol=1e-12)


def test_paired_bca_is_scipys_formula_on_the_differences_of_scikit_learns_aucs() -> None:
    """The BCa of the difference: z0 and the acceleration from the differences on the same resamples and on
    every leave-one-out copy (both models' AUCs by scikit-learn)."""
    preds_a, target = _binary(90, seed=7)
    preds_b = preds_a + torch.from_numpy(np.random.default_rng(8).normal(0, 1.0, 90))
    auroc = AUROC(task="binary", input_format="scores")
    metric = PairedBootstrapInterval(auroc, num_resamples=50, seed=3, method="bca")
    metric.update(preds_a, preds_b, target, torch.arange(90))
    difference, lower, upper, _ = metric.compute()
    xa, xb, y = preds_a.numpy(), preds_b.numpy(), target.numpy()

    def diff(rows: np.ndarray) -> float:
        return roc_auc_score(y[rows], xa[rows]) - roc_auc_score(y[rows], xb[rows])

    theta = diff(np.arange(90))
    boot = np.array([diff(resample_rows(3, torch.arange(90), b).numpy()) for b in range(50)])
    jack = np.array([diff(np.delete(np.arange(90), i)) for i in range(90)])
    z0 = special.ndtri(((boot < theta).sum() + (boot <= theta).sum()) / (2 * len(boot)))
    d = jack.mean() - jack
    a = (d**3).sum() / (6 * (d**2).sum() ** 1.5)
    alphas = [special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z))) for z in special.ndtri([0.025, 0.975])]
    expected = np.percentile(boot, [100 * alpha for alpha in alphas])
    assert math.isclose(float(difference), theta, abs_tol=1e-12)
    assert math.isclose(float(lower), expected[0], abs_tol=1e-12)
    assert math.isclose(float(upper), expected[1], abs_tol=1e-12)
    assert not np.allclose(expected, np.percentile(boot, [2.5, 97.5]))  # BCa moved the bounds here


@pytest.mark.slow
def test_bca_agrees_with_scipy_stats_bootstrap_bca() -> None:
    preds, target = _binary(300, seed=3)
    metric = _auroc(num_resamples=2000, seed=5, method="bca")
    metric.update(preds, target, torch.arange(300))
    _, lower, upper = metric.compute()
    result = stats.bootstrap(
        (target.numpy(), preds.numpy()),
        lambda y, x: roc_auc_score(y, x),
        paired=True,
        vectorized=False,
        n_resamples=2000,
        method="BCa",
        random_state=np.random.default_rng(0),
    )
    # different resamples (scipy's generator, our Poisson weights): the Monte Carlo error of each bound is ~0.005
    assert abs(float(lower) - result.confidence_interval.low) < 0.015
    assert abs(float(upper) - result.confidence_interval.high) < 0.015


def test_stratified_resamples_keep_the_class_counts_and_equal_scikit_learn_on_them() -> None:
    preds, target = _binary(150, seed=4)
    index = torch.arange(1000, 1150)
    metric = _auroc(num_resamples=40, seed=6, stratified=True)
    metric.update(preds, target, index)
    _, lower, upper = metric.compute()
    x, y = preds.numpy(), target.numpy()
    values = []
    for b in range(40):
        rows = stratified_rows(6, index, target, b)
        assert rows.numel() == 150 and int(target[rows].sum()) == int(target.sum())
        values.append(roc_auc_score(y[rows.numpy()], x[rows.numpy()]))
    expected = np.percentile(values, [2.5, 97.5])
    assert math.isclose(float(lower), expected[0], abs_tol=1e-12)
    assert math.isclose(float(upper), expected[1], abs_tol=1e-12)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_stratified_and_bca_bits_do_not_depend_on_batches_order_or_merging(method: str) -> None:
    preds, target = _binary(90, seed=7)
    index = torch.arange(90) * 3

    def fresh() -> BootstrapInterval:
        return _auroc(num_resamples=30, seed=1, stratified=True, method=method)

    whole = fresh()
    whole.update(preds, target, index)
    expected = [value.numpy().tobytes() for value in whole.compute()]
    first, second = fresh(), fresh()
    order = torch.randperm(90, generator=torch.Generator().manual_seed(1))
    first.update(preds[order[:50]], target[order[:50]], index[order[:50]])
    second.update(preds[order[50:]], target[order[50:]], index[order[50:]])
    first.merge_state(second)
    assert [value.numpy().tobytes() for value in first.compute()] == expected


def test_refused_configurations_say_what_to_pass() -> None:
    from lightning_evalkit import Sensitivity

    with pytest.raises(ValueError, match="Expected `stratified=False` for a multilabel metric"):
        BootstrapInterval(Sensitivity(task="multilabel", num_labels=3), stratified=True)
    with pytest.raises(TypeError, match="Expected `stratified` to be a bool"):
        _auroc(stratified=1)
    with pytest.raises(ValueError, match="Expected `method` to be one of"):
        _auroc(method="basic")
    with pytest.raises(ValueError, match="Expected `method` to be one of"):
        PairedBootstrapInterval(AUROC(task="binary"), method="basic")
