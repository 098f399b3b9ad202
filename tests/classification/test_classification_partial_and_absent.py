"""Partial AUC (``max_fpr``) and classes absent from a multiclass batch, against scikit-learn and torchmetrics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from torchmetrics.classification import BinaryAUROC, MulticlassRecall, MulticlassSpecificity

import lightning_evalkit as ek
from lightning_evalkit import functional as F

SETTINGS = settings(max_examples=30, deadline=None)
FPRS = st.sampled_from([0.05, 0.1, 0.25, 0.3, 0.5, 0.77, 1.0])


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(2, 80), FPRS, st.sampled_from(["probs", "logits", "scores"]))
def test_partial_auc_exact_equals_sklearn(seed, n, max_fpr, fmt):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    raw = rng.random(n) if fmt == "probs" else rng.normal(0, 3, n)
    values = np.round(raw, 1) if seed % 2 else raw  # with and without ties
    preds, target = torch.from_numpy(values).float(), torch.from_numpy(y)
    expected = skm.roc_auc_score(y, preds.double().numpy(), max_fpr=max_fpr)
    metric = ek.AUROC(task="binary", max_fpr=max_fpr, input_format=fmt)
    metric.update(preds[: n // 2], target[: n // 2])
    metric.update(preds[n // 2 :], target[n // 2 :])
    assert abs(float(metric.compute()) - expected) <= 1e-12
    functional = F.auroc(preds, target, task="binary", max_fpr=max_fpr, input_format=fmt)
    assert abs(float(functional) - expected) <= 1e-12


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(2, 80), FPRS)
def test_partial_auc_binned_equals_torchmetrics(seed, n, max_fpr):
    rng = np.random.default_rng(seed)
    y = torch.from_numpy(rng.integers(0, 2, n))
    y[:2] = torch.tensor([0, 1])
    preds = torch.from_numpy(rng.random(n)).float()
    reference = BinaryAUROC(max_fpr=max_fpr, thresholds=11)
    reference.update(preds, y)
    ours = ek.AUROC(task="binary", max_fpr=max_fpr, thresholds=11)
    ours.update(preds, y)
    assert abs(float(ours.compute()) - float(reference.compute())) <= 1e-6  # torchmetrics computes in float32


def test_partial_auc_undefined_and_bad_arguments():
    with pytest.warns(UserWarning, match="only one class"):
        got = F.auroc(torch.tensor([0.2, 0.7]), torch.tensor([1, 1]), task="binary", max_fpr=0.5)
    assert got.isnan()
    for bad in (0, 0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=rf"Expected `max_fpr` to be None or a float in \(0, 1\], but got {bad}"):
            ek.AUROC(task="binary", max_fpr=bad)
    with pytest.raises(TypeError, match="Expected `max_fpr` to be None or a float"):
        ek.AUROC(task="binary", max_fpr="0.5")
    for task, kwargs in (("multiclass", {"num_classes": 3}), ("multilabel", {"num_labels": 3})):
        with pytest.raises(ValueError, match=f"Expected `max_fpr` only with task='binary'.*got task='{task}'"):
            ek.AUROC(task=task, max_fpr=0.5, **kwargs)
        with pytest.raises(ValueError, match="Expected `max_fpr` only with task='binary'"):
            F.auroc(torch.rand(4, 3), torch.tensor([0, 1, 2, 0]), task=task, max_fpr=0.5, **kwargs)


def _multiclass_with_absent(seed: int, n: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true classes drawn from a random subset, so some classes are absent from both."""
    rng = np.random.default_rng(seed)
    used = rng.choice(classes, size=rng.integers(1, classes + 1), replace=False)
    return torch.from_numpy(rng.choice(used, n)), torch.from_numpy(rng.choice(used, n))


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.sampled_from(["macro", "weighted", "none"]))
def test_absent_classes_left_out_as_sklearn_and_torchmetrics(seed, n, average):
    classes = 5
    preds, target = _multiclass_with_absent(seed, n, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours_type, tm_type in ((ek.Sensitivity, MulticlassRecall), (ek.Specificity, MulticlassSpecificity)):
            metric = ours_type(task="multiclass", num_classes=classes, average=average)
            metric.update(preds[: n // 2], target[: n // 2])
            metric.update(preds[n // 2 :], target[n // 2 :])
            reference = tm_type(num_classes=classes, average=average)
            reference.update(preds, target)
            np.testing.assert_allclose(metric.compute().numpy(), reference.compute().double().numpy(), atol=1e-6)
        # scikit-learn's macro recall over the labels present in target or predictions
        recall = F.sensitivity(preds, target, task="multiclass", num_classes=classes, average=average)
        present_only = None if average == "none" else np.union1d(preds.numpy(), target.numpy())
        labels = list(range(classes)) if average == "none" else present_only
        expected = skm.recall_score(
            target.numpy(),
            preds.numpy(),
            labels=labels,
            average=None if average == "none" else average,
            zero_division=0,
        )
        np.testing.assert_allclose(recall.numpy(), expected, rtol=0, atol=1e-12)


def test_absent_class_issue_case():
    """A class absent from both: left out of the macro mean, still reported by average='none'."""
    preds, target = torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1, 1, 1])
    macro = F.sensitivity(preds, target, task="multiclass", num_classes=3)
    assert float(macro) == pytest.approx(skm.recall_score(target.numpy(), preds.numpy(), average="macro"), abs=1e-12)
    per_class = F.sensitivity(preds, target, task="multiclass", num_classes=3, average="none", zero_division="nan")
    assert per_class.shape == (3,) and per_class[2].isnan()
