"""CalibrationError, calibration_curve and BrierScore against torchmetrics, scikit-learn and direct formulas;
batches, merged states and two gloo processes give the one-batch bits."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import brier_score_loss
from torchmetrics.classification import BinaryCalibrationError, MulticlassCalibrationError

from lightning_evalkit import BrierScore, CalibrationError
from lightning_evalkit.functional import brier_score, calibration_curve, calibration_error
from lightning_evalkit.statistics.calibration import fixed_point, fixed_point_total, quantile_edges, uniform_edges

NORMS = ("l1", "l2", "max")


def _sklearn_bins(scores: np.ndarray, n_bins: int, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """The edges and bin of every score exactly as scikit-learn's calibration_curve finds them."""
    levels = np.linspace(0, 1, n_bins + 1)
    edges = np.percentile(scores, levels * 100) if strategy == "quantile" else levels
    return edges, np.searchsorted(edges[1:-1], scores)


def _reference_error(scores: np.ndarray, labels: np.ndarray, n_bins: int, strategy: str, norm: str) -> float:
    """ECE / RMS / MCE over scikit-learn's bins, with its per-bin means checked against calibration_curve."""
    _, bins = _sklearn_bins(scores, n_bins, strategy)
    count = np.bincount(bins, minlength=n_bins)
    filled = count > 0
    mean_score = np.bincount(bins, weights=scores, minlength=n_bins)[filled] / count[filled]
    observed = np.bincount(bins, weights=labels, minlength=n_bins)[filled] / count[filled]
    prob_true, prob_pred = sk_calibration_curve(labels, scores, n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose(prob_true, observed, rtol=0, atol=1e-12)
    np.testing.assert_allclose(prob_pred, mean_score, rtol=0, atol=1e-12)
    gap, weight = np.abs(observed - mean_score), count[filled] / count.sum()
    if norm == "l1":
        return float((weight * gap).sum())
    return float(np.sqrt((weight * gap**2).sum())) if norm == "l2" else float(gap.max())


def _off_edges(scores: np.ndarray, n_bins: int) -> bool:
    """No score within 1e-6 of a uniform edge (where torchmetrics' and our edge conventions differ)."""
    grid = np.arange(n_bins + 1) / n_bins
    return bool(np.abs(scores[:, None] - grid[None, :]).min() > 1e-6)


def test_uniform_edges_are_numpys_linspace_bit_for_bit() -> None:
    for n_bins in range(1, 400):
        assert np.array_equal(uniform_edges(n_bins).numpy(), np.linspace(0, 1, n_bins + 1))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 1.0]) | st.floats(0, 1), min_size=1, max_size=60),
    st.integers(1, 25),
)
def test_quantile_edges_are_numpys_percentile_bit_for_bit(values: list[float], n_bins: int) -> None:
    scores = np.array(values)
    expected = np.percentile(scores, np.linspace(0, 1, n_bins + 1) * 100)
    got = quantile_edges(torch.from_numpy(np.sort(scores)), n_bins).numpy()
    assert np.array_equal(got, expected)


def test_fixed_point_sums_do_not_depend_on_order_and_lose_under_2_to_the_minus_64_per_term() -> None:
    values = torch.from_numpy(np.random.default_rng(3).random(10_000) * 2)
    totals = {float(fixed_point_total(fixed_point(values[torch.randperm(10_000)]).sum(0))) for _ in range(5)}
    assert len(totals) == 1
    exact = math.fsum(values.tolist())
    assert abs(totals.pop() - exact) <= 10_000 * 2.0**-64 + math.ulp(exact)


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 200), st.integers(1, 20), st.sampled_from(NORMS))
def test_binary_uniform_equals_torchmetrics_off_the_edges(seed: int, n: int, n_bins: int, norm: str) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.random(n).astype(np.float32)
    labels = rng.integers(0, 2, n)
    assume(_off_edges(scores.astype(np.float64), n_bins))
    preds, target = torch.from_numpy(scores), torch.from_numpy(labels)
    expected = BinaryCalibrationError(n_bins=n_bins, norm=norm)(preds, target)
    got = calibration_error(preds, target, task="binary", n_bins=n_bins, norm=norm)
    assert float(got) == pytest.approx(float(expected), abs=1e-6)
    reference = _reference_error(scores.astype(np.float64), labels, n_bins, "uniform", norm)
    assert float(got) == pytest.approx(reference, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 150), st.integers(2, 6), st.integers(1, 20), st.sampled_from(NORMS))
