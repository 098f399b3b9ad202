"""PairedBootstrapInterval: two models' difference on the same resamples, checked against scikit-learn on each
resample, DeLong's paired interval and test at n = 3000, BootstrapInterval's own resamples, merged and shuffled
states, bad input, and two gloo processes."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from lightning_evalkit import AUROC, PairedBootstrapInterval
from lightning_evalkit.classification.bootstrap import BootstrapInterval
from lightning_evalkit.statistics.bootstrap import resample_rows
from lightning_evalkit.statistics.delong import delong_covariance


def _two_models(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    shared = rng.normal(0.9 * labels, 1.0)  # the models share most of their error: a correlated pair
    a, b = shared + rng.normal(0, 0.4, n), shared + rng.normal(0.3 * labels, 0.6, n)
    return torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(labels)


def _metric(num_resamples: int = 50, seed: int = 9) -> PairedBootstrapInterval:
    return PairedBootstrapInterval(AUROC(task="binary", input_format="scores"), num_resamples=num_resamples, seed=seed)


def _bits(result: tuple[torch.Tensor, ...]) -> list[bytes]:
    return [value.numpy().tobytes() for value in result]


def test_every_resampled_difference_and_the_p_value_equal_scikit_learn_on_the_same_rows() -> None:
    a, b, target = _two_models(200, seed=1)
    metric = _metric(num_resamples=30, seed=3)
    metric.update(a.float(), b.float(), target, torch.arange(200))
    difference, lower, upper, p_value = metric.compute()
    a32, b32 = a.float().double().numpy(), b.float().double().numpy()
    y = target.numpy()
    assert math.isclose(float(difference), roc_auc_score(y, a32) - roc_auc_score(y, b32), abs_tol=1e-12)
    diffs = []
    for resample in range(30):
        rows = resample_rows(3, torch.arange(200), resample).numpy()
        diffs.append(roc_auc_score(y[rows], a32[rows]) - roc_auc_score(y[rows], b32[rows]))
    expected_lower, expected_upper = np.percentile(diffs, [2.5, 97.5])
    assert math.isclose(float(lower), expected_lower, abs_tol=1e-12)
    assert math.isclose(float(upper), expected_upper, abs_tol=1e-12)
    z = float(difference) / np.std(diffs, ddof=1)
    assert math.isclose(float(p_value), math.erfc(abs(z) / math.sqrt(2)), rel_tol=1e-9)


def test_against_a_constant_model_it_is_the_single_models_interval_shifted() -> None:
    a, _, target = _two_models(300, seed=2)
    paired, single = (
        _metric(num_resamples=40, seed=5),
        BootstrapInterval(AUROC(task="binary", input_format="scores"), num_resamples=40, seed=5),
    )
    paired.update(a, torch.zeros(300, dtype=torch.float64), target, torch.arange(300))  # AUC 0.5 on any resample
    single.update(a, target, torch.arange(300))
    difference, lower, upper, _ = paired.compute()
    value, single_lower, single_upper = single.compute()
    for got, want in ((difference, value), (lower, single_lower), (upper, single_upper)):
        assert math.isclose(float(got), float(want) - 0.5, abs_tol=1e-12)


@pytest.mark.slow
def test_auroc_difference_agrees_with_delongs_paired_interval_and_test_at_n_3000() -> None:
    a, b, target = _two_models(3000, seed=4)
    metric = _metric(num_resamples=1000, seed=4)
    for lo in range(0, 3000, 500):
        rows = torch.arange(lo, lo + 500)
        metric.update(a[rows], b[rows], target[rows], rows)
    difference, lower, upper, p_value = metric.compute()
    aucs, covariance = delong_covariance(a, b, target.bool())
    sd = math.sqrt(float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]))
    delong_difference = float(aucs[0] - aucs[1])
    assert math.isclose(float(difference), delong_difference, abs_tol=1e-12)
    half = 1.959963984540054 * sd
    assert abs(float(lower) - (delong_difference - half)) < 0.015
    assert abs(float(upper) - (delong_difference + half)) < 0.015
    delong_p = math.erfc(abs(delong_difference / sd) / math.sqrt(2))
    assert abs(math.log10(float(p_value)) - math.log10(delong_p)) < 0.5  # the same evidence, within half a decade


def test_batches_their_order_and_merged_states_give_the_same_bits() -> None:
    a, b, target = _two_models(240, seed=6)
    index = torch.arange(240)
    whole = _metric()
    whole.update(a, b, target, index)
    expected = _bits(whole.compute())
    shuffled = _metric()
    for rows in torch.randperm(240, generator=torch.Generator().manual_seed(0)).split(37):
        shuffled.update(a[rows], b[rows], target[rows], index[rows])
    assert _bits(shuffled.compute()) == expected
    first, second = _metric(), _metric()
    first.update(a[120:], b[120:], {"target": target[120:], "indices": index[120:]})
    second.update(a[:120], b[:120], target[:120], index[:120])
    first.merge_state(second)
    assert _bits(first.compute()) == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.update(torch.rand(3), torch.rand(2), torch.tensor([0, 1, 1]), torch.arange(3)), "`preds_b`"),
        (lambda m: m.update(torch.rand(3), torch.rand(3), torch.tensor([0, 1, 1])), "Expected `indices` (the global"),
        (lambda m: m.update(torch.rand(3), torch.rand(3), torch.tensor([0, 1, 2]), torch.arange(3)), "only 0 and 1"),
    ],
)
def test_bad_updates_are_explained_and_change_nothing(call: Any, message: str) -> None:
    metric = _metric(num_resamples=10)
    metric.update(torch.tensor([0.2, 0.8]), torch.tensor([0.4, 0.6]), torch.tensor([0, 1]), torch.tensor([10, 11]))
    with pytest.raises(ValueError, match=re.escape(message)):
        call(metric)
    assert len(metric.indices) == len(metric.preds_b) == len(metric.preds) == 1


def test_without_samples_it_is_nan_with_a_warning() -> None:
    with pytest.warns(UserWarning, match=r"PairedBootstrapInterval is undefined \(NaN\): no sample was seen"):
        assert all(bool(value.isnan()) for value in _metric().compute())


def _ddp_rank(rank: int, world_size: int) -> list[bytes]:
    a, b, target = _two_models(203, seed=7)
    rows = torch.arange(rank, 203, world_size)
    metric = _metric(num_resamples=40, seed=2)
    for part in rows.split(25):
        metric.update(a[part], b[part], target[part], part)
    return _bits(metric.compute())


@pytest.mark.ddp
@pytest.mark.slow
def test_two_processes_give_the_one_process_bits() -> None:
    from tests._ddp import run_in_processes

    single = _ddp_rank(0, 1)
    for rank_result in run_in_processes(_ddp_rank, 2):
        assert rank_result == single
