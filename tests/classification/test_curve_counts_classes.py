"""Counts of chosen classes (``classes=``, what the plots draw for many classes) equal their entries of the full list.

The full list is itself checked bit for bit against each class sorted alone (``test_curve_counts_blocks.py``)
and against scikit-learn. The block size is shrunk so that the chosen classes cross several block edges.
"""

from __future__ import annotations

import pytest
import torch

import lightning_evalkit.classification.exact as exact_module
from lightning_evalkit.classification.curves import _class_positives, _curve_counts_compute
from lightning_evalkit.classification.roc import _curve_state

SAMPLES = 40


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exact_module, "_BLOCK_ELEMENTS", 4 * SAMPLES)  # 4 classes a block


def _data(task: str, columns: int, input_format: str, ignore_index: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(columns)
    logits = torch.randn(SAMPLES, columns, generator=generator, dtype=torch.float64)
    preds = {
        "probs": logits.softmax(1) if task == "multiclass" else logits.sigmoid().mul(10).round().div(10),
        "logits": (logits * 4).round().div(4),
        "scores": (logits * 50).round(),  # |score| above 2 and ties
    }[input_format].float()
    if task == "multiclass":
        target = torch.randint(0, columns, (SAMPLES,), generator=generator)
    else:
        target = torch.randint(0, 2, (SAMPLES, columns), generator=generator)
    if ignore_index is not None:
        target[torch.rand(target.shape, generator=generator) < 0.2] = ignore_index
    return preds, target


@pytest.mark.parametrize("binned", [False, True])
@pytest.mark.parametrize(
    ("task", "input_format", "ignore_index"),
    [
        ("multiclass", "probs", None),
        ("multiclass", "probs", 3),
        ("multiclass", "logits", None),
        ("multiclass", "scores", None),
        ("multilabel", "probs", None),
        ("multilabel", "probs", -1),
        ("multilabel", "logits", None),
        ("multilabel", "scores", None),
    ],
)
def test_chosen_classes_equal_their_entries_of_the_full_counts(
    task: str, input_format: str, ignore_index: int | None, binned: bool
) -> None:
    # raw scores take explicit threshold values (in score units); the other formats an evenly spaced count
    thresholds = None if not binned else torch.linspace(-3, 3, 11).tolist() if input_format == "scores" else 11
    columns = 13
    preds, target = _data(task, columns, input_format, ignore_index)
    num_classes, num_labels = (columns, None) if task == "multiclass" else (None, columns)
    state, columns, grid = _curve_state(
        preds, target, task, thresholds, num_classes, num_labels, ignore_index, input_format
    )
    full = _curve_counts_compute(state, task, columns, grid, input_format)
    for chosen in ([12, 0, 5, 6, 11], [3], [4, 5, 6, 7, 8], list(range(columns))[::-1]):
        got = _curve_counts_compute(state, task, columns, grid, input_format, classes=torch.tensor(chosen))
        assert len(got) == len(chosen)
        for counts, c in zip(got, chosen, strict=True):
            for field, want in zip(counts, full[c], strict=True):
                assert field.dtype == want.dtype
                assert torch.equal(field, want)
    positives = _class_positives(state, task, columns, grid)
    expected = [int(c.tp[0] + c.fn[0]) if c.tp.numel() else 0 for c in full]
    assert positives.tolist() == expected


def test_binary_positives_count_the_positive_class() -> None:
    state, columns, grid = _curve_state(
        torch.rand(30), torch.arange(30) % 3 == 0, "binary", None, None, None, None, "probs"
    )
    assert _class_positives(state, "binary", columns, grid).tolist() == [10]