def test_multiclass_uniform_equals_torchmetrics_off_the_edges(
    seed: int, n: int, classes: int, n_bins: int, norm: str
) -> None:
    rng = np.random.default_rng(seed)
    probs = torch.from_numpy(rng.dirichlet(np.full(classes, 0.7), n)).float()
    target = torch.from_numpy(rng.integers(0, classes, n))
    assume(_off_edges(probs.max(1).values.double().numpy(), n_bins))
    expected = MulticlassCalibrationError(num_classes=classes, n_bins=n_bins, norm=norm)(probs, target)
    metric = CalibrationError(task="multiclass", num_classes=classes, n_bins=n_bins, norm=norm)
    metric.update(probs, target)
    assert float(metric.compute()) == pytest.approx(float(expected), abs=1e-6)


def test_a_forecast_on_an_edge_is_binned_as_scikit_learn_and_unlike_torchmetrics() -> None:
    # 0.5 lies on the inner edge of 2 bins, 1.0 on the last edge: ours (lo, hi] puts 0.5 with 0.2 and 1.0 with 0.9
    scores = np.array([0.2, 0.5, 0.9, 1.0])
    labels = np.array([0, 1, 1, 0])
    preds, target = torch.from_numpy(scores), torch.from_numpy(labels)
    for norm in NORMS:
        got = float(calibration_error(preds, target, task="binary", n_bins=2, norm=norm))
        assert got == pytest.approx(_reference_error(scores, labels, 2, "uniform", norm), abs=1e-12)
    ours = float(calibration_error(preds, target, task="binary", n_bins=2))
    theirs = float(BinaryCalibrationError(n_bins=2)(preds, target))
    # torchmetrics bins [lo, hi) and counts 1.0 in a bin of its own: {0.2}, {0.5, 0.9}, {1.0}
    expected_theirs = (abs(0 - 0.2) + 2 * abs(1 - 0.7) + abs(0 - 1.0)) / 4
    assert theirs == pytest.approx(expected_theirs, abs=1e-6) and ours != pytest.approx(theirs, abs=1e-3)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.05, 0.2, 0.25, 0.5, 0.6, 0.75, 1.0]) | st.floats(0, 1), st.integers(0, 1)),
        min_size=1,
        max_size=80,
    ),
    st.integers(1, 12),
    st.sampled_from(["uniform", "quantile"]),
)
def test_calibration_curve_equals_scikit_learn(pairs: list[tuple[float, int]], n_bins: int, strategy: str) -> None:
    scores = np.array([p for p, _ in pairs], dtype=np.float64)
    labels = np.array([y for _, y in pairs])
    expected_true, expected_pred = sk_calibration_curve(labels, scores, n_bins=n_bins, strategy=strategy)
    got_true, got_pred = calibration_curve(
        torch.from_numpy(scores), torch.from_numpy(labels), n_bins=n_bins, strategy=strategy
    )
    np.testing.assert_allclose(got_true.numpy(), expected_true, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_pred.numpy(), expected_pred, rtol=0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120), st.integers(1, 15), st.sampled_from(NORMS))
def test_quantile_error_equals_the_error_over_scikit_learns_quantile_bins(
    seed: int, n: int, n_bins: int, norm: str
) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.choice(np.linspace(0, 1, 21), n) if seed % 2 else rng.random(n)  # ties and edges, or none
    labels = rng.integers(0, 2, n)
    got = calibration_error(
        torch.from_numpy(scores), torch.from_numpy(labels), task="binary", n_bins=n_bins, norm=norm, binning="quantile"
    )
    assert float(got) == pytest.approx(_reference_error(scores, labels, n_bins, "quantile", norm), abs=1e-12)


