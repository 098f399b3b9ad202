"""Every classification metric class gives what its functional twin gives on the concatenated data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import lightning_evalkit as ek
from lightning_evalkit import functional as F

PAIRS = [
    (ek.Sensitivity, F.sensitivity, {"average": "none"}),
    (ek.Specificity, F.specificity, {"average": "weighted"}),
    (ek.ConfusionMatrix, F.confusion_matrix, {"normalize": "true"}),
    (ek.ROC, F.roc, {}),
    (ek.AUROC, F.auroc, {"average": "micro"}),
    (ek.AUROC, F.auroc, {"thresholds": 17, "average": "none"}),
]
TASKS = {
    "binary": ({}, lambda rng, n: (rng.random(n), rng.integers(0, 2, n))),
    "multiclass": ({"num_classes": 3}, lambda rng, n: (rng.dirichlet(np.ones(3), n), rng.integers(0, 3, n))),
    "multilabel": ({"num_labels": 3}, lambda rng, n: (rng.random((n, 3)), rng.integers(0, 2, (n, 3)))),
}


def _flatten(value):
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flatten(item)]
    return [value]


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize(("metric_type", "function", "kwargs"), PAIRS)
def test_class_over_batches_equals_functional_on_all_data(task, metric_type, function, kwargs):
    task_kwargs, make = TASKS[task]
    preds, target = (torch.from_numpy(a) for a in make(np.random.default_rng(11), 50))
    metric = metric_type(task=task, **task_kwargs, **kwargs)
    for lo in range(0, 50, 12):
        metric.update(preds[lo : lo + 12], target[lo : lo + 12])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_class = metric.compute()
        from_function = function(preds, target, task=task, **task_kwargs, **kwargs)
    for ours, theirs in zip(_flatten(from_class), _flatten(from_function), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0, equal_nan=True)
    if hasattr(metric, "curve_counts"):
        thresholds = kwargs.get("thresholds")
        counts = F.curve_counts(preds, target, task=task, thresholds=thresholds, **task_kwargs)
        for ours, theirs in zip(metric.curve_counts(), counts, strict=True):
            for a, b in zip(ours, theirs, strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
    else:
        expected = F.confusion_matrix(preds, target, task=task, **task_kwargs)
        torch.testing.assert_close(metric.confusion_counts(), expected, rtol=0, atol=0)
