"""Input formats (probs, logits, scores) in every dtype: exact ranking, thresholds that agree across metrics.

References are run in the test: scikit-learn's ``roc_auc_score`` and ``roc_curve`` on the same values.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import lightning_evalkit as ek
from lightning_evalkit import functional as F
from lightning_evalkit.classification import exact as _exact
from tests._softmax_reference import softmax_reference

SETTINGS = settings(max_examples=40, deadline=None)
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
FORMATS = ("probs", "logits", "scores")


def _values(rng: np.random.Generator, shape: tuple[int, ...], fmt: str, dtype: torch.dtype, ties: bool) -> torch.Tensor:
    """Values of one format in one dtype; ``ties`` rounds them so that repeats occur."""
    if fmt == "probs":
        raw = rng.random(shape)
    elif fmt == "logits":
        raw = rng.normal(0, 6, shape).clip(-20, 20)  # float64 sigmoid is injective here
    else:
        raw = rng.normal(0, 1, shape) * 10.0 ** rng.integers(-3, 4)
    if ties:
        raw = np.round(raw, 1)
    return torch.from_numpy(raw).to(dtype)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _assert_thresholds_agree(preds: torch.Tensor, target: torch.Tensor, fmt: str) -> None:
    """At every threshold of the exact curve, the confusion metrics and binned counts give the curve's point."""
    exact = F.curve_counts(preds, target, task="binary", input_format=fmt)[0]
    _, tpr, thresholds = F.roc(preds, target, task="binary", input_format=fmt, drop_intermediate=False)
    torch.testing.assert_close(thresholds[1:], exact.thresholds.flip(0), rtol=0, atol=0)
    for k, t in enumerate(exact.thresholds.tolist()):
        cm = F.confusion_matrix(preds, target, task="binary", threshold=t, input_format=fmt)
        assert cm.tolist() == [[int(exact.tn[k]), int(exact.fp[k])], [int(exact.fn[k]), int(exact.tp[k])]], t
        point = exact.thresholds.numel() - k
        sens = _quiet(F.sensitivity, preds, target, task="binary", threshold=t, input_format=fmt)
        if int(exact.tp[0] + exact.fn[0]):
            assert float(sens) == float(tpr[point]), t
    if exact.thresholds.numel() >= 2:
        binned = F.curve_counts(preds, target, task="binary", thresholds=exact.thresholds, input_format=fmt)[0]
        for name in ("tp", "fp", "tn", "fn"):
            torch.testing.assert_close(getattr(binned, name), getattr(exact, name), rtol=0, atol=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_issue_repro_thresholds_agree(fmt):
    torch.manual_seed(42)
    logits, target = torch.randn(32), torch.randint(0, 2, (32,))
    preds = logits.sigmoid() if fmt == "probs" else logits
    _assert_thresholds_agree(preds, target, fmt)
    expected = skm.roc_auc_score(target.numpy(), preds.double().numpy())
    assert abs(float(F.auroc(preds, target, task="binary", input_format=fmt)) - expected) <= 1e-12


def test_float32_logits_rank_as_given():
    """The issue's second case: float32 logits whose float32 sigmoid would merge distinct values into ties."""
    generator = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (10_000,), generator=generator)
    logits = ((2 * y - 1) * 10 + 15 * torch.randn(10_000, generator=generator)).float()
    expected = skm.roc_auc_score(y.numpy(), logits.numpy())
    metric = ek.AUROC(task="binary", input_format="logits")
    metric.update(logits[:4000], y[:4000])
    metric.update(logits[4000:], y[4000:])
    assert abs(float(metric.compute()) - expected) <= 1e-12
    assert abs(float(F.auroc(logits, y, task="binary", input_format="logits")) - expected) <= 1e-12