def test_multilabel_is_each_labels_binary_error_and_their_macro_mean() -> None:
    rng = np.random.default_rng(5)
    preds = torch.from_numpy(rng.random((90, 3)))
    target = torch.from_numpy(rng.integers(0, 2, (90, 3)))
    target[::4, 1] = -1  # ignored entries of one label
    for binning in ("uniform", "quantile"):
        per_label = calibration_error(
            preds, target, task="multilabel", num_labels=3, n_bins=6, binning=binning, ignore_index=-1, average="none"
        )
        for label in range(3):
            keep = target[:, label] != -1
            one = calibration_error(preds[keep, label], target[keep, label], task="binary", n_bins=6, binning=binning)
            assert float(per_label[label]) == float(one)
        macro = calibration_error(
            preds, target, task="multilabel", num_labels=3, n_bins=6, binning=binning, ignore_index=-1
        )
        assert float(macro) == pytest.approx(float(per_label.mean()), abs=1e-15)


def test_logits_are_binned_as_their_float64_sigmoid_and_softmax() -> None:
    rng = np.random.default_rng(11)
    logits = torch.from_numpy(rng.normal(0, 2, 200))
    target = torch.from_numpy(rng.integers(0, 2, 200))
    from_logits = calibration_error(logits, target, task="binary", input_format="logits")
    assert float(from_logits) == float(calibration_error(torch.sigmoid(logits), target, task="binary"))
    multi = torch.from_numpy(rng.normal(0, 2, (200, 4)))
    labels = torch.from_numpy(rng.integers(0, 4, 200))
    from_logits = calibration_error(multi, labels, task="multiclass", num_classes=4, input_format="logits")
    expected = calibration_error(multi.softmax(-1), labels, task="multiclass", num_classes=4)
    assert float(from_logits) == pytest.approx(float(expected), abs=1e-14)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 40), min_size=1, max_size=6))
def test_the_class_over_any_batches_gives_the_functional_bits(seed: int, sizes: list[int]) -> None:
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    preds = torch.from_numpy(rng.random(n))
    target = torch.from_numpy(rng.integers(0, 2, n))
    for binning in ("uniform", "quantile"):
        metric = CalibrationError(task="binary", n_bins=7, binning=binning)
        brier = BrierScore(task="binary", decomposition=True, n_bins=7)
        for part_p, part_t in zip(preds.split(sizes), target.split(sizes), strict=True):
            metric.update(part_p, part_t)
            brier.update(part_p, part_t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n == 0: NaN with a warning, compared below like any value
            expected = calibration_error(preds, target, task="binary", n_bins=7, binning=binning)
            assert torch.equal(metric.compute(), expected) or (n == 0 and bool(metric.compute().isnan()))
            one_batch = brier_score(preds, target, task="binary", decomposition=True, n_bins=7)
            for key, value in brier.compute().items():
                assert torch.equal(value, one_batch[key]) or (n == 0 and bool(value.isnan()))


def _merge_case(metric_factory, preds, target):  # type: ignore[no-untyped-def]
    first, second, both = metric_factory(), metric_factory(), metric_factory()
    first.update(preds[:50], target[:50])
    second.update(preds[50:], target[50:])
    both.update(preds[50:], target[50:])
    both.update(preds[:50], target[:50])
    first.merge_state(second)
    return first.compute(), both.compute()


def test_merge_state_equals_one_metric_updated_with_both() -> None:
    rng = np.random.default_rng(2)
    preds, target = torch.from_numpy(rng.random(120)), torch.from_numpy(rng.integers(0, 2, 120))
    for factory in (
        lambda: CalibrationError(task="binary", n_bins=9),
        lambda: CalibrationError(task="binary", n_bins=9, binning="quantile", norm="max"),
        lambda: BrierScore(task="binary", decomposition=True),
    ):
        merged, both = _merge_case(factory, preds, target)
        if isinstance(merged, dict):
            assert all(torch.equal(merged[key], both[key]) for key in both)
        else:
            assert torch.equal(merged, both)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 150), st.integers(2, 5))
