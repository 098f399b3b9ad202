"""Inputs torchmetrics users write, each equal to pycocotools on the canonical (float boxes, bool masks) input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.functional import mean_average_precision
from tests._coco_reference import pycocotools_eval, summary_from_arrays
from tests._detection_data import random_images, random_masks

IOUS = np.linspace(0.5, 0.95, 10).tolist()
MAX_DETS = [1, 10, 100]


def _reference(preds, target, iou_type="bbox"):
    arrays = pycocotools_eval(preds, target, "xyxy", iou_type)
    return summary_from_arrays(arrays["precision"], arrays["recall"], IOUS, MAX_DETS)


def _empty_as_vectors(item: dict) -> dict:
    """An image without boxes written the torchmetrics way: every key ``torch.tensor([])``."""
    if item["labels"].numel():
        return item
    return {key: torch.tensor([]) for key in item}


def _assert_equal(result: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert result[key].item() == pytest.approx(value, abs=1e-6), key


def test_integer_boxes_and_empty_tensor_images_equal_pycocotools():
    preds, target = random_images(3, 12, box_format="xyxy")
    target = [{k: v for k, v in t.items() if k != "iscrowd"} for t in target]
    assert any(t["labels"].numel() == 0 for t in target) and any(p["labels"].numel() == 0 for p in preds)
    idiom_preds = [_empty_as_vectors({**p, "boxes": p["boxes"].long()}) for p in preds]
    idiom_target = [_empty_as_vectors({**t, "boxes": t["boxes"].int()}) for t in target]
    metric = MeanAveragePrecision()
    metric.update(idiom_preds, idiom_target)
    expected = _reference(preds, target)
    _assert_equal(metric.compute(), expected)
    _assert_equal(mean_average_precision(idiom_preds, idiom_target), expected)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.float32, torch.bool])
def test_integer_and_float_masks_equal_pycocotools(dtype):
    preds, target = random_masks(1, 8)
    assert any(t["labels"].numel() == 0 for t in target) and any(p["labels"].numel() == 0 for p in preds)

    def idiom(item: dict) -> dict:
        if item["labels"].numel() == 0:  # torch.Tensor([]) masks for an empty image, as torchmetrics' tests write
            return {**{k: torch.tensor([]) for k in item}, "masks": torch.Tensor([])}
        return {**item, "masks": item["masks"].to(dtype)}

    metric = MeanAveragePrecision(iou_type="segm")
    metric.update([idiom(p) for p in preds], [idiom(t) for t in target])
    _assert_equal(metric.compute(), _reference(preds, target, "segm"))


def test_half_precision_boxes_and_scores_give_the_float32_answer():
    preds, target = random_images(8, 10, box_format="xyxy", tied_scores=False)
    half = [{**p, "boxes": p["boxes"].half(), "scores": p["scores"].bfloat16()} for p in preds]
    as_float32 = [{**p, "boxes": p["boxes"].float(), "scores": p["scores"].float()} for p in half]
    result = mean_average_precision(half, target)
    expected = mean_average_precision(as_float32, target)
    assert all(torch.equal(result[k], expected[k]) for k in expected)
