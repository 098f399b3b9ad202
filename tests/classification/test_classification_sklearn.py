"""Randomised property tests of the classification metrics against scikit-learn, run in the test."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import lightning_evalkit as ek
from lightning_evalkit import functional as F

SETTINGS = settings(max_examples=60, deadline=None)
TIE_LEVELS = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])


def _scores(rng: np.random.Generator, shape: tuple[int, ...], ties: bool) -> np.ndarray:
    return rng.choice(TIE_LEVELS, size=shape) if ties else rng.random(shape)


def _split_update(metric, preds: torch.Tensor, target: torch.Tensor, cuts: list[int]):
    """Feed the data in consecutive chunks cut at ``cuts`` (sorted positions), then compute."""
    bounds = [0, *sorted(c % (len(target) + 1) for c in cuts), len(target)]
    for lo, hi in itertools.pairwise(bounds):
        metric.update(preds[lo:hi], target[lo:hi])
    return metric.compute()


def _nan_mean(values: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(values))


binary_case = st.tuples(st.integers(0, 2**32 - 1), st.integers(2, 80), st.booleans(), st.lists(st.integers(0, 80)))


@SETTINGS
@given(binary_case, st.booleans())
def test_binary_roc_equals_sklearn(case, drop_intermediate):
    seed, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 2, n), _scores(rng, (n,), ties)
    y[:2] = [0, 1]
    expected = skm.roc_curve(y, s, drop_intermediate=drop_intermediate)
    metric = ek.ROC(task="binary", drop_intermediate=drop_intermediate)
    got = _split_update(metric, torch.from_numpy(s), torch.from_numpy(y), cuts)
    functional = F.roc(torch.from_numpy(s), torch.from_numpy(y), task="binary", drop_intermediate=drop_intermediate)
    for ours, fun, ref in zip(got, functional, expected, strict=True):
        np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(ours, fun)


@SETTINGS
@given(binary_case)
def test_binary_auroc_and_precision_recall_equal_sklearn(case):
    seed, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 2, n), _scores(rng, (n,), ties)
    y[:2] = [1, 0]
    got = _split_update(ek.AUROC(task="binary"), torch.from_numpy(s), torch.from_numpy(y), cuts)
    assert abs(got.item() - skm.roc_auc_score(y, s)) < 1e-12
    assert F.auroc(torch.from_numpy(s), torch.from_numpy(y), task="binary").item() == got.item()
    counts = F.curve_counts(torch.from_numpy(s), torch.from_numpy(y), task="binary")[0]
    for ours, ref in zip(F.precision_recall_from_counts(counts), skm.precision_recall_curve(y, s), strict=True):
        np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)


multi_case = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(2, 5), st.integers(1, 60), st.booleans(), st.lists(st.integers(0, 80))
)


@SETTINGS
@given(multi_case, st.sampled_from(["macro", "weighted", "micro", "none"]))
def test_multiclass_auroc_equals_sklearn_ovr(case, average):
    seed, classes, n, ties, cuts = case
    classes = max(classes, 3)  # scikit-learn reads two columns as a binary problem
    rng = np.random.default_rng(seed)
    n = max(n, classes)
    y = np.concatenate([np.arange(classes), rng.integers(0, classes, n - classes)])
    p = _scores(rng, (n, classes), ties) + 1e-3
    p = p / p.sum(1, keepdims=True)
    metric = ek.AUROC(task="multiclass", num_classes=classes, average=average)
    got = _split_update(metric, torch.from_numpy(p), torch.from_numpy(y), cuts)
    expected = skm.roc_auc_score(y, p, multi_class="ovr", average=None if average == "none" else average)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)
    functional = F.auroc(
        torch.from_numpy(p), torch.from_numpy(y), task="multiclass", num_classes=classes, average=average
    )
    torch.testing.assert_close(functional, got)


@SETTINGS
@given(multi_case, st.sampled_from(["macro", "weighted", "micro", "none"]))
def test_multilabel_auroc_equals_sklearn_with_undefined_labels_left_out(case, average):
    seed, labels, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, 2, (n, labels)), _scores(rng, (n, labels), ties)
    metric = ek.AUROC(task="multilabel", num_labels=labels, average=average)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _split_update(metric, torch.from_numpy(p), torch.from_numpy(y), cuts).numpy()
        per_label = np.array([skm.roc_auc_score(y[:, j], p[:, j]) for j in range(labels)])
        if average == "none":
            expected = per_label
        elif average == "micro":
            expected = skm.roc_auc_score(y.ravel(), p.ravel())
        else:
            # scikit-learn's macro is NaN once a label is undefined; ours leaves that label out, as documented
            weights = y.sum(0) if average == "weighted" else np.ones(labels)
            defined = ~np.isnan(per_label)
            expected = np.average(per_label[defined], weights=weights[defined]) if defined.any() else float("nan")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@SETTINGS
@given(binary_case, st.sampled_from([0.0, 0.3, 0.5, 0.75, 1.0]))
def test_binary_sensitivity_specificity_confusion_equal_sklearn(case, threshold):
    seed, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 2, n), _scores(rng, (n,), ties)
    y[:2] = [0, 1]
    predicted = (s >= threshold).astype(int)
    preds, target = torch.from_numpy(s), torch.from_numpy(y)
    sens = _split_update(ek.Sensitivity(task="binary", threshold=threshold), preds, target, cuts)
    spec = _split_update(ek.Specificity(task="binary", threshold=threshold), preds, target, cuts)
    confmat = _split_update(ek.ConfusionMatrix(task="binary", threshold=threshold), preds, target, cuts)
    assert sens.item() == pytest.approx(skm.recall_score(y, predicted), abs=1e-12)
    assert spec.item() == pytest.approx(skm.recall_score(y, predicted, pos_label=0), abs=1e-12)
    np.testing.assert_array_equal(confmat.numpy(), skm.confusion_matrix(y, predicted, labels=[0, 1]))
    assert F.sensitivity(preds, target, task="binary", threshold=threshold).item() == sens.item()
    assert F.specificity(preds, target, task="binary", threshold=threshold).item() == spec.item()


def _sklearn_specificity(y: np.ndarray, predicted: np.ndarray, classes: int, average: str, zero_division):
    """Specificity of class c is scikit-learn's recall of the one-vs-rest negatives (same zero_division rules)."""
    per_class = np.array(
        [skm.recall_score(y != c, predicted != c, zero_division=zero_division) for c in range(classes)]
    )
    if average == "none":
        return per_class
    if average == "micro":
        matrices = skm.multilabel_confusion_matrix(y, predicted, labels=list(range(classes)))
        tn, fp = matrices[:, 0, 0].sum(), matrices[:, 0, 1].sum()
        return tn / (tn + fp) if tn + fp else zero_division
    weights = np.bincount(y, minlength=classes) if average == "weighted" else np.ones(classes)
    present = np.isin(np.arange(classes), np.union1d(y, predicted))  # absent classes are left out, as sklearn
    defined = ~np.isnan(per_class) & (weights > 0) & present
    return np.average(per_class[defined], weights=weights[defined]) if defined.any() else np.nan