def test_brier_score_equals_scikit_learn(seed: int, n: int, classes: int) -> None:
    rng = np.random.default_rng(seed)
    scores, labels = rng.random(n), rng.integers(0, 2, n)
    got = brier_score(torch.from_numpy(scores), torch.from_numpy(labels), task="binary")
    assert float(got) == pytest.approx(brier_score_loss(labels, scores), abs=1e-12)
    probs = rng.dirichlet(np.ones(classes), n)
    target = rng.integers(0, classes, n)
    metric = BrierScore(task="multiclass", num_classes=classes)
    metric.update(torch.from_numpy(probs), torch.from_numpy(target))
    # the [0, 2] range at any number of classes (scikit-learn's default "auto" halves it for 2 columns only)
    expected = brier_score_loss(target, probs, labels=list(range(classes)), scale_by_half=False)
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-12)
    multilabel, targets = rng.random((n, 3)), rng.integers(0, 2, (n, 3))
    per_label = brier_score(
        torch.from_numpy(multilabel), torch.from_numpy(targets), task="multilabel", num_labels=3, average="none"
    )
    expected_labels = [brier_score_loss(targets[:, k], multilabel[:, k]) for k in range(3)]
    np.testing.assert_allclose(per_label.numpy(), expected_labels, rtol=0, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 200), st.integers(1, 12))
def test_murphy_decomposition_matches_its_definition_and_adds_up_to_the_brier_score(
    seed: int, n: int, n_bins: int
) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.choice(np.linspace(0, 1, 11), n) if seed % 2 else rng.random(n)
    labels = rng.integers(0, 2, n)
    got = brier_score(
        torch.from_numpy(scores), torch.from_numpy(labels), task="binary", decomposition=True, n_bins=n_bins
    )
    _, bins = _sklearn_bins(scores, n_bins, "uniform")
    terms = {"reliability": 0.0, "resolution": 0.0, "within_bin_variance": 0.0, "within_bin_covariance": 0.0}
    base = labels.mean()
    for k in np.unique(bins):
        f, o = scores[bins == k], labels[bins == k]
        terms["reliability"] += len(f) * (f.mean() - o.mean()) ** 2 / n
        terms["resolution"] += len(f) * (o.mean() - base) ** 2 / n
        terms["within_bin_variance"] += ((f - f.mean()) ** 2).sum() / n
        terms["within_bin_covariance"] += ((o - o.mean()) * (f - f.mean())).sum() / n
    terms["uncertainty"] = base * (1 - base)
    for key, value in terms.items():
        assert float(got[key]) == pytest.approx(value, abs=1e-12), key
    brier = brier_score_loss(labels, scores)
    assert float(got["brier"]) == pytest.approx(brier, abs=1e-12)
    total = got["reliability"] - got["resolution"] + got["uncertainty"]
    total = total + got["within_bin_variance"] - 2 * got["within_bin_covariance"]
    assert float(total) == pytest.approx(brier, abs=1e-12)


def test_without_samples_every_value_is_nan_with_a_warning() -> None:
    for metric in (
        CalibrationError(task="binary"),
        CalibrationError(task="binary", binning="quantile"),
        BrierScore(task="binary"),
    ):
        with pytest.warns(UserWarning, match=r"undefined \(NaN\).*no sample was seen"):
            assert bool(metric.compute().isnan())
    metric = CalibrationError(task="multilabel", num_labels=2, ignore_index=-1, average="none")
    metric.update(torch.tensor([[0.2, 0.7]]), torch.tensor([[1, -1]]))
    with pytest.warns(UserWarning, match=r"for labels \[1\]"):
        value = metric.compute()
    assert float(value[0]) == pytest.approx(0.8) and bool(value[1].isnan())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"task": "binary", "input_format": "scores"}, ValueError, "Expected `input_format` to be one of 'probs', "),
        ({"task": "binary", "n_bins": 0}, ValueError, "Expected `n_bins` to be an int >= 1, but got 0."),
        ({"task": "binary", "norm": "l3"}, ValueError, "Expected `norm` to be one of 'l1', 'l2', 'max'"),
        ({"task": "binary", "binning": "equal"}, ValueError, "Expected `binning` to be one of 'uniform', 'quantile'"),
        ({"task": "multiclass"}, ValueError, "Expected `num_classes` (an int >= 2) with task='multiclass'"),
    ],
)
def test_bad_arguments_are_explained(kwargs: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=__import__("re").escape(message)):
        CalibrationError(**kwargs)


def test_decomposition_of_a_multiclass_brier_score_is_refused() -> None:
    with pytest.raises(ValueError, match=r"`decomposition=True` only with task='binary'"):
        BrierScore(task="multiclass", num_classes=3, decomposition=True)


