"""Quantised multiclass logits (small integers, ties everywhere) in exact mode (issue 16, item 8).

Rows whose softmax is the same number must tie and distinct ones must not: the AUROC and ROC then equal
scikit-learn's on the float64 softmax, to 1e-12. The reference softmax is correctly rounded
(``tests/_softmax_reference.py``): a naive float64 softmax splits these ties itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

import lightning_evalkit as ek
from lightning_evalkit import functional as F
from lightning_evalkit.classification.inputs import softmax_normaliser64, to_probabilities
from tests._softmax_reference import softmax_reference

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
CLASSES = 5


def _quantised(dtype: torch.dtype, n: int = 400, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randint(-3, 4, (n, CLASSES), generator=generator).to(dtype)
    return logits, torch.randint(0, CLASSES, (n,), generator=generator)


def test_rows_with_equal_softmax_get_equal_bits() -> None:
    """Permuting the other classes or shifting a whole row leaves the softmax as it is, bit for bit."""
    logits = torch.tensor(
        [[-3.0, -3.0, 2.0, -1.0], [2.0, -1.0, -3.0, -3.0], [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]]
    )
    probs = to_probabilities(logits, "multiclass", "logits")
    assert probs[0, 2] == probs[1, 0] and probs[0, 3] == probs[1, 1] and probs[0, 0] == probs[1, 3]
    assert torch.equal(probs[2], probs[3])
    top, total = softmax_normaliser64(logits)
    assert total[0] == total[1] and total[2] == total[3] and top.tolist() == [2.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(probs.numpy(), softmax_reference(logits), rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_quantised_logits_auroc_equals_sklearn_on_float64_softmax(dtype: torch.dtype) -> None:
    logits, target = _quantised(dtype)
    probs, y = softmax_reference(logits), target.numpy()
    kwargs = {"task": "multiclass", "num_classes": CLASSES, "input_format": "logits"}
    for average in ("macro", "weighted"):
        expected = skm.roc_auc_score(y, probs, multi_class="ovr", average=average)
        assert abs(float(F.auroc(logits, target, average=average, **kwargs)) - expected) <= 1e-12, average
    per_class = [skm.roc_auc_score(y == c, probs[:, c]) for c in range(CLASSES)]
    np.testing.assert_allclose(F.auroc(logits, target, average="none", **kwargs).numpy(), per_class, rtol=0, atol=1e-12)
    micro = skm.roc_auc_score(np.eye(CLASSES)[y].ravel(), probs.ravel())
    assert abs(float(F.auroc(logits, target, average="micro", **kwargs)) - micro) <= 1e-12
    metric = ek.AUROC(average="none", **kwargs)
    for start in range(0, len(y), 150):
        metric.update(logits[start : start + 150], target[start : start + 150])
    np.testing.assert_allclose(metric.compute().numpy(), per_class, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("drop_intermediate", [True, False])
def test_quantised_logits_roc_equals_sklearn_roc_curve(dtype: torch.dtype, drop_intermediate: bool) -> None:
    logits, target = _quantised(dtype, seed=1)
    probs, y = softmax_reference(logits), target.numpy()
    kwargs = {"task": "multiclass", "num_classes": CLASSES, "input_format": "logits"}
    fprs, tprs, thresholds = F.roc(logits, target, drop_intermediate=drop_intermediate, **kwargs)
    metric = ek.ROC(**kwargs)
    metric.update(logits[:123], target[:123])
    metric.update(logits[123:], target[123:])
    classes_fprs = metric.compute()[0]
    for c in range(CLASSES):
        ref_fpr, ref_tpr, ref_thr = skm.roc_curve(y == c, probs[:, c], drop_intermediate=drop_intermediate)
        np.testing.assert_allclose(fprs[c].numpy(), ref_fpr, rtol=0, atol=1e-12)
        np.testing.assert_allclose(tprs[c].numpy(), ref_tpr, rtol=0, atol=1e-12)
        np.testing.assert_allclose(thresholds[c].numpy()[1:], ref_thr[1:], rtol=1e-15, atol=0)
        if drop_intermediate:  # the metric's default
            np.testing.assert_allclose(classes_fprs[c].numpy(), ref_fpr, rtol=0, atol=1e-12)
    # binned counts at the exact curve's thresholds are the exact counts: both modes see the same probabilities
    for c, counts in enumerate(F.curve_counts(logits, target, **kwargs)):
        binned = F.curve_counts(logits, target, thresholds=counts.thresholds, **kwargs)[c]
        for name in ("tp", "fp", "tn", "fn"):
            torch.testing.assert_close(getattr(binned, name), getattr(counts, name), rtol=0, atol=0)
