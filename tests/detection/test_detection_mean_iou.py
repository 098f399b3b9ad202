"""MeanIoU: per-class counts summed over the data, checked against a direct count and its functional twin."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit import MeanIoU
from lightning_evalkit.functional import mean_iou


def _direct(preds, target, num_classes, ignore_index):
    keep = target != ignore_index
    ious = []
    for c in range(num_classes):
        inter = ((preds == c) & (target == c) & keep).sum()
        union = (((preds == c) | (target == c)) & keep).sum()
        ious.append(float(inter) / float(union) if union else -1.0)
    return ious


def test_counts_summed_over_updates_equal_direct_count_and_functional():
    gen = torch.Generator().manual_seed(0)
    preds = torch.randint(0, 4, (6, 9, 7), generator=gen)
    target = torch.randint(0, 4, (6, 9, 7), generator=gen)
    target[target == 3] = 255  # class 3 only ever predicted, some pixels ignored
    metric = MeanIoU(num_classes=4, ignore_index=255, per_class=True)
    metric.update(preds[:2], target[:2])
    metric.update(preds[2:], target[2:])
    with pytest.warns(UserWarning, match="never occur"):
        mean_iou(preds, target, 5, ignore_index=255)
    result = metric.compute()
    expected = _direct(preds, target, 4, 255)
    torch.testing.assert_close(result["iou_per_class"], torch.tensor(expected, dtype=torch.float32))
    assert float(result["miou"]) == pytest.approx(sum(expected) / 4)
    functional = mean_iou(preds, target, 4, ignore_index=255, per_class=True)
    for key, value in functional.items():
        torch.testing.assert_close(value, result[key])


def test_bad_input_leaves_state_unchanged():
    metric = MeanIoU(num_classes=3)
    metric.update(torch.tensor([0, 1]), torch.tensor([0, 2]))
    before = (metric.intersection.clone(), metric.union.clone())
    with pytest.raises(ValueError, match=r"Expected `preds` values to lie in \[0, 3\), but got 3"):
        metric.update(torch.tensor([3, 1]), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="Expected `preds` and `target` to have the same shape"):
        metric.update(torch.tensor([0, 1, 1]), torch.tensor([0, 2]))
    with pytest.raises(
        TypeError, match=r"Expected `preds` to hold integer class indices, but got dtype torch\.float32"
    ):
        metric.update(torch.tensor([0.0, 1.0]), torch.tensor([0, 2]))
    assert torch.equal(metric.intersection, before[0]) and torch.equal(metric.union, before[1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="Expected `num_classes` to be an int >= 1, but got 0"):
        MeanIoU(num_classes=0)
    with pytest.raises(TypeError, match="Expected `ignore_index` to be None or an int, but got float"):
        MeanIoU(num_classes=2, ignore_index=1.5)