@SETTINGS
@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 60),
    st.sampled_from(DTYPES),
    st.sampled_from(FORMATS),
    st.booleans(),
)
def test_binary_any_dtype_and_format(seed, n, dtype, fmt, ties):
    rng = np.random.default_rng(seed)
    preds, target = _values(rng, (n,), fmt, dtype, ties), torch.from_numpy(rng.integers(0, 2, n))
    target[:2] = torch.tensor([0, 1])
    expected = skm.roc_auc_score(target.numpy(), preds.double().numpy())
    metric = ek.AUROC(task="binary", input_format=fmt)
    metric.update(preds[: n // 2], target[: n // 2])
    metric.update(preds[n // 2 :], target[n // 2 :])
    assert abs(float(metric.compute()) - expected) <= 1e-12
    _assert_thresholds_agree(preds, target, fmt)
    if fmt != "logits":
        fpr, tpr, thr = F.roc(preds, target, task="binary", input_format=fmt)
        ref_fpr, ref_tpr, ref_thr = skm.roc_curve(target.numpy(), preds.double().numpy())
        np.testing.assert_allclose(fpr.numpy(), ref_fpr, rtol=0, atol=1e-12)
        np.testing.assert_allclose(tpr.numpy(), ref_tpr, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(thr.numpy()[1:], ref_thr[1:])


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(4, 40), st.sampled_from(DTYPES), st.sampled_from(FORMATS))
def test_multilabel_any_dtype_and_format(seed, n, dtype, fmt):
    rng = np.random.default_rng(seed)
    preds, target = _values(rng, (n, 3), fmt, dtype, ties=bool(seed % 2)), torch.from_numpy(rng.integers(0, 2, (n, 3)))
    target[:2] = torch.tensor([[0, 0, 0], [1, 1, 1]])
    expected = [skm.roc_auc_score(target[:, c].numpy(), preds[:, c].double().numpy()) for c in range(3)]
    got = F.auroc(preds, target, task="multilabel", num_labels=3, average="none", input_format=fmt)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)
    micro = skm.roc_auc_score(target.numpy(), preds.double().numpy(), average="micro")
    got_micro = F.auroc(preds, target, task="multilabel", num_labels=3, average="micro", input_format=fmt)
    assert abs(float(got_micro) - micro) <= 1e-12


@SETTINGS
@given(
    st.integers(0, 2**32 - 1), st.integers(6, 40), st.sampled_from(DTYPES), st.sampled_from(["", "ties", "quantised"])
)
def test_multiclass_logits_equal_sklearn_on_float64_softmax(seed, n, dtype, ties):
    rng = np.random.default_rng(seed)
    logits = _values(rng, (n, 3), "logits", dtype, ties == "ties")
    if ties == "quantised":  # integer logits of a quantised model: rows with equal softmax everywhere
        logits = torch.from_numpy(rng.integers(-3, 4, (n, 3))).to(dtype)
    target = torch.from_numpy(np.concatenate([[0, 1, 2], rng.integers(0, 3, n - 3)]))
    probs = softmax_reference(logits)  # correctly rounded: a naive float64 softmax splits equal rows
    for average in ("macro", "weighted"):
        expected = skm.roc_auc_score(target.numpy(), probs, multi_class="ovr", average=average)
        got = F.auroc(logits, target, task="multiclass", num_classes=3, average=average, input_format="logits")
        assert abs(float(got) - expected) <= 1e-12
    fprs, tprs, thresholds = F.roc(logits, target, task="multiclass", num_classes=3, input_format="logits")
    for c in range(3):
        ref_fpr, ref_tpr, ref_thr = skm.roc_curve(target.numpy() == c, probs[:, c])
        np.testing.assert_allclose(fprs[c].numpy(), ref_fpr, rtol=0, atol=1e-12)
        np.testing.assert_allclose(tprs[c].numpy(), ref_tpr, rtol=0, atol=1e-12)
        # float64 logits: logit - max rounds, and exp turns that into |logit - max| * 2**-53 relative (<= 40 here)
        np.testing.assert_allclose(thresholds[c].numpy()[1:], ref_thr[1:], rtol=1e-14, atol=0)
    # binned counts at the exact curve's thresholds give the curve's points, class by class
    exact = F.curve_counts(logits, target, task="multiclass", num_classes=3, input_format="logits")
    for c, counts in enumerate(exact):
        if counts.thresholds.numel() < 2:
            continue
        binned = F.curve_counts(
            logits, target, task="multiclass", num_classes=3, thresholds=counts.thresholds, input_format="logits"
        )[c]
        for name in ("tp", "fp", "tn", "fn"):
            torch.testing.assert_close(getattr(binned, name), getattr(counts, name), rtol=0, atol=0)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(6, 40), st.sampled_from(DTYPES))
def test_multiclass_scores_are_ranked_per_class_as_given(seed, n, dtype):
    rng = np.random.default_rng(seed)
    scores = _values(rng, (n, 3), "scores", dtype, ties=bool(seed % 2))
    target = torch.from_numpy(np.concatenate([[0, 1, 2], rng.integers(0, 3, n - 3)]))
    expected = [skm.roc_auc_score(target.numpy() == c, scores[:, c].double().numpy()) for c in range(3)]
    got = F.auroc(scores, target, task="multiclass", num_classes=3, average="none", input_format="scores")
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_score_scale_invariance(dtype):
    """A monotone rescaling of scores changes neither AUROC nor the ROC's rates (scikit-learn's own test idea)."""
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.integers(0, 2, 200))
    scores = torch.from_numpy(rng.random(200)).to(dtype)
    reference = skm.roc_auc_score(target.numpy(), scores.double().numpy())
    fpr, tpr, _ = F.roc(scores, target, task="binary", input_format="scores")
    for rescaled in (100 * scores, scores * 1e6 - 3e5, -1 / (scores + 1), torch.exp(10 * scores)):
        got = F.auroc(rescaled, target, task="binary", input_format="scores")
        assert abs(float(got) - reference) <= 1e-12
        fpr_r, tpr_r, _ = F.roc(rescaled, target, task="binary", input_format="scores")
        torch.testing.assert_close((fpr_r, tpr_r), (fpr, tpr), rtol=0, atol=0)
    # the same numbers as probabilities give the same curve
    torch.testing.assert_close(F.roc(scores, target, task="binary")[:2], (fpr, tpr), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sort_keys_order_negative_and_large_values(dtype):
    """Integer sort keys order like the values for negatives, -0.0, tiny and huge magnitudes."""
    values = torch.tensor([-3e30, -2.5, -1.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 1.0, 1.999, 2.0, 7.0, 3e30], dtype=dtype)
    target = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1])
    for order in (torch.arange(13), torch.randperm(13, generator=torch.Generator().manual_seed(3))):
        v, y = values[order], target[order]
        counts = F.curve_counts(v, y, task="binary", input_format="scores")[0]
        _, _, ref_thresholds = skm.roc_curve(y.numpy(), v.double().numpy(), drop_intermediate=False)
        np.testing.assert_array_equal(counts.thresholds.flip(0).numpy(), ref_thresholds[1:])
        expected = skm.roc_auc_score(y.numpy(), v.double().numpy())
        assert abs(float(F.auroc(v, y, task="binary", input_format="scores")) - expected) <= 1e-12


