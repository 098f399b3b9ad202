"""NetBenefit and net_benefit against dcurves' decision curve analysis and the textbook formula."""

from __future__ import annotations

import itertools
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_evalkit import NetBenefit
from lightning_evalkit._core.report import ReportOptions
from lightning_evalkit.functional import net_benefit

dcurves = pytest.importorskip("dcurves")
pd = pytest.importorskip("pandas")

# risks on the thresholds (ties with pt), exactly 0 and 1, and anything in between
RISKS = st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 0.99, 1.0]) | st.floats(0, 1)


def _dcurves(scores: np.ndarray, labels: np.ndarray, thresholds: list[float]) -> dict[str, np.ndarray]:
    data = pd.DataFrame({"outcome": labels, "model": scores})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dcurves divides by zero in its interventions-avoided column at pt = 0
        table = dcurves.dca(data=data, outcome="outcome", modelnames=["model"], thresholds=thresholds)
    return {
        name: table[table.model == name].net_benefit.to_numpy(dtype=np.float64) for name in ("model", "all", "none")
    }


def _formula(scores: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TP/n - FP/n * pt/(1-pt), treating a risk >= pt (and > 0); and the treat-all line."""
    n, odds = len(labels), thresholds / (1 - thresholds)
    treated = (scores[None, :] >= thresholds[:, None]) & (scores[None, :] > 0)
    tp, fp = (treated & (labels == 1)).sum(1), (treated & (labels == 0)).sum(1)
    prevalence = labels.mean()
    return tp / n - fp / n * odds, prevalence - (1 - prevalence) * odds


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(RISKS, st.integers(0, 1)), min_size=2, max_size=60),
    st.none() | st.lists(st.sampled_from([0.0, 0.01, 0.1, 0.2, 0.25, 0.5, 0.75, 0.99]), min_size=1, unique=True),
)
def test_net_benefit_equals_dcurves(pairs: list[tuple[float, int]], grid: list[float] | None) -> None:
    scores = np.array([p for p, _ in pairs], dtype=np.float64)
    labels = np.array([y for _, y in pairs])
    if labels.min() == labels.max():  # dcurves divides by the count of each class
        labels[0] = 1 - labels[0]
    thresholds = sorted(grid) if grid is not None else [i / 100 for i in range(100)]
    expected = _dcurves(scores, labels, thresholds)
    curve = net_benefit(torch.from_numpy(scores), torch.from_numpy(labels), thresholds=grid and thresholds)
    assert curve.thresholds.tolist() == thresholds
    np.testing.assert_allclose(curve.net_benefit.numpy(), expected["model"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.treat_all.numpy(), expected["all"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.treat_none.numpy(), expected["none"], rtol=0, atol=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(RISKS, min_size=1, max_size=40), st.integers(0, 1), st.lists(st.integers(0, 15), max_size=4))
def test_one_class_and_any_batches_follow_the_formula(risks: list[float], label: int, sizes: list[int]) -> None:
    # dcurves cannot take one class (it divides by the other class's count); the formula can
    scores, labels = np.array(risks), np.full(len(risks), label)
    thresholds = np.array([0.0, 0.05, 0.3, 0.5, 0.9])
    model, treat_all = _formula(scores, labels, thresholds)
    metric = NetBenefit(thresholds=thresholds.tolist())
    preds, target = torch.from_numpy(scores), torch.from_numpy(labels)
    bounds = np.cumsum([0, *sizes, len(risks)]).clip(max=len(risks))
    for lo, hi in itertools.pairwise(bounds):
        metric.update(preds[lo:hi], target[lo:hi])
    curve = metric.compute()
    np.testing.assert_allclose(curve.net_benefit.numpy(), model, rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve.treat_all.numpy(), treat_all, rtol=0, atol=1e-12)
    assert float(curve.prevalence) == label
    one_batch = net_benefit(preds, target, thresholds=thresholds.tolist())
    assert all(torch.equal(a, b) for a, b in zip(curve, one_batch, strict=True))


def test_logits_are_compared_as_their_float64_sigmoid_and_ignored_targets_left_out() -> None:
    rng = np.random.default_rng(4)
    logits = torch.from_numpy(rng.normal(0, 2, 300))
    target = torch.from_numpy(rng.integers(0, 2, 300))
    target[::7] = -1
    keep = target != -1
    curve = net_benefit(logits, target, ignore_index=-1, input_format="logits")
    expected = _dcurves(torch.sigmoid(logits[keep]).numpy(), target[keep].numpy(), [i / 100 for i in range(100)])
    np.testing.assert_allclose(curve.net_benefit.numpy(), expected["model"], rtol=0, atol=1e-12)


def test_merge_state_equals_one_metric_updated_with_both() -> None:
    rng = np.random.default_rng(6)
    preds, target = torch.from_numpy(rng.random(80)), torch.from_numpy(rng.integers(0, 2, 80))
    first, second, both = NetBenefit(), NetBenefit(), NetBenefit()
    first.update(preds[:30], target[:30])
    second.update(preds[30:], target[30:])
    both.update(preds, target)
    first.merge_state(second)
    assert all(torch.equal(a, b) for a, b in zip(first.compute(), both.compute(), strict=True))


def test_without_samples_the_curve_is_nan_with_a_warning_and_nothing_is_logged_or_drawn() -> None:
    metric = NetBenefit(thresholds=[0.1, 0.2], logged_thresholds=[0.2])
    with pytest.warns(UserWarning, match=r"NetBenefit is undefined \(NaN\): no sample was seen"):
        curve = metric.compute()
    assert all(bool(field.isnan().all()) for field in curve[1:])
    entries = metric.logged_values("nb", curve, ReportOptions())
    assert [(e.name, e.undefined) for e in entries] == [("nb_at_0.2", True)]
    assert metric.plot_sources(curve, ["decision_curve"], ReportOptions()) == []


def test_logged_thresholds_are_logged_by_name() -> None:
    metric = NetBenefit(thresholds=[0.1, 0.25, 0.5], logged_thresholds=[0.5, 0.1])
    preds, target = torch.tensor([0.2, 0.6, 0.3, 0.05]), torch.tensor([1, 1, 0, 0])
    metric.update(preds, target)
    curve = metric.compute()
    entries = metric.logged_values("nb", curve, ReportOptions())
    model, _ = _formula(preds.double().numpy(), target.numpy(), np.array([0.5, 0.1]))
    assert [e.name for e in entries] == ["nb_at_0.5", "nb_at_0.1"]
    np.testing.assert_allclose([e.value for e in entries], model, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"thresholds": [0.1, 1.0]}, "Expected `thresholds` to lie in [0, 1), but got [0.1, 1.0]."),
        ({"thresholds": [0.3, 0.2]}, "Expected `thresholds` to be strictly increasing, but got [0.3, 0.2]."),
        ({"thresholds": [0.1], "logged_thresholds": [0.2]}, "Expected every entry of `logged_thresholds` to be in"),
        ({"input_format": "scores"}, "Expected `input_format` to be one of 'probs', 'logits', but got 'scores'."),
    ],
)
def test_bad_arguments_are_explained(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        NetBenefit(**kwargs)


def test_a_rejected_update_leaves_the_counts_as_they_were() -> None:
    metric = NetBenefit()
    metric.update(torch.tensor([0.2, 0.9]), torch.tensor([0, 1]))
    before = metric.compute()
    with pytest.raises(ValueError, match="to lie in"):
        metric.update(torch.tensor([0.3, 1.5]), torch.tensor([1, 1]))
    assert all(torch.equal(a, b) for a, b in zip(metric.compute(), before, strict=True))
