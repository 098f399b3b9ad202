"""DeLong AUC variance, confidence interval and paired test: pROC's published aSAH values, a naive reference."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_evalkit.classification.auc_intervals import auroc_confidence_interval, delong_test
from lightning_evalkit.functional import auroc
from lightning_evalkit.statistics.delong import _auc_and_variance, _runs_from_scores, _z_test, delong_covariance
from lightning_evalkit.statistics.normal import _normal_interval


def _asah(reference_dir: Path) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    with open(reference_dir / "proc-asah" / "aSAH.csv") as f:
        rows = list(csv.DictReader(f))
    columns = {
        name: torch.tensor([float(r[name]) for r in rows], dtype=torch.float64) for name in ("wfns", "s100b", "ndka")
    }
    return columns, torch.tensor([r["outcome"] == "Poor" for r in rows])


def _interval(scores: torch.Tensor, positive: torch.Tensor, level: float = 0.95) -> tuple[float, float, float]:
    _, pos, neg = _runs_from_scores(scores, positive)
    auc, variance = _auc_and_variance(pos, neg)
    return tuple(float(v) for v in _normal_interval(auc, variance, level))  # type: ignore[return-value]


def test_asah_ndka_interval_equals_proc(reference_dir: Path) -> None:
    # pROC tests/testthat/test-ci.auc.R: ci(r.ndka) with method "delong"
    columns, positive = _asah(reference_dir)
    auc, lower, upper = _interval(columns["ndka"], positive)
    assert auc == pytest.approx(0.611957994579946, abs=1e-12)
    assert lower == pytest.approx(0.501244999271703, abs=1e-12)
    assert upper == pytest.approx(0.722670989888189, abs=1e-12)


def test_asah_paired_test_equals_proc(reference_dir: Path) -> None:
    # pROC tests/testthat/test-roc.test.R: roc.test(r.wfns, r.s100b), method "delong"
    columns, positive = _asah(reference_dir)
    aucs, covariance = delong_covariance(columns["wfns"], columns["s100b"], positive)
    z, p_value = _z_test(aucs, covariance)
    assert float(z) == pytest.approx(2.20898359144091, abs=1e-12)
    assert float(p_value) == pytest.approx(0.0271757822291882, abs=1e-12)
    assert aucs[0] == pytest.approx(0.823678861788618, abs=1e-12)
    assert aucs[1] == pytest.approx(0.73136856368563685, abs=1e-12)


def _naive_components(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The P x N kernel matrix psi = 1 (x > y), 1/2 (x == y), 0: structural components V10, V01."""
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    return psi.mean(1), psi.mean(0)