def test_half_precision_probs_give_float32_answers():
    generator = torch.Generator().manual_seed(1)
    probs, target = torch.rand(300, generator=generator), torch.randint(0, 2, (300,), generator=generator)
    for dtype in (torch.float16, torch.bfloat16):
        narrow = probs.to(dtype)
        for fn in (F.auroc, F.roc, F.sensitivity, F.confusion_matrix):
            torch.testing.assert_close(fn(narrow, target, task="binary"), fn(narrow.float(), target, task="binary"))


def test_scores_thresholds_are_in_score_units():
    scores, target = torch.tensor([-4.0, -1.0, 2.5, 9.0]), torch.tensor([0, 1, 0, 1])
    got = F.sensitivity(scores, target, task="binary", threshold=-1.0, input_format="scores")
    assert float(got) == skm.recall_score(target.numpy(), (scores >= -1.0).numpy())
    binned = F.auroc(scores, target, task="binary", thresholds=[-5.0, -1.0, 2.5, 9.0], input_format="scores")
    assert float(binned) == skm.roc_auc_score(target.numpy(), scores.numpy())
    with pytest.raises(ValueError, match="Expected `thresholds` to be None or a list or tensor of score values"):
        ek.AUROC(task="binary", thresholds=100, input_format="scores")
    with pytest.raises(ValueError, match=r"Expected `threshold` to be a float in \[0, 1\], but got -1.0"):
        ek.Sensitivity(task="binary", threshold=-1.0)
    with pytest.raises(ValueError, match="Expected `threshold` to be a finite float, but got inf"):
        ek.Specificity(task="binary", threshold=float("inf"), input_format="scores")
    with pytest.raises(ValueError, match="Expected `preds` to be finite, but got inf"):
        F.auroc(torch.tensor([0.0, float("inf")]), torch.tensor([0, 1]), task="binary", input_format="scores")