@SETTINGS
@given(multi_case, st.sampled_from(["macro", "weighted", "micro", "none"]), st.sampled_from([0.0, 1.0, "nan"]))
def test_multiclass_sensitivity_specificity_equal_sklearn(case, average, zero_division):
    seed, classes, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, classes, n), _scores(rng, (n, classes), ties)
    predicted = torch.from_numpy(p).argmax(1).numpy()  # torch's first-maximum tie rule
    kwargs = {"task": "multiclass", "num_classes": classes, "average": average, "zero_division": zero_division}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sens = _split_update(ek.Sensitivity(**kwargs), torch.from_numpy(p), torch.from_numpy(y), cuts)
        spec = _split_update(ek.Specificity(**kwargs), torch.from_numpy(p), torch.from_numpy(y), cuts)
        zd = np.nan if zero_division == "nan" else zero_division
        # scikit-learn's default labels (those in y or predicted) for averages: absent classes are left out
        labels = list(range(classes)) if average in ("none", "micro") else None
        expected = skm.recall_score(
            y, predicted, labels=labels, average=None if average == "none" else average, zero_division=zd
        )
    np.testing.assert_allclose(sens.numpy(), expected, rtol=0, atol=1e-12)
    expected_spec = _sklearn_specificity(y, predicted, classes, average, zd)
    np.testing.assert_allclose(spec.numpy(), expected_spec, rtol=0, atol=1e-12)


@SETTINGS
@given(multi_case, st.sampled_from([None, "true", "pred", "all"]))
def test_multiclass_confusion_matrix_equals_sklearn(case, normalize):
    seed, classes, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, classes, n), _scores(rng, (n, classes), ties)
    predicted = torch.from_numpy(p).argmax(1).numpy()
    metric = ek.ConfusionMatrix(task="multiclass", num_classes=classes, normalize=normalize)
    got = _split_update(metric, torch.from_numpy(p), torch.from_numpy(y), cuts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.nan_to_num(skm.confusion_matrix(y, predicted, labels=list(range(classes)), normalize=normalize))
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)
    labels_as_preds = ek.ConfusionMatrix(task="multiclass", num_classes=classes, normalize=normalize)
    labels_as_preds.update(torch.from_numpy(predicted), torch.from_numpy(y))
    torch.testing.assert_close(labels_as_preds.compute(), got)


