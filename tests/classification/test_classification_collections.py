"""MetricCollection compute groups, and argument errors (task, ignore_index) of the classification metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from torchmetrics import MetricCollection

import lightning_evalkit as ek
from lightning_evalkit import functional as F

BATCHES = [
    (torch.tensor([0.1, 0.9, 0.2, 0.8]), torch.tensor([0, 1, 1, 0])),
    (torch.tensor([0.4, 0.4, 0.45]), torch.tensor([1, 1, 1])),
]


def _all(batches):
    return torch.cat([p for p, _ in batches]), torch.cat([t for _, t in batches])


@pytest.mark.parametrize("compute_groups", [True, False])
def test_thresholds_never_share_a_compute_group(compute_groups):
    """The issue's case: s05 reported 0.8 where the true value is 0.2 once grouped with s03."""
    collection = MetricCollection(
        {
            "s03": ek.Sensitivity(task="binary", threshold=0.3),
            "s05": ek.Sensitivity(task="binary", threshold=0.5),
            "spec05": ek.Specificity(task="binary", threshold=0.5),
            "auroc": ek.AUROC(task="binary"),
            "roc": ek.ROC(task="binary"),
            "auroc_logits": ek.AUROC(task="binary", input_format="logits"),
            "binned5": ek.AUROC(task="binary", thresholds=5),
            "binned9": ek.AUROC(task="binary", thresholds=9),
        },
        compute_groups=compute_groups,
    )
    for preds, target in BATCHES:
        collection.update(preds, target)
    got = collection.compute()
    preds, target = _all(BATCHES)
    for name, cut in (("s03", 0.3), ("s05", 0.5)):
        assert float(got[name]) == skm.recall_score(target.numpy(), (preds >= cut).numpy())
    tn, fp = skm.confusion_matrix(target.numpy(), (preds >= 0.5).numpy()).ravel()[:2]
    assert float(got["spec05"]) == tn / (tn + fp)
    assert float(got["auroc"]) == pytest.approx(skm.roc_auc_score(target.numpy(), preds.numpy()), abs=1e-12)
    for name, grid in (("binned5", 5), ("binned9", 9)):
        assert float(got[name]) == float(F.auroc(preds, target, task="binary", thresholds=grid))
    if compute_groups:
        groups = [sorted(members) for members in collection.compute_groups.values()]
        assert ["s03"] in groups and ["binned5"] in groups and ["binned9"] in groups
        assert ["s05", "spec05"] in groups  # same task, threshold and format: truly one state
        assert ["auroc", "roc"] in groups  # exact curves of one task and format share their stored values
        assert ["auroc_logits"] in groups


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: ek.Sensitivity(**kw),
        lambda **kw: ek.Specificity(**kw),
        lambda **kw: ek.ConfusionMatrix(**kw),
        lambda **kw: ek.ROC(**kw),
        lambda **kw: ek.AUROC(**kw),
    ],
)
def test_missing_task_gets_our_message(make):
    with pytest.raises(ValueError, match="Expected `task` to be one of 'binary', 'multiclass', 'multilabel', but got"):
        make()
    with pytest.raises(ValueError, match="Expected `task` to be one of"):
        make(num_classes=3)


@pytest.mark.parametrize("fn", [F.sensitivity, F.specificity, F.confusion_matrix, F.roc, F.auroc, F.curve_counts])
def test_functional_missing_task_gets_our_message(fn):
    with pytest.raises(
        ValueError, match="Expected `task` to be one of 'binary', 'multiclass', 'multilabel', but got None"
    ):
        fn(torch.tensor([0.2, 0.8]), torch.tensor([0, 1]))


@pytest.mark.parametrize("task", ["binary", "multilabel"])
@pytest.mark.parametrize("ignore_index", [0, 1])
def test_binary_and_multilabel_reject_a_real_label_as_ignore_index(task, ignore_index):
    kwargs = {"num_labels": 2} if task == "multilabel" else {}
    for metric_type in (ek.Sensitivity, ek.Specificity, ek.ConfusionMatrix, ek.ROC, ek.AUROC):
        with pytest.raises(ValueError, match=f"Expected `ignore_index` to be neither 0 nor 1 with task='{task}'"):
            metric_type(task=task, ignore_index=ignore_index, **kwargs)
    with pytest.raises(ValueError, match="Expected `ignore_index` to be neither 0 nor 1"):
        F.auroc(torch.rand(4, 2), torch.randint(0, 2, (4, 2)), task=task, ignore_index=ignore_index, **kwargs)


def test_multiclass_ignore_index_may_be_a_class():
    """A class index as ignore_index leaves that class's samples out, as filtering them first does."""
    rng = np.random.default_rng(0)
    probs = torch.from_numpy(rng.dirichlet(np.ones(3), 60))
    target = torch.from_numpy(rng.integers(0, 3, 60))
    keep = target != 2
    got = F.sensitivity(probs, target, task="multiclass", num_classes=3, ignore_index=2, average="none")
    expected = F.sensitivity(probs[keep], target[keep], task="multiclass", num_classes=3, average="none")
    torch.testing.assert_close(got, expected)
    got_auc = F.auroc(probs, target, task="multiclass", num_classes=3, ignore_index=2, average="none")
    ref = [skm.roc_auc_score(target[keep].numpy() == c, probs[keep, c].numpy()) for c in range(2)]
    np.testing.assert_allclose(got_auc[:2].numpy(), ref, rtol=0, atol=1e-12)
