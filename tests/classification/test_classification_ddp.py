"""Two real gloo processes give exactly the single-process results, also when one rank saw nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lightning_evalkit as ek

pytestmark = pytest.mark.ddp


def _data(n: int = 63) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(7)
    levels = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    return {
        "binary_p": torch.from_numpy(rng.choice(levels, n)),
        "binary_y": torch.from_numpy(rng.integers(0, 2, n)),
        "multi_p": torch.from_numpy(rng.dirichlet(np.ones(4), n)).float(),
        "multi_y": torch.from_numpy(rng.integers(0, 4, n)),
        "label_p": torch.from_numpy(rng.random((n, 3))),
        "label_y": torch.from_numpy(rng.integers(0, 2, (n, 3))),
    }


def _metrics() -> dict[str, tuple[object, str]]:
    return {
        "auroc_exact": (ek.AUROC(task="binary"), "binary"),
        "auroc_binned": (ek.AUROC(task="binary", thresholds=20), "binary"),
        "roc_exact": (ek.ROC(task="binary"), "binary"),
        "sensitivity": (ek.Sensitivity(task="binary"), "binary"),
        "auroc_multiclass": (ek.AUROC(task="multiclass", num_classes=4, average="none"), "multi"),
        "auroc_multiclass_micro": (ek.AUROC(task="multiclass", num_classes=4, average="micro"), "multi"),
        "specificity_multiclass": (ek.Specificity(task="multiclass", num_classes=4, average="none"), "multi"),
        "confmat_multiclass": (ek.ConfusionMatrix(task="multiclass", num_classes=4), "multi"),
        "auroc_multilabel": (ek.AUROC(task="multilabel", num_labels=3, average="none"), "label"),
    }


def _evaluate(rows: slice) -> dict[str, object]:
    data, results = _data(), {}
    for name, (metric, kind) in _metrics().items():
        preds, target = data[f"{kind}_p"][rows], data[f"{kind}_y"][rows]
        for lo in range(0, len(target), 10):  # several batches per rank
            metric.update(preds[lo : lo + 10], target[lo : lo + 10])
        results[name] = metric.compute()
        if hasattr(metric, "curve_counts"):
            results[f"{name}/counts"] = [c._asdict() for c in metric.curve_counts()]
        else:
            results[f"{name}/counts"] = metric.confusion_counts()
    return results


def _rank_main(rank: int, world_size: int, split: int) -> dict[str, object]:
    rows = slice(0, split) if rank == 0 else slice(split, None)
    return _evaluate(rows)


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


@pytest.mark.parametrize("split", [37, 63, 0], ids=["uneven", "rank1-empty", "rank0-empty"])
def test_two_gloo_ranks_equal_single_process(split):
    from tests._ddp import run_in_processes

    single = _evaluate(slice(None))
    per_rank = run_in_processes(_rank_main, 2, split)
    for rank_result in per_rank:
        _assert_equal(rank_result, single)
