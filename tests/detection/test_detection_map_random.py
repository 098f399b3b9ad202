"""MeanAveragePrecision against pycocotools' COCOeval run here, on randomised data (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.functional import mean_average_precision
from tests._coco_reference import pycocotools_eval, summary_from_arrays
from tests._detection_data import random_images, random_masks, split_points

pytestmark = pytest.mark.filterwarnings("ignore:No ground truth was counted")
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}
STAT_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large")
STAT_KEYS += ("mar_small", "mar_medium", "mar_large")


def _run_metric(preds, target, parts: int, seed: int, **kwargs) -> dict:
    metric = MeanAveragePrecision(extended_summary=True, **kwargs)
    for start, stop in split_points(seed, len(preds), parts):
        metric.update(preds[start:stop], target[start:stop])
    return metric.compute()


def _assert_same(ours: dict, ref: dict, iou_thresholds: list[float], max_dets: list[int]) -> None:
    for key in ("precision", "recall", "scores"):
        np.testing.assert_allclose(ours[key].numpy(), ref[key], rtol=0, atol=1e-12, err_msg=key)
    expected = summary_from_arrays(ref["precision"], ref["recall"], iou_thresholds, max_dets)
    for key, value in expected.items():
        assert abs(float(ours[key]) - value) < 1e-6, (key, float(ours[key]), value)


@settings(max_examples=60, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_images=st.integers(1, 7),
    scale=st.sampled_from([1, 6, 14]),
    tied_scores=st.booleans(),
    given_area=st.booleans(),
    box_format=st.sampled_from(["xywh", "xyxy"]),
    parts=st.integers(1, 4),
)
def test_bbox_equals_pycocotools(seed, num_images, scale, tied_scores, given_area, box_format, parts):
    preds, target = random_images(
        seed, num_images, scale=scale, tied_scores=tied_scores, given_area=given_area, box_format=box_format
    )
    ours = _run_metric(preds, target, parts, seed, box_format=box_format)
    ref = pycocotools_eval(preds, target, box_format=box_format)
    _assert_same(ours, ref, np.linspace(0.5, 0.95, 10).tolist(), [1, 10, 100])


@settings(max_examples=40, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_images=st.integers(1, 6),
    iou_thresholds=st.lists(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.55, 0.75, 0.9, 1.0]), min_size=1, max_size=4),
    rec_thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=12).map(sorted),
    max_dets=st.lists(st.integers(1, 7), min_size=1, max_size=4, unique=True),
    parts=st.integers(1, 3),
)
def test_custom_thresholds_equal_pycocotools(seed, num_images, iou_thresholds, rec_thresholds, max_dets, parts):
    preds, target = random_images(seed, num_images, max_dets=14, num_classes=2, scale=6)
    kwargs = dict(iou_thresholds=iou_thresholds, rec_thresholds=rec_thresholds, max_detection_thresholds=max_dets)
    ours = _run_metric(preds, target, parts, seed, box_format="xywh", **kwargs)
    ref = pycocotools_eval(preds, target, "xywh", "bbox", iou_thresholds, rec_thresholds, sorted(max_dets))
    _assert_same(ours, ref, iou_thresholds, sorted(max_dets))
    assert [key for key in ours if key.startswith("mar_") and key[4:].isdigit()] == [
        f"mar_{k}" for k in sorted(max_dets)
    ]


@pytest.mark.parametrize("seed", [0, 1])
def test_more_than_100_detections_per_image(seed):
    preds, target = random_images(seed, 3, max_gt=40, max_dets=300, num_classes=1, scale=6)
    assert max(p["labels"].bincount().max() for p in preds if p["labels"].numel()) > 100
    ours = _run_metric(preds, target, 2, seed, box_format="xywh")
    ref = pycocotools_eval(preds, target, "xywh")
    _assert_same(ours, ref, np.linspace(0.5, 0.95, 10).tolist(), [1, 10, 100])


@settings(max_examples=25, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), num_images=st.integers(1, 5), parts=st.integers(1, 3))
def test_segm_equals_pycocotools(seed, num_images, parts):
    preds, target = random_masks(seed, num_images)
    ours = _run_metric(preds, target, parts, seed, iou_type="segm")
    ref = pycocotools_eval(preds, target, iou_type="segm")
    _assert_same(ours, ref, np.linspace(0.5, 0.95, 10).tolist(), [1, 10, 100])


@settings(max_examples=20, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), num_images=st.integers(1, 6))
def test_micro_and_class_metrics_equal_pycocotools(seed, num_images):
    preds, target = random_images(seed, num_images, scale=6)
    ours = _run_metric(preds, target, 2, seed, box_format="xywh", average="micro", class_metrics=True)
    micro_ref = pycocotools_eval(preds, target, "xywh", micro=True)
    _assert_same(ours, micro_ref, np.linspace(0.5, 0.95, 10).tolist(), [1, 10, 100])
    macro_ref = pycocotools_eval(preds, target, "xywh")
    for k in range(ours["classes"].numel()):
        expected = summary_from_arrays(
            macro_ref["precision"][:, :, k : k + 1], macro_ref["recall"][:, k : k + 1], [0.5], [1, 10, 100]
        )
        # one class gives 0-dim results (torchmetrics' squeeze), so index the flattened values
        assert abs(float(ours["map_per_class"].reshape(-1)[k]) - expected["map"]) < 1e-6
        assert abs(float(ours["mar_100_per_class"].reshape(-1)[k]) - expected["mar_100"]) < 1e-6


def test_functional_equals_class():
    preds, target = random_images(5, 6, scale=6, given_area=True)
    kwargs = dict(box_format="xywh", class_metrics=True, extended_summary=True)
    functional = mean_average_precision(preds, target, **kwargs)
    metric = MeanAveragePrecision(**kwargs)
    metric.update(preds[:2], target[:2])
    metric.update(preds[2:], target[2:])
    by_class = metric.compute()
    assert functional.keys() == by_class.keys()
    for key, value in functional.items():
        torch.testing.assert_close(value, by_class[key], rtol=0, atol=0, msg=key)


def test_images_without_anything_and_classes_without_ground_truth():
    preds, target = random_images(11, 4, scale=6)
    empty_pred = {
        "boxes": torch.zeros(0, 4),
        "scores": torch.zeros(0),
        "labels": torch.zeros(0, dtype=torch.long),
    }
    empty_gt = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    orphan = {
        "boxes": torch.tensor([[1.0, 1, 5, 5]]),
        "scores": torch.tensor([0.7]),
        "labels": torch.tensor([9]),
    }
    preds += [empty_pred, orphan, empty_pred]
    target += [empty_gt, empty_gt, {"boxes": torch.tensor([[0.0, 0, 4, 4]]), "labels": torch.tensor([2])}]
    ours = _run_metric(preds, target, 3, 0, box_format="xywh", class_metrics=True)
    ref = pycocotools_eval(preds, target, "xywh")
    _assert_same(ours, ref, np.linspace(0.5, 0.95, 10).tolist(), [1, 10, 100])
    assert 9 in ours["classes"].tolist()
    assert float(ours["map_per_class"][ours["classes"].tolist().index(9)]) == -1.0


def test_nothing_seen_gives_minus_one_with_warning():
    metric = MeanAveragePrecision()
    with pytest.warns(UserWarning, match="No ground truth was counted"):
        result = metric.compute()
    assert float(result["map"]) == -1.0 and float(result["mar_100"]) == -1.0
    assert result["classes"].numel() == 0


@settings(max_examples=30, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), num_images=st.integers(2, 7), parts=st.integers(1, 3), as_tensor=st.booleans())
def test_image_ids_order_score_ties_whatever_order_images_arrive_in(seed, num_images, parts, as_tensor):
    """pycocotools breaks score ties between images by image id: shuffled images with their ids give its result."""
    preds, target = random_images(seed, num_images, scale=6, tied_scores=True)
    ids = [torch.tensor(i + 1) if as_tensor else i + 1 for i in range(num_images)]
    arrival = torch.randperm(num_images, generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled_preds = [preds[i] for i in arrival]
    shuffled_target = [{**target[i], "image_id": ids[i]} for i in arrival]
    ours = _run_metric(shuffled_preds, shuffled_target, parts, seed, box_format="xywh")
    _assert_same(
        ours, pycocotools_eval(preds, target, box_format="xywh"), np.linspace(0.5, 0.95, 10).tolist(), [1, 10, 100]
    )