@SETTINGS
@given(multi_case, st.sampled_from([0.3, 0.5]))
def test_multilabel_confusion_and_sensitivity_equal_sklearn(case, threshold):
    seed, labels, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, 2, (n, labels)), _scores(rng, (n, labels), ties)
    predicted = (p >= threshold).astype(int)
    kwargs = {"task": "multilabel", "num_labels": labels, "threshold": threshold}
    confmat = _split_update(ek.ConfusionMatrix(**kwargs), torch.from_numpy(p), torch.from_numpy(y), cuts)
    np.testing.assert_array_equal(confmat.numpy(), skm.multilabel_confusion_matrix(y, predicted))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sens = ek.Sensitivity(**kwargs, average="micro")
        sens.update(torch.from_numpy(p), torch.from_numpy(y))
        expected = skm.recall_score(y, predicted, average="micro", zero_division=0.0)
    assert sens.compute().item() == pytest.approx(expected, abs=1e-12)


@SETTINGS
@given(binary_case, st.sampled_from([2, 5, 11, 101]))
def test_binned_counts_equal_sklearn_at_each_threshold(case, n_thresholds):
    """Binned TPR and FPR at threshold t equal scikit-learn's recall of the predictions score >= t."""
    seed, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 2, n), _scores(rng, (n,), ties)
    y[:2] = [0, 1]
    metric = ek.ROC(task="binary", thresholds=n_thresholds, drop_intermediate=False)
    _split_update(metric, torch.from_numpy(s), torch.from_numpy(y), cuts)
    counts = metric.curve_counts()[0]
    for i, t in enumerate(counts.thresholds.tolist()):
        predicted = (s >= t).astype(int)
        tn, fp, fn, tp = skm.confusion_matrix(y, predicted, labels=[0, 1]).ravel()
        assert (counts.tp[i], counts.fp[i], counts.tn[i], counts.fn[i]) == (tp, fp, tn, fn)
        assert counts.tp[i] / (tp + fn) == pytest.approx(skm.recall_score(y, predicted), abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["binary", "multiclass", "multilabel"]))
def test_binned_auroc_with_1000_thresholds_is_within_1e3_of_exact(seed, task):
    rng = np.random.default_rng(seed)
    n = 3000
    if task == "binary":
        y = rng.integers(0, 2, n)
        p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
        kwargs: dict = {}
    else:
        y = rng.integers(0, 2, (n, 3)) if task == "multilabel" else rng.integers(0, 3, n)
        p = rng.random((n, 3))
        kwargs = {"num_labels": 3} if task == "multilabel" else {"num_classes": 3}
    exact = F.auroc(torch.from_numpy(p), torch.from_numpy(y), task=task, **kwargs)
    binned = ek.AUROC(task=task, thresholds=1000, **kwargs)
    binned.update(torch.from_numpy(p), torch.from_numpy(y))
    assert abs(binned.compute().item() - exact.item()) < 1e-3


@SETTINGS
@given(binary_case)
def test_youden_threshold_maximises_j_on_the_sklearn_curve(case):
    seed, n, ties, _ = case
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 2, n), _scores(rng, (n,), ties)
    y[:2] = [0, 1]
    fpr, tpr, thresholds = skm.roc_curve(y, s)
    threshold, sens, spec = F.youden_threshold(*(torch.from_numpy(a) for a in (fpr, tpr, thresholds)))
    best = np.argmax(tpr - fpr)
    assert threshold.item() == thresholds[best]
    assert sens.item() + spec.item() - 1 == pytest.approx((tpr - fpr).max(), abs=1e-12)
    if np.isfinite(threshold.item()):
        at_threshold = F.sensitivity(
            torch.from_numpy(s), torch.from_numpy(y), task="binary", threshold=threshold.item()
        )
        assert at_threshold.item() == pytest.approx(sens.item(), abs=1e-12)


@SETTINGS
@given(multi_case)
def test_ignore_index_equals_dropping_those_elements(case):
    seed, classes, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(classes), rng.integers(0, classes, n)])
    p = _scores(rng, (len(y), classes), ties)
    ignored = rng.random(len(y)) < 0.3
    ignored[:classes] = False
    y_masked = np.where(ignored, -100, y)
    for metric_type in (ek.AUROC, ek.Sensitivity, ek.ConfusionMatrix):
        with_ignore = metric_type(task="multiclass", num_classes=classes, ignore_index=-100)
        got = _split_update(with_ignore, torch.from_numpy(p), torch.from_numpy(y_masked), cuts)
        reference = metric_type(task="multiclass", num_classes=classes)
        reference.update(torch.from_numpy(p[~ignored]), torch.from_numpy(y[~ignored]))
        torch.testing.assert_close(got, reference.compute(), equal_nan=True)