def _naive_variance(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    v10, v01 = _naive_components(x, y)
    return float(v10.mean()), float(v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(y))


scores_and_labels = st.integers(4, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 6), min_size=n, max_size=n),  # few distinct values: many ties
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.floats(-3, 3, allow_nan=False), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(scores_and_labels)
def test_fast_variance_equals_naive_kernel_reference(data: tuple[list[int], list[bool], list[float]]) -> None:
    tied, labels, continuous = data
    positive = np.array(labels)
    if positive.sum() < 2 or (~positive).sum() < 2:
        return
    for values in (np.array(tied, dtype=np.float64), np.array(continuous)):
        expected_auc, expected_var = _naive_variance(values[positive], values[~positive])
        _, pos, neg = _runs_from_scores(torch.from_numpy(values), torch.from_numpy(positive))
        auc, variance = _auc_and_variance(pos, neg)
        assert float(auc) == pytest.approx(expected_auc, abs=1e-12)
        assert float(variance) == pytest.approx(expected_var, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(scores_and_labels)
def test_paired_covariance_equals_naive_reference(data: tuple[list[int], list[bool], list[float]]) -> None:
    tied, labels, continuous = data
    positive = np.array(labels)
    if positive.sum() < 2 or (~positive).sum() < 2:
        return
    a, b = np.array(tied, dtype=np.float64), np.array(continuous)
    comps = [_naive_components(s[positive], s[~positive]) for s in (a, b)]
    v10, v01 = np.stack([c[0] for c in comps], 1), np.stack([c[1] for c in comps], 1)
    expected = np.cov(v10, rowvar=False) / positive.sum() + np.cov(v01, rowvar=False) / (~positive).sum()
    aucs, covariance = delong_covariance(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(positive))
    np.testing.assert_allclose(covariance.numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(aucs.numpy(), v10.mean(0), rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(scores_and_labels, st.floats(0.01, 0.98), st.floats(0.001, 0.019))
def test_interval_contains_estimate_and_nests_in_level(data, level: float, step: float) -> None:
    tied, labels, _ = data
    positive = torch.tensor(labels)
    if positive.sum() < 2 or (~positive).sum() < 2:
        return
    scores = torch.tensor(tied, dtype=torch.float64) / 6
    auc, lower, upper = auroc_confidence_interval(scores, positive.long(), task="binary", level=level)
    _, wide_lower, wide_upper = auroc_confidence_interval(scores, positive.long(), task="binary", level=level + step)
    assert 0.0 <= lower <= auc <= upper <= 1.0
    assert wide_lower <= lower and upper <= wide_upper


def test_functional_auc_is_bitwise_auroc_and_multiclass_is_one_vs_rest() -> None:
    generator = torch.Generator().manual_seed(0)
    preds = torch.rand(50, 3, generator=generator).softmax(-1)
    target = torch.randint(0, 3, (50,), generator=generator)
    auc, lower, upper = auroc_confidence_interval(preds, target, task="multiclass", num_classes=3, level=0.9)
    assert torch.equal(auc, auroc(preds, target, task="multiclass", num_classes=3, average="none"))
    for c in range(3):
        expected = auroc_confidence_interval(preds[:, c], (target == c).long(), task="binary", level=0.9)
        assert torch.equal(torch.stack([auc[c], lower[c], upper[c]]), torch.stack(expected))
    labels = torch.randint(0, 2, (50, 3), generator=generator)
    auc, lower, _ = auroc_confidence_interval(preds, labels, task="multilabel", num_labels=3)
    expected = auroc_confidence_interval(preds[:, 1], labels[:, 1], task="binary")
    assert torch.equal(torch.stack([auc[1], lower[1]]), torch.stack(expected[:2]))


def test_paired_test_multiclass_is_per_class_binary() -> None:
    generator = torch.Generator().manual_seed(1)
    a, b = torch.rand(40, 3, generator=generator), torch.rand(40, 3, generator=generator)
    target = torch.randint(0, 3, (40,), generator=generator)
    z, p_value = delong_test(a, b, target, task="multiclass", num_classes=3)
    for c in range(3):
        expected = delong_test(a[:, c], b[:, c], (target == c).long())
        assert torch.equal(torch.stack([z[c], p_value[c]]), torch.stack(expected))


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_level_outside_open_unit_interval_is_rejected(level: float) -> None:
    with pytest.raises(ValueError, match="Expected `level` to be a float in \\(0, 1\\)"):
        auroc_confidence_interval(torch.tensor([0.2, 0.8]), torch.tensor([0, 1]), task="binary", level=level)


def test_level_of_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError, match="Expected `level`"):
        auroc_confidence_interval(torch.tensor([0.2, 0.8]), torch.tensor([0, 1]), task="binary", level="95%")


def test_paired_test_rejects_mismatched_sample_counts() -> None:
    with pytest.raises(ValueError, match="Expected `preds_a` and `preds_b` to have the same shape"):
        delong_test(torch.rand(5), torch.rand(6), torch.tensor([0, 1, 0, 1, 1]))


def test_one_class_present_gives_nan_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="only one class is present"):
        auc, lower, upper = auroc_confidence_interval(torch.rand(5), torch.ones(5, dtype=torch.long), task="binary")
    assert auc.isnan() and lower.isnan() and upper.isnan()
    with pytest.warns(UserWarning, match="DeLong test is undefined"):
        z, p_value = delong_test(torch.rand(5), torch.rand(5), torch.zeros(5, dtype=torch.long))
    assert z.isnan() and p_value.isnan()


def test_single_positive_gives_auc_with_nan_interval() -> None:
    auc, lower, upper = auroc_confidence_interval(torch.tensor([0.1, 0.5, 0.9]), torch.tensor([0, 0, 1]), "binary")
    assert float(auc) == 1.0 and lower.isnan() and upper.isnan()


def test_asah_through_the_public_functions_with_raw_scores(reference_dir: Path) -> None:
    columns, positive = _asah(reference_dir)
    target = positive.long()
    auc, lower, upper = auroc_confidence_interval(columns["ndka"], target, task="binary", input_format="scores")
    expected = (0.611957994579946, 0.501244999271703, 0.722670989888189)
    assert (float(auc), float(lower), float(upper)) == pytest.approx(expected, abs=1e-12)
    z, p_value = delong_test(columns["wfns"], columns["s100b"], target, input_format="scores")
    assert (float(z), float(p_value)) == pytest.approx((2.20898359144091, 0.0271757822291882), abs=1e-12)
    assert torch.equal(auc, auroc(columns["ndka"], target, task="binary", input_format="scores"))
