"""Confidence intervals and clinical metrics as classes: equal to the functional twins, and exact under DDP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lightning_evalkit as ek
from lightning_evalkit.classification.auc_intervals import delong_interval_from_counts
from lightning_evalkit.functional import (
    auroc,
    auroc_confidence_interval,
    delong_test,
    sensitivity_confidence_interval,
    specificity_confidence_interval,
)
from tests._ddp import run_in_processes


def _batches(preds: torch.Tensor, target: torch.Tensor, size: int = 17):
    for lo in range(0, len(target), size):
        yield preds[lo : lo + size], target[lo : lo + size]


def test_auroc_keeps_compute_and_adds_the_delong_interval() -> None:
    generator = torch.Generator().manual_seed(11)
    preds, target = torch.randn(120, generator=generator), torch.randint(0, 2, (120,), generator=generator)
    metric = ek.AUROC(task="binary", input_format="scores", confidence_level=0.9)
    for batch in _batches(preds, target):
        metric.update(*batch)
    expected = auroc_confidence_interval(preds, target, task="binary", level=0.9, input_format="scores")
    assert torch.equal(metric.compute(), auroc(preds, target, task="binary", input_format="scores"))
    assert torch.equal(metric.compute(), expected[0])
    assert torch.equal(torch.stack(metric.confidence_interval()), torch.stack(expected[1:]))


def test_auroc_interval_multiclass_per_class_and_micro_pooled() -> None:
    generator = torch.Generator().manual_seed(12)
    preds = torch.rand(90, 3, generator=generator).softmax(-1)
    target = torch.randint(0, 3, (90,), generator=generator)
    metric = ek.AUROC(task="multiclass", num_classes=3)
    micro = ek.AUROC(task="multiclass", num_classes=3, average="micro")
    for batch in _batches(preds, target):
        metric.update(*batch)
        micro.update(*batch)
    expected = auroc_confidence_interval(preds, target, task="multiclass", num_classes=3)
    assert torch.equal(torch.stack(metric.confidence_interval()), torch.stack(expected[1:]))
    pooled = auroc_confidence_interval(preds.reshape(-1), torch.nn.functional.one_hot(target, 3).reshape(-1), "binary")
    assert torch.equal(torch.stack(micro.confidence_interval()), torch.stack(pooled[1:]))
    assert torch.equal(micro.compute(), pooled[0])


def test_auroc_interval_rejects_partial_auc_and_bad_level() -> None:
    metric = ek.AUROC(task="binary", max_fpr=0.5)
    metric.update(torch.tensor([0.2, 0.8]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="Expected `max_fpr` to be None"):
        metric.confidence_interval()
    with pytest.raises(ValueError, match="Expected `level`"):
        ek.AUROC(task="binary", confidence_level=95)


def test_binned_auroc_interval_is_that_of_the_binned_counts() -> None:
    generator = torch.Generator().manual_seed(13)
    preds, target = torch.rand(80, generator=generator), torch.randint(0, 2, (80,), generator=generator)
    metric = ek.AUROC(task="binary", thresholds=11)
    metric.update(preds, target)
    expected = delong_interval_from_counts(metric.curve_counts()[0])
    assert torch.equal(metric.compute(), expected[0])
    assert torch.equal(torch.stack(metric.confidence_interval()), torch.stack(expected[1:]))


@pytest.mark.parametrize("interval", ["wilson", "clopper_pearson"])
def test_sensitivity_and_specificity_intervals_equal_functional(interval: str) -> None:
    generator = torch.Generator().manual_seed(14)
    preds = torch.rand(70, 4, generator=generator)
    target = torch.randint(0, 4, (70,), generator=generator)
    for cls, function in (
        (ek.Sensitivity, sensitivity_confidence_interval),
        (ek.Specificity, specificity_confidence_interval),
    ):
        for average in ("none", "macro", "micro"):
            kwargs = {"task": "multiclass", "num_classes": 4, "average": average}
            metric = cls(confidence_level=0.8, interval=interval, **kwargs)
            for batch in _batches(preds, target):
                metric.update(*batch)
            _, lower, upper = function(preds, target, level=0.8, interval=interval, **kwargs)
            assert torch.equal(torch.stack(metric.confidence_interval()), torch.stack([lower, upper]))


def test_bad_interval_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="Expected `interval` to be one of"):
        ek.Sensitivity(task="binary", interval="exact")


def test_delong_test_metric_equals_functional_multilabel() -> None:
    generator = torch.Generator().manual_seed(15)
    a, b = torch.rand(60, 3, generator=generator), torch.rand(60, 3, generator=generator)
    target = torch.randint(0, 2, (60, 3), generator=generator)
    metric = ek.DeLongTest(task="multilabel", num_labels=3)
    for lo in range(0, 60, 25):
        metric.update(a[lo : lo + 25], b[lo : lo + 25], target[lo : lo + 25])
    expected = delong_test(a, b, target, task="multilabel", num_labels=3)
    assert torch.equal(torch.stack(metric.compute()), torch.stack(expected))
    with pytest.raises(ValueError, match="Expected `preds` and `baseline_preds` to have the same shape"):
        metric.update(a[:3], b[:4], target[:3])
    assert torch.equal(torch.stack(metric.compute()), torch.stack(expected))  # the rejected update changed nothing


def _data(n: int = 63) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(8)
    return {
        "scores": torch.from_numpy(rng.normal(size=n)),
        "baseline": torch.from_numpy(rng.choice([-1.0, 0.0, 0.5, 2.0], n)),  # ties
        "target": torch.from_numpy(rng.integers(0, 2, n)),
        "multi_p": torch.from_numpy(rng.dirichlet(np.ones(3), n)),
        "multi_y": torch.from_numpy(rng.integers(0, 3, n)),
    }


def _evaluate(rows: slice) -> dict[str, object]:
    data = {k: v[rows] for k, v in _data().items()}
    binary = {"task": "binary", "input_format": "scores"}
    multi = {"task": "multiclass", "num_classes": 3}
    metrics = {
        "auroc": (ek.AUROC(**binary, confidence_level=0.9), "scores", "target"),
        "auroc_multi": (ek.AUROC(**multi, average="none"), "multi_p", "multi_y"),
        "sens_wilson": (ek.Sensitivity(**binary, threshold=0.0), "scores", "target"),
        "spec_cp": (ek.Specificity(**multi, average="none", interval="clopper_pearson"), "multi_p", "multi_y"),
        "sens_at_spec": (ek.SensitivityAtSpecificity(**binary, min_specificity=0.7), "scores", "target"),
        "spec_at_sens_binned": (
            ek.SpecificityAtSensitivity(**multi, min_sensitivity=0.6, thresholds=9),
            "multi_p",
            "multi_y",
        ),
    }
    results: dict[str, object] = {}
    for name, (metric, preds_key, target_key) in metrics.items():
        for lo in range(0, len(data[target_key]), 10):
            metric.update(data[preds_key][lo : lo + 10], data[target_key][lo : lo + 10])
        results[name] = metric.compute()
        if hasattr(metric, "confidence_interval"):
            results[f"{name}/ci"] = metric.confidence_interval()
    test = ek.DeLongTest(input_format="scores")
    for lo in range(0, len(data["target"]), 10):
        test.update(data["scores"][lo : lo + 10], data["baseline"][lo : lo + 10], data["target"][lo : lo + 10])
    results["delong_test"] = test.compute()
    return results


def _rank_main(rank: int, world_size: int, splits: tuple[int, ...]) -> list[dict[str, object]]:
    # one spawn checks every split: uneven shares, and rank 0 empty
    return [_evaluate(slice(0, split) if rank == 0 else slice(split, None)) for split in splits]


def _assert_equal(a: object, b: object) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_equal(x, y)
    else:
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


@pytest.mark.ddp
def test_two_gloo_ranks_give_exactly_the_single_process_intervals() -> None:
    single = _evaluate(slice(None))
    for rank_results in run_in_processes(_rank_main, 2, (37, 0)):
        for result in rank_results:
            _assert_equal(result, single)