def test_a_rejected_update_leaves_the_state_as_it_was() -> None:
    for metric in (
        CalibrationError(task="binary"),
        CalibrationError(task="binary", binning="quantile"),
        BrierScore(task="binary"),
    ):
        metric.update(torch.tensor([0.2, 0.9]), torch.tensor([0, 1]))
        before = metric.compute()
        with pytest.raises(ValueError, match="to lie in"):
            metric.update(torch.tensor([0.3, 1.5]), torch.tensor([1, 1]))
        assert torch.equal(metric.compute(), before)


# ---- two gloo processes give the one-process bits
def _ddp_data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(8)
    scores = np.where(rng.random(97) < 0.3, rng.choice(np.linspace(0, 1, 11), 97), rng.random(97))
    return torch.from_numpy(scores).float(), torch.from_numpy(rng.integers(0, 2, 97))


def _ddp_metrics() -> dict[str, object]:
    from lightning_evalkit import NetBenefit

    return {
        "uniform": CalibrationError(task="binary", n_bins=10),
        "quantile": CalibrationError(task="binary", n_bins=10, binning="quantile"),
        "quantile_rms": CalibrationError(task="binary", n_bins=4, binning="quantile", norm="l2"),
        "brier": BrierScore(task="binary", decomposition=True, n_bins=10),
        "net_benefit": NetBenefit(),
    }


def _ddp_results(rows: slice) -> dict[str, object]:
    preds, target = _ddp_data()
    preds, target = preds[rows], target[rows]
    results: dict[str, object] = {}
    for name, metric in _ddp_metrics().items():
        for lo in range(0, len(target), 13):
            metric.update(preds[lo : lo + 13], target[lo : lo + 13])  # type: ignore[attr-defined]
        value = metric.compute()  # type: ignore[attr-defined]
        results[name] = value._asdict() if hasattr(value, "_asdict") else value
        if hasattr(metric, "bin_statistics"):
            results[f"{name}/bins"] = metric.bin_statistics()[0]._asdict()
    return results


def _ddp_rank(rank: int, world_size: int, split: int) -> dict[str, object]:
    return _ddp_results(slice(0, split) if rank == 0 else slice(split, None))


def _bits(value: object) -> object:
    if isinstance(value, dict):
        return {key: _bits(item) for key, item in value.items()}
    return value.numpy().tobytes()  # type: ignore[attr-defined]


@pytest.mark.ddp
@pytest.mark.slow
@pytest.mark.parametrize("split", [40, 97], ids=["both-ranks-see-data", "rank-1-sees-nothing"])
def test_two_processes_give_the_one_process_bits(split: int) -> None:
    from tests._ddp import run_in_processes

    single = _bits(_ddp_results(slice(None)))
    for rank_result in run_in_processes(_ddp_rank, 2, split):
        assert _bits(rank_result) == single


def test_in_a_metric_collection_each_metric_gives_its_own_value() -> None:
    from torchmetrics import MetricCollection

    rng = np.random.default_rng(9)
    preds, target = torch.from_numpy(rng.random(200)), torch.from_numpy(rng.integers(0, 2, 200))
    makers = {
        "ece": lambda: CalibrationError(task="binary", n_bins=10),
        "mce": lambda: CalibrationError(task="binary", n_bins=10, norm="max"),
        "ece5": lambda: CalibrationError(task="binary", n_bins=5),
        "ece_quantile": lambda: CalibrationError(task="binary", n_bins=10, binning="quantile"),
        "brier": lambda: BrierScore(task="binary", decomposition=True, n_bins=10),
    }
    collection = MetricCollection({name: make() for name, make in makers.items()})
    for lo in range(0, 200, 50):
        collection.update(preds[lo : lo + 50], target[lo : lo + 50])
    results = collection.compute()
    for name, make in makers.items():
        alone = make()
        alone.update(preds, target)
        expected = alone.compute()
        # a dict result is flattened into its keys (torchmetrics' MetricCollection adds no prefix)
        got = {key: results[key] for key in expected} if isinstance(expected, dict) else results[name]
        assert _bits(got) == _bits(expected), name
    groups = sorted(sorted(group) for group in collection.compute_groups.values())
    assert ["ece", "mce"] in groups and ["ece5"] in groups  # one state only where it means the same
