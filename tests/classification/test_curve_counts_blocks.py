"""Exact curve counts taken a block of classes at a time equal, bit for bit, those of each class sorted alone.

The reference is each class's one-vs-rest problem sorted on its own (``class_problems`` + ``_exact_counts``),
itself checked against scikit-learn here and in the classification tests. The block size is shrunk so that
65 and 300 classes cross several block edges.
"""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import roc_curve

import lightning_evalkit.classification.exact as exact_module
from lightning_evalkit import ROC
from lightning_evalkit.classification.curves import _exact_counts
from lightning_evalkit.classification.exact import (
    block_counts,
    class_problems,
    exact_counts,
    ranks_logits,
    sort_problem,
)
from lightning_evalkit.classification.roc import _curve_state
from lightning_evalkit.functional import curve_counts

SAMPLES = 40


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exact_module, "_BLOCK_ELEMENTS", 25 * SAMPLES)  # 25 classes a block


def _preds(task: str, columns: int, input_format: str, dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    logits = torch.randn(SAMPLES, columns, generator=generator, dtype=torch.float64)
    if input_format == "scores":
        return (logits * 50).round().to(dtype)  # |score| well above 2, ties
    if input_format == "logits":
        return (logits * 4).round().div(4).to(dtype)
    if task == "multiclass":
        probs = logits.softmax(1)
        return probs.to(dtype)
    return logits.sigmoid().mul(10).round().div(10).to(dtype)  # ties


def _target(task: str, columns: int, ignore_index: int | None, generator: torch.Generator) -> torch.Tensor:
    if task == "multiclass":
        target = torch.randint(0, columns, (SAMPLES,), generator=generator)
    else:
        target = torch.randint(0, 2, (SAMPLES, columns), generator=generator)
    if ignore_index is not None:
        target[torch.rand(target.shape, generator=generator) < 0.2] = ignore_index
    return target


def _reference(preds, target, task, columns, ignore_index, input_format):  # type: ignore[no-untyped-def]
    num_classes, num_labels = (columns, None) if task == "multiclass" else (None, columns)
    state, columns, _ = _curve_state(preds, target, task, None, num_classes, num_labels, ignore_index, input_format)
    sigmoid = ranks_logits(task, input_format)
    return [_exact_counts(v, p, sigmoid) for v, p in class_problems(state[0], state[1], task, columns, input_format)]


def _assert_identical(got, expected) -> None:  # type: ignore[no-untyped-def]
    assert len(got) == len(expected)
    for counts, reference in zip(got, expected, strict=True):
        for field, want in zip(counts, reference, strict=True):
            assert field.dtype == want.dtype
            assert torch.equal(field, want)


@pytest.mark.parametrize("columns", [2, 3, 65, 300])
@pytest.mark.parametrize(
    ("task", "input_format", "dtype", "ignore_index"),
    [
        ("multiclass", "probs", torch.float32, None),
        ("multiclass", "probs", torch.float64, 0),
        ("multiclass", "logits", torch.float32, None),
        ("multiclass", "scores", torch.float32, None),
        ("multiclass", "scores", torch.float64, None),
        ("multilabel", "probs", torch.float32, None),
        ("multilabel", "probs", torch.float64, -1),
        ("multilabel", "logits", torch.float64, None),
        ("multilabel", "scores", torch.float32, -1),
        ("multilabel", "scores", torch.float64, None),
    ],
)
def test_block_counts_equal_per_class_counts(columns, task, input_format, dtype, ignore_index) -> None:  # type: ignore[no-untyped-def]
    generator = torch.Generator().manual_seed(columns)
    preds = _preds(task, columns, input_format, dtype, generator)
    target = _target(task, columns, ignore_index, generator)
    kwargs = {"num_classes": columns} if task == "multiclass" else {"num_labels": columns}
    got = curve_counts(preds, target, task, ignore_index=ignore_index, input_format=input_format, **kwargs)
    _assert_identical(got, _reference(preds, target, task, columns, ignore_index, input_format))


@pytest.mark.parametrize("columns", [2, 65])
def test_metric_curve_counts_match_scikit_learn(columns: int) -> None:
    generator = torch.Generator().manual_seed(7)
    preds = _preds("multiclass", columns, "probs", torch.float32, generator)
    target = _target("multiclass", columns, None, generator)
    metric = ROC(task="multiclass", num_classes=columns)
    metric.update(preds[:17], target[:17])
    metric.update(preds[17:], target[17:])
    counts = metric.curve_counts()
    for c, class_counts in enumerate(counts):
        if not bool((target == c).any()):
            continue
        fpr, tpr, thresholds = roc_curve((target == c).numpy(), preds[:, c].numpy(), drop_intermediate=False)
        n_pos, n_neg = int((target == c).sum()), int((target != c).sum())
        assert class_counts.thresholds.flip(0).tolist() == thresholds[1:].tolist()
        assert (class_counts.tp.flip(0).double() / n_pos).tolist() == pytest.approx(tpr[1:].tolist(), abs=0)
        assert (class_counts.fp.flip(0).double() / n_neg).tolist() == pytest.approx(fpr[1:].tolist(), abs=0)
    metric.reset()
    metric.update(preds[:5], target[:5])
    _assert_identical(metric.curve_counts(), _reference(preds[:5], target[:5], "multiclass", columns, None, "probs"))


@pytest.mark.parametrize("width", [0, 1, 2, 33])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sigmoid", [False, True])
def test_one_row_and_empty_blocks(width: int, dtype: torch.dtype, sigmoid: bool) -> None:
    generator = torch.Generator().manual_seed(width)
    values = torch.randn(1, width, generator=generator, dtype=torch.float64).mul(2).round().div(2).clamp(-1.5, 1.5)
    values = values.to(dtype)
    positive = torch.rand(1, width, generator=generator) < 0.5
    got = block_counts(values.clone(), positive, sigmoid)
    assert got is not None
    _assert_identical(got, [exact_counts(sort_problem(values[0], positive[0]), sigmoid)])


def test_wide_float64_block_is_left_to_the_caller() -> None:
    assert block_counts(torch.tensor([[0.5, 2.0]], dtype=torch.float64), torch.tensor([[True, False]])) is None