def test_logits_match_probabilities_after_softmax_and_sigmoid():
    rng = np.random.default_rng(0)
    logits, y = torch.from_numpy(rng.normal(size=(50, 4))), torch.from_numpy(rng.integers(0, 4, 50))
    for metric_type in (ek.AUROC, ek.Sensitivity, ek.Specificity):
        a = metric_type(task="multiclass", num_classes=4, input_format="logits")
        b = metric_type(task="multiclass", num_classes=4)
        a.update(logits, y)
        b.update(logits.softmax(1), y)
        torch.testing.assert_close(a.compute(), b.compute())
    binary_logits, binary_y = logits[:, 0], (y == 0).long()
    expected = skm.roc_auc_score(binary_y.numpy(), binary_logits.numpy())
    assert F.auroc(binary_logits, binary_y, task="binary", input_format="logits").item() == pytest.approx(expected)


def test_extra_dimensions_are_flattened_like_sklearn_on_raveled_data():
    rng = np.random.default_rng(1)
    p, y = rng.random((4, 3, 5, 6)), rng.integers(0, 3, (4, 5, 6))
    got = F.auroc(torch.from_numpy(p), torch.from_numpy(y), task="multiclass", num_classes=3, average="none")
    flat_p = np.moveaxis(p, 1, -1).reshape(-1, 3)
    expected = [skm.roc_auc_score(y.reshape(-1) == c, flat_p[:, c]) for c in range(3)]
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 30))
def test_float32_scores_are_thresholded_with_float64_meaning(seed, pick):
    """A float64 threshold just above or below a float32 score decides as scikit-learn does in float64."""
    rng = np.random.default_rng(seed)
    s32 = rng.random(31).astype(np.float32)
    y = rng.integers(0, 2, 31)
    y[:2] = [0, 1]
    near = float(s32[pick])
    for threshold in (near, np.nextafter(near, 1.0), np.nextafter(near, 0.0)):
        predicted = (s32.astype(np.float64) >= threshold).astype(int)
        got = F.sensitivity(torch.from_numpy(s32), torch.from_numpy(y), task="binary", threshold=threshold)
        assert got.item() == pytest.approx(skm.recall_score(y, predicted), abs=1e-12)
        grid = sorted({0.0, threshold, 1.0})
        counts = F.curve_counts(torch.from_numpy(s32), torch.from_numpy(y), task="binary", thresholds=grid)[0]
        index = grid.index(threshold)
        assert int(counts.tp[index] + counts.fp[index]) == int(predicted.sum())


@SETTINGS
@given(multi_case, st.sampled_from([None, 7]))
def test_multilabel_ignore_index_drops_only_those_entries(case, thresholds):
    seed, labels, n, ties, cuts = case
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, 2, (n + 4, labels)), _scores(rng, (n + 4, labels), ties)
    y[:2], y[2:4] = 0, 1
    ignored = rng.random(y.shape) < 0.3
    ignored[:4] = False
    y_masked = np.where(ignored, -1, y)
    metric = ek.ROC(task="multilabel", num_labels=labels, ignore_index=-1, thresholds=thresholds)
    fprs, tprs, _ = _split_update(metric, torch.from_numpy(p), torch.from_numpy(y_masked), cuts)
    for j in range(labels):
        kept = ~ignored[:, j]
        reference = ek.ROC(task="binary", thresholds=thresholds)
        reference.update(torch.from_numpy(p[kept, j]), torch.from_numpy(y[kept, j]))
        ref_fpr, ref_tpr, _ = reference.compute()
        torch.testing.assert_close(fprs[j], ref_fpr)
        torch.testing.assert_close(tprs[j], ref_tpr)
        if thresholds is None:
            np.testing.assert_allclose(fprs[j].numpy(), skm.roc_curve(y[kept, j], p[kept, j])[0], atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_negative_zero_ties_with_zero_and_one_is_the_top_score(dtype):
    scores = torch.tensor([-0.0, 0.0, 1.0, 0.5, -0.0, 1.0], dtype=dtype)
    target = torch.tensor([1, 0, 1, 0, 0, 0])
    expected = skm.roc_curve(target.numpy(), scores.numpy())
    for ours, ref in zip(F.roc(scores, target, task="binary"), expected, strict=True):
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-12)
    assert F.auroc(scores, target, task="binary").item() == pytest.approx(skm.roc_auc_score(target, scores))
