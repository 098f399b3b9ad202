"""Box formats and IoU against the published torchmetrics examples, and mask IoU against pycocotools."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lightning_evalkit import MatchedIntersectionOverUnion, MeanAveragePrecision
from lightning_evalkit.functional import (
    box_area,
    box_convert,
    box_iou,
    intersection_over_union,
    mask_iou,
    matched_intersection_over_union,
    mean_average_precision,
)
from tests._detection_data import random_masks


@pytest.fixture
def examples(reference_dir):
    return json.loads((reference_dir / "torchmetrics-box-examples" / "boxes.json").read_text())


def test_iou_matrix_docstring(examples):
    case = examples["iou_functional_docstring"]
    iou = box_iou(torch.tensor(case["preds"]), torch.tensor(case["target"]))
    torch.testing.assert_close(iou, torch.tensor(case["expected_iou_matrix_4dp"]), atol=5e-5, rtol=0)
    assert round(float(iou.diagonal().mean()), 4) == case["expected_mean_of_diagonal_4dp"]


def test_iou_class_docstring_pairs(examples):
    for pair in examples["iou_class_docstring"]["pairs"]:
        iou = box_iou(torch.tensor([pair["pred"]]), torch.tensor([pair["target"]]))
        assert round(float(iou), 4) == pair["expected_iou_4dp"]
        preds = [dict(boxes=torch.tensor([pair["pred"]]), scores=torch.tensor([0.5]), labels=torch.tensor([0]))]
        target = [dict(boxes=torch.tensor([pair["target"]]), labels=torch.tensor([0]))]
        assert round(float(intersection_over_union(preds, target)["iou"]), 4) == pair["expected_iou_4dp"]
        assert round(float(matched_intersection_over_union(preds, target)["iou"]), 4) == pair["expected_iou_4dp"]


def test_map_single_box_docstring(examples):
    case = examples["map_docstring_single_box"]
    preds = [
        dict(
            boxes=torch.tensor([case["pred"]["box"]]),
            scores=torch.tensor([case["pred"]["score"]]),
            labels=torch.tensor([case["pred"]["label"]]),
        )
    ]
    target = [dict(boxes=torch.tensor([case["target"]["box"]]), labels=torch.tensor([case["target"]["label"]]))]
    result = mean_average_precision(preds, target)
    for key, value in case["expected"].items():
        assert float(result[key]) == pytest.approx(value, abs=1e-6), key


@pytest.mark.parametrize("box_format", ["xyxy", "xywh", "cxcywh"])
def test_box_format_case(examples, box_format):
    case = examples["box_format_test"]
    expected = case["expected"][box_format]
    pred, gt = (
        torch.tensor([case["pred"]], dtype=torch.float64),
        torch.tensor([case["target"]], dtype=torch.float64),
    )
    assert round(float(box_iou(pred, gt, box_format=box_format)), 3) == expected["iou_3dp"]
    metric = MeanAveragePrecision(box_format=box_format, iou_thresholds=[0.2])
    metric.update(
        [dict(boxes=pred, scores=torch.tensor([case["score"]]), labels=torch.tensor([case["label"]]))],
        [dict(boxes=gt, labels=torch.tensor([case["label"]]))],
    )
    assert float(metric.compute()["map"]) == expected["map"]


@pytest.mark.parametrize(("fmt_a", "fmt_b"), [("xyxy", "xywh"), ("xyxy", "cxcywh"), ("xywh", "cxcywh")])
def test_box_convert_round_trip_and_area(fmt_a, fmt_b):
    boxes = torch.tensor([[1.0, 2.0, 5.0, 10.0], [0.0, 0.0, 0.0, 0.0], [3.5, 1.25, 7.0, 2.5]])
    start = box_convert(boxes, "xyxy", fmt_a)
    torch.testing.assert_close(box_convert(box_convert(start, fmt_a, fmt_b), fmt_b, fmt_a), start)
    torch.testing.assert_close(box_area(start, fmt_a), box_area(boxes))
    torch.testing.assert_close(box_iou(start, start, box_format=fmt_a), box_iou(boxes, boxes))


def test_box_convert_rejects_unknown_format():
    with pytest.raises(ValueError, match="Expected `in_fmt` to be one of 'xyxy', 'xywh', 'cxcywh', but got 'xy'"):
        box_convert(torch.zeros(1, 4), "xy", "xyxy")


def test_crowd_iou_divides_by_detection_area():
    det = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    gt = torch.tensor([[1.0, 0.0, 5.0, 2.0]])
    assert float(box_iou(det, gt)) == pytest.approx(2 / 10)
    assert float(box_iou(det, gt, iscrowd=torch.tensor([True]))) == pytest.approx(2 / 4)


def test_mask_iou_equals_pycocotools():
    from pycocotools import mask as mask_utils

    preds, target = random_masks(3, 4)
    for pred, gt in zip(preds, target, strict=True):

        def rles(masks):
            return [mask_utils.encode(np.asfortranarray(m.numpy().astype(np.uint8))) for m in masks]

        ours = mask_iou(pred["masks"], gt["masks"], gt["iscrowd"].bool()).numpy()
        ref = mask_utils.iou(rles(pred["masks"]), rles(gt["masks"]), gt["iscrowd"].tolist())
        if len(ref):
            np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15)


def test_iou_metric_pairs_greedily_one_to_one():
    # two predictions on one object: the higher score takes it, the other may not take it again
    preds = [
        dict(
            boxes=torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 5], [20.0, 20, 30, 30]]),
            scores=torch.tensor([0.5, 0.9, 0.3]),
            labels=torch.tensor([0, 0, 1]),
        )
    ]
    target = [
        dict(
            boxes=torch.tensor([[0.0, 0, 10, 10], [50.0, 50, 60, 60], [20.0, 20, 30, 30]]),
            labels=torch.tensor([0, 0, 0]),
        )
    ]
    result = matched_intersection_over_union(preds, target, class_metrics=True)
    # the 0.9 box (IoU 0.5) takes gt 0; the 0.5 box finds nothing left; the class-1 box never counts for gt 2
    assert float(result["iou"]) == pytest.approx(0.5 / 3)
    assert float(result["matched_fraction"]) == pytest.approx(1 / 3)
    assert result["classes"].tolist() == [0]
    metric = MatchedIntersectionOverUnion(class_metrics=True)
    metric.update(preds, target)
    for key, value in metric.compute().items():  # torchmetrics squeezes 1-element tensors
        torch.testing.assert_close(value, result[key].reshape(value.shape))