@pytest.mark.parametrize(
    "metric_type", [ek.Sensitivity, ek.Specificity, ek.ConfusionMatrix, ek.ROC, ek.AUROC], ids=lambda t: t.__name__
)
def test_every_metric_takes_scores(metric_type):
    kwargs = {"threshold": 0.0} if metric_type in (ek.Sensitivity, ek.Specificity, ek.ConfusionMatrix) else {}
    metric = metric_type(task="multilabel", num_labels=2, input_format="scores", **kwargs)
    metric.update(torch.tensor([[-3.0, 5.0], [2.0, -0.5], [7.0, 1.0]]), torch.tensor([[0, 1], [1, 0], [1, 0]]))
    metric.compute()


@pytest.mark.parametrize("chunk", [5, 64])
def test_chunked_walk_and_class_blocks_equal_sklearn(monkeypatch, chunk):
    """Chunks of the sorted keys and blocks of classes cut anywhere, runs of ties crossing their edges."""
    monkeypatch.setattr(_exact, "_CHUNK", chunk)
    monkeypatch.setattr(_exact, "_BLOCK_ELEMENTS", 2 * 150)  # two classes per block
    rng = np.random.default_rng(chunk)
    target = torch.from_numpy(rng.integers(0, 2, 150))
    for values in (np.round(rng.random(150), 1), np.round(rng.normal(0, 1e3, 150), -2)):
        fmt = "probs" if values.min() >= 0 else "scores"
        for dtype in (torch.float32, torch.float64):  # float64 beyond +-2 takes the float sort
            preds = torch.from_numpy(values).to(dtype)
            expected = skm.roc_auc_score(target.numpy(), preds.double().numpy())
            assert abs(float(F.auroc(preds, target, task="binary", input_format=fmt)) - expected) <= 1e-12
            fpr, tpr, _ = F.roc(preds, target, task="binary", input_format=fmt)
            ref_fpr, ref_tpr, _ = skm.roc_curve(target.numpy(), preds.double().numpy())
            np.testing.assert_allclose(fpr.numpy(), ref_fpr, rtol=0, atol=1e-12)
            np.testing.assert_allclose(tpr.numpy(), ref_tpr, rtol=0, atol=1e-12)
    labels = torch.from_numpy(rng.integers(0, 2, (150, 5)))
    labels[rng.random((150, 5)) < 0.1] = -1
    scores = torch.from_numpy(np.round(rng.random((150, 5)), 1))
    got = F.auroc(scores, labels, task="multilabel", num_labels=5, average="none", ignore_index=-1)
    kept = [labels[:, c] >= 0 for c in range(5)]
    expected = [skm.roc_auc_score(labels[k, c].numpy(), scores[k, c].numpy()) for c, k in enumerate(kept)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)
    classes = torch.from_numpy(rng.integers(0, 5, 150))
    logits = torch.from_numpy(np.round(rng.normal(0, 2, (150, 5)), 1))
    got = F.auroc(logits, classes, task="multiclass", num_classes=5, average="none", input_format="logits")
    probs = torch.softmax(logits, 1).numpy()
    expected = [skm.roc_auc_score(classes.numpy() == c, probs[:, c]) for c in range(5)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)
