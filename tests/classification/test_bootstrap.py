"""BootstrapInterval: Poisson(1) weights from a counter hash, intervals within 0.015 of DeLong's and Wilson's at
n = 3000, and the same bits whatever the batches, their order, a merge or two gloo processes."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lightning_evalkit import AUROC, EvalCallback, Sensitivity
from lightning_evalkit.classification.bootstrap import BootstrapInterval
from lightning_evalkit.functional import auroc_confidence_interval, sensitivity_confidence_interval
from lightning_evalkit.statistics.bootstrap import poisson_weights, resample_rows


def _binary(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return torch.from_numpy(rng.normal(0.9 * labels, 1.0)).float(), torch.from_numpy(labels)


def test_weights_are_poisson_1_independent_across_samples_and_resamples() -> None:
    n = 400_000
    index = torch.arange(n)
    weights = np.stack([poisson_weights(11, index, b).numpy() for b in range(4)])
    frequency = np.bincount(weights[0], minlength=8)[:8] / n
    pmf = np.array([math.exp(-1) / math.factorial(k) for k in range(8)])
    assert np.all(np.abs(frequency - pmf) <= 5 * np.sqrt(pmf * (1 - pmf) / n) + 1e-6)
    limit = 5 / math.sqrt(n)
    correlations = np.corrcoef(weights)[np.triu_indices(4, 1)]
    assert np.abs(correlations).max() < limit
    assert abs(np.corrcoef(weights[0][:-1], weights[0][1:])[0, 1]) < limit  # neighbouring indices
    other_seed = poisson_weights(12, index, 0).numpy()
    assert abs(np.corrcoef(weights[0], other_seed)[0, 1]) < limit


def test_a_weight_depends_only_on_seed_index_and_resample() -> None:
    index = torch.tensor([0, 7, 2**40 + 3, 5, 123_456_789])
    order = torch.tensor([3, 0, 4, 1, 2])
    for resample in (0, 1, 999):
        together = poisson_weights(5, index, resample)
        assert torch.equal(poisson_weights(5, index[order], resample), together[order])
        assert torch.equal(torch.cat([poisson_weights(5, index[i : i + 1], resample) for i in range(5)]), together)
    many = torch.arange(1000)
    assert not torch.equal(poisson_weights(5, many, 0), poisson_weights(6, many, 0))
    assert not torch.equal(poisson_weights(5, many, 0), poisson_weights(5, many, 1))


@pytest.mark.slow
def test_binary_auroc_interval_is_within_0_015_of_delong_at_n_3000() -> None:
    preds, target = _binary(3000, seed=1)
    metric = BootstrapInterval(AUROC(task="binary", input_format="scores"), num_resamples=1000, seed=4)
    for lo in range(0, 3000, 250):
        metric.update(preds[lo : lo + 250], target[lo : lo + 250], torch.arange(lo, lo + 250))
    value, lower, upper = metric.compute()
    auc, delong_lower, delong_upper = auroc_confidence_interval(preds, target, task="binary", input_format="scores")
    assert float(value) == float(auc)
    assert abs(float(lower) - float(delong_lower)) < 0.015 and abs(float(upper) - float(delong_upper)) < 0.015
    assert float(upper) - float(lower) > 0.02  # an interval, not a point


def test_sensitivity_interval_is_within_0_015_of_wilsons_at_n_3000() -> None:
    preds, target = _binary(3000, seed=2)
    metric = BootstrapInterval(Sensitivity(task="binary", threshold=0.6), num_resamples=400, seed=0)
    probabilities = torch.sigmoid(preds)
    metric.update(probabilities, target, torch.arange(3000))
    value, lower, upper = metric.compute()
    _, wilson_lower, wilson_upper = sensitivity_confidence_interval(probabilities, target, task="binary", threshold=0.6)
    assert abs(float(lower) - float(wilson_lower)) < 0.015 and abs(float(upper) - float(wilson_upper)) < 0.015
    assert float(lower) < float(value) < float(upper)


def _bits(result: tuple[torch.Tensor, ...]) -> list[bytes]:
    return [value.numpy().tobytes() for value in result]


def test_batches_their_order_and_merged_states_give_the_same_bits() -> None:
    preds, target = _binary(300, seed=3)
    index = torch.arange(300)

    def fresh() -> BootstrapInterval:
        return BootstrapInterval(AUROC(task="binary", input_format="scores"), num_resamples=50, seed=9)

    whole = fresh()
    whole.update(preds, target, index)
    expected = _bits(whole.compute())
    shuffled = fresh()
    for rows in torch.randperm(300, generator=torch.Generator().manual_seed(0)).split(37):
        shuffled.update(preds[rows], target[rows], index[rows])
    assert _bits(shuffled.compute()) == expected
    first, second = fresh(), fresh()
    first.update(preds[150:], {"target": target[150:], "indices": index[150:]})
    second.update(preds[:150], {"target": target[:150], "indices": index[:150]})
    first.merge_state(second)
    assert _bits(first.compute()) == expected


def test_per_class_values_get_per_class_intervals() -> None:
    rng = np.random.default_rng(5)
    target = torch.from_numpy(rng.integers(0, 3, 400))
    preds = (torch.from_numpy(rng.normal(0, 1, (400, 3))) + 1.2 * torch.nn.functional.one_hot(target, 3)).softmax(1)
    metric = BootstrapInterval(AUROC(task="multiclass", num_classes=3, average="none"), num_resamples=100)
    metric.update(preds, target, torch.arange(400))
    value, lower, upper = metric.compute()
    assert value.shape == lower.shape == upper.shape == (3,)
    assert bool((lower < value).all() and (value < upper).all())


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: m.update(torch.rand(3), torch.tensor([0, 1, 1])), ValueError, "Expected `indices` (the global"),
        (lambda m: m.update(torch.rand(3), torch.tensor([0, 1, 1]), torch.tensor([0, -1, 2])), ValueError, ">= 0"),
        (lambda m: m.update(torch.rand(3), torch.tensor([0, 1, 1]), torch.arange(2)), ValueError, "shape (3,)"),
        (lambda m: m.update(torch.rand(3, 2), torch.tensor([0, 1, 1]), torch.arange(3)), ValueError, "shape (3,)"),
        (lambda m: m.update(torch.rand(3), torch.tensor([0, 1, 2]), torch.arange(3)), ValueError, "only 0 and 1"),
    ],
)
def test_bad_updates_are_explained_and_change_nothing(call: Any, error: type[Exception], message: str) -> None:
    metric = BootstrapInterval(AUROC(task="binary"), num_resamples=10)
    metric.update(torch.tensor([0.2, 0.8]), torch.tensor([0, 1]), torch.tensor([10, 11]))
    with pytest.raises(error, match=re.escape(message)):
        call(metric)
    assert metric.indices[0].tolist() == [10, 11] and len(metric.indices) == 1


def test_a_sample_index_seen_twice_and_foreign_metrics_are_refused() -> None:
    metric = BootstrapInterval(AUROC(task="binary"), num_resamples=10)
    metric.update(torch.tensor([0.2, 0.8]), torch.tensor([0, 1]), torch.tensor([4, 5]))
    metric.update(torch.tensor([0.3]), torch.tensor([1]), torch.tensor([5]))
    with pytest.raises(
        ValueError, match=re.escape("Expected every sample index once, but got index 5 more than once.")
    ):
        metric.compute()
    from torchmetrics.regression import MeanSquaredError

    from lightning_evalkit import MeanAveragePrecision

    for foreign in (MeanSquaredError(), MeanAveragePrecision()):
        with pytest.raises(TypeError, match="Expected `metric` to be a classification metric of lightning_evalkit"):
            BootstrapInterval(foreign)


def test_without_samples_it_is_nan_with_a_warning() -> None:
    metric = BootstrapInterval(AUROC(task="binary"), num_resamples=10)
    with pytest.warns(UserWarning, match=r"BootstrapInterval is undefined \(NaN\): no sample was seen"):
        assert all(bool(value.isnan()) for value in metric.compute())


# ---- two gloo processes give the one-process bits
def _ddp_rank(rank: int, world_size: int, everything_on_rank_0: bool) -> list[bytes]:
    preds, target = _binary(203, seed=6)
    rows = torch.arange(203) if everything_on_rank_0 else torch.arange(rank, 203, world_size)
    if everything_on_rank_0 and rank == 1:
        rows = rows[:0]
    metric = BootstrapInterval(AUROC(task="binary", input_format="scores"), num_resamples=40, seed=2)
    for part in rows.split(25):
        metric.update(preds[part], target[part], part)
    return _bits(metric.compute())


@pytest.mark.ddp
@pytest.mark.slow
@pytest.mark.parametrize("everything_on_rank_0", [False, True], ids=["interleaved", "rank-1-sees-nothing"])
def test_two_processes_give_the_one_process_bits(everything_on_rank_0: bool) -> None:
    from tests._ddp import run_in_processes

    single = _ddp_rank(0, 1, False)
    for rank_result in run_in_processes(_ddp_rank, 2, everything_on_rank_0):
        assert rank_result == single


# ---- through EvalCallback: the indices travel with the target
@pytest.mark.slow
def test_eval_callback_logs_the_value_and_its_bounds(tmp_path: Path) -> None:
    from tests._events import read_events, scalars
    from tests._score_models import ScoreDataset, ScoreModulePL, epoch_scores
    from tests.callback.test_callback import make_trainer

    def with_indices(outputs: Any, batch: Any) -> tuple[Any, Any]:
        return outputs["preds"], {"target": outputs["target"], "indices": batch[0]}

    metric = BootstrapInterval(AUROC(task="binary"), num_resamples=100, seed=3)
    callback = EvalCallback({"auroc": metric}, output_transform=with_indices, plots=False)
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback], max_epochs=1)
    trainer.fit(ScoreModulePL(val_size=120))
    data = ScoreDataset(120)
    expected = BootstrapInterval(AUROC(task="binary"), num_resamples=100, seed=3)
    expected.update(epoch_scores(data.scores, torch.arange(120), 0), data.labels, torch.arange(120))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value, lower, upper = expected.compute()
    events = read_events(tmp_path)
    for key, number in (("val/auroc", value), ("val/auroc_ci_lower", lower), ("val/auroc_ci_upper", upper)):
        assert scalars(events, key) == pytest.approx([float(number)], abs=1e-6), key


@pytest.mark.parametrize("kind", ["binary_f1", "multiclass_auroc", "multilabel_accuracy"])
def test_a_torchmetrics_metric_is_resampled_like_ours(kind: str) -> None:
    """BootstrapInterval(torchmetrics metric): the value and bounds are scikit-learn's on the same resamples."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from torchmetrics.classification import BinaryF1Score, MulticlassAUROC, MultilabelAccuracy

    rng = np.random.default_rng(11)
    n = 120
    if kind == "binary_f1":
        target = torch.from_numpy(rng.integers(0, 2, n))
        preds = torch.from_numpy(np.clip(0.5 * target.numpy() + rng.uniform(0, 0.6, n), 0, 1))
        metric, reference = BinaryF1Score(), lambda y, p: f1_score(y, p >= 0.5)
    elif kind == "multiclass_auroc":
        target = torch.from_numpy(rng.integers(0, 3, n))
        logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[target.numpy()]
        preds = torch.from_numpy(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
        metric = MulticlassAUROC(num_classes=3)
        reference = lambda y, p: roc_auc_score(y, p, multi_class="ovr", labels=[0, 1, 2])  # noqa: E731
    else:
        target = torch.from_numpy(rng.integers(0, 2, (n, 4)))
        preds = torch.from_numpy(np.clip(0.4 * target.numpy() + rng.uniform(0, 0.7, (n, 4)), 0, 1))
        metric = MultilabelAccuracy(num_labels=4, average="micro")
        reference = lambda y, p: accuracy_score(y.ravel(), (p >= 0.5).ravel())  # noqa: E731
    boot = BootstrapInterval(metric, num_resamples=30, seed=4)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    for rows in order.split(25):
        boot.update(preds[rows].float(), target[rows], rows)
    value, lower, upper = boot.compute()
    y, p = target.numpy(), preds.float().double().numpy()
    values = [reference(y[r], p[r]) for r in (resample_rows(4, torch.arange(n), b).numpy() for b in range(30))]
    expected_lower, expected_upper = np.percentile(values, [2.5, 97.5])
    assert float(value) == pytest.approx(reference(y, p), abs=1e-6)
    assert float(lower) == pytest.approx(expected_lower, abs=1e-6)
    assert float(upper) == pytest.approx(expected_upper, abs=1e-6)
    assert float(lower) < float(value) < float(upper)
