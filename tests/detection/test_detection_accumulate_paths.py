"""The compiled accumulation (coco/accumulate_numba.py) gives the vectorised accumulation's mean precision and
recall bit for bit: ties across images, unsorted image ids, crowds, given areas, max-detections values below the
matching's cut, pooled classes, more than 8 area ranges (two flag bytes), empty records.
(test_detection_match_paths.py runs both kernels, matching and accumulation, against pycocotools.)"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_evalkit._core.compiled import compiled_module
from lightning_evalkit.detection.coco import accumulate as accumulate_module
from lightning_evalkit.detection.coco.accumulate import coco_accumulate
from lightning_evalkit.detection.coco.match import CocoRecords, coco_match
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import AREA_RANGES, DEFAULT_IOU_THRESHOLDS, DEFAULT_REC_THRESHOLDS
from tests._detection_data import random_images

pytestmark = pytest.mark.skipif(
    compiled_module(accumulate_module._KERNELS) is None,
    reason="numba is not installed: only the vectorised accumulation runs",
)


def _records(preds: list, target: list, ranges: Any = AREA_RANGES, max_det: int = 100) -> CocoRecords:
    batch = parse_detection_inputs(preds, target, "xywh", ("bbox",))
    thresholds = torch.tensor(DEFAULT_IOU_THRESHOLDS, dtype=torch.float64)
    return coco_match(batch, thresholds, torch.tensor(ranges, dtype=torch.float64), max_det, "bbox")


def _accumulate(records: CocoRecords, compiled: bool, max_dets: list[int], pooled: bool = False) -> Any:
    det_labels, gt_labels = records.det_labels, records.gt_labels
    if pooled:
        det_labels, gt_labels = torch.zeros_like(det_labels), torch.zeros_like(gt_labels)
    recs = torch.tensor(DEFAULT_REC_THRESHOLDS, dtype=torch.float64)
    args = (records.det_scores, det_labels, records.det_ranks, records.det_matched, records.det_ignored)
    with pytest.MonkeyPatch.context() as patch:
        if not compiled:
            patch.setattr(accumulate_module, "compiled_module", lambda name: None)
        return coco_accumulate(
            *args, gt_labels, records.gt_counted, recs, max_dets, records.det_image_ids,
            every_max_det=False, precision_array=False,
        )  # fmt: skip


def _assert_same(records: CocoRecords, max_dets: list[int], pooled: bool = False) -> None:
    compiled = _accumulate(records, True, max_dets, pooled)
    vectorised = _accumulate(records, False, max_dets, pooled)
    assert compiled.precision is None and compiled.scores is None
    for name in ("classes", "precision_mean", "recall"):
        mine, reference = getattr(compiled, name), getattr(vectorised, name)
        assert mine.dtype == reference.dtype and mine.shape == reference.shape, name
        assert torch.equal(mine, reference), name
    assert bool((compiled.precision_mean > -1).any())


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"max_gt": 14, "max_dets": 30, "num_classes": 2},  # many true positives per class
        {"given_area": True, "crowd_prob": 0.5},
        {"tied_scores": False, "scale": 9},
    ],
)
def test_the_compiled_accumulation_equals_the_vectorised_one(options: dict) -> None:
    preds, target = random_images(17, 40, **options)
    for index, image in enumerate(target):  # image ids out of order: score ties go by image id
        image["image_id"] = (index * 7919) % 101
    records = _records(preds, target)
    assert records.det_labels.numel() > 100
    _assert_same(records, [1, 10, 100])
    _assert_same(records, [1, 2, 3])  # records ranked 3 or later are left out
    _assert_same(records, [5], pooled=True)  # micro: every class pooled


def test_more_than_eight_area_ranges_take_two_flag_bytes() -> None:
    preds, target = random_images(5, 30, max_gt=10, max_dets=20, scale=9)
    ranges = [[0.0, 1e10]] + [[100.0 * i, 100.0 * (i + 3)] for i in range(9)]
    records = _records(preds, target, ranges)
    assert records.det_matched.shape[-1] == 2
    _assert_same(records, [1, 10, 100])


def test_empty_records_and_a_class_without_ground_truth() -> None:
    preds, target = random_images(3, 4)
    for image in target:  # class 2 has detections and no ground truth: undefined (-1)
        keep = image["labels"] != 2
        image.update(boxes=image["boxes"][keep], labels=image["labels"][keep], iscrowd=image["iscrowd"][keep])
    _assert_same(_records(preds, target), [1, 10, 100])
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}]
    gt = [{"boxes": torch.tensor([[0.0, 0.0, 5.0, 5.0]]), "labels": torch.tensor([1])}]
    compiled, vectorised = (_accumulate(_records(empty, gt), flag, [1, 10, 100]) for flag in (True, False))
    assert torch.equal(compiled.recall, vectorised.recall)
    assert torch.equal(compiled.precision_mean, vectorised.precision_mean)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    images=st.integers(1, 8),
    crowd=st.sampled_from([0.0, 0.3, 1.0]),
    max_dets=st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True).map(sorted),
    pooled=st.booleans(),
)
def test_random_records_accumulate_alike(seed: int, images: int, crowd: float, max_dets: list, pooled: bool) -> None:
    preds, target = random_images(seed, images, max_gt=5, max_dets=12, num_classes=3, crowd_prob=crowd, scale=3)
    records = _records(preds, target, max_det=8)
    if not bool(records.gt_counted.any()):
        return
    compiled = _accumulate(records, True, max_dets, pooled)
    vectorised = _accumulate(records, False, max_dets, pooled)
    assert torch.equal(compiled.precision_mean, vectorised.precision_mean)
    assert torch.equal(compiled.recall, vectorised.recall)
