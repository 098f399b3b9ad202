"""COCO matching's fast path (groups whose detections have one candidate each) equals the general rounds."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_evalkit.detection.coco.flags import unpack_area_flags
from lightning_evalkit.detection.coco.match import (
    _area_outside,
    _match_candidates,
    _match_flags,
    _Matches,
    candidate_pairs,
    pair_box_iou,
)
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import AREA_RANGES, DEFAULT_IOU_THRESHOLDS
from tests._detection_data import random_images

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}


def _flags(found: _Matches, outside: torch.Tensor, gt_ignored: torch.Tensor, num_thr: int):
    """_match_flags' packed (matched, ignored), unpacked to (N, T, A) bool."""
    packed = _match_flags(found, outside, gt_ignored, num_thr)
    return tuple(unpack_area_flags(flags, outside.shape[1]) for flags in packed)


def _match_both_ways(batch, thresholds: torch.Tensor, ranges: torch.Tensor, micro: bool):
    if micro:
        zeros = torch.zeros_like(batch.det_labels), torch.zeros_like(batch.gt_labels)
        batch = batch._replace(det_labels=zeros[0], gt_labels=zeros[1])
    pairs = candidate_pairs(batch, 100)
    iou = pair_box_iou(batch, pairs.det_order[pairs.pair_det], pairs.gt_order[pairs.pair_gt])
    crowd = batch.gt_crowd[pairs.gt_order]
    ignored = crowd[:, None] | _area_outside(batch.gt_areas[pairs.gt_order], ranges)
    outside = _area_outside(batch.det_areas[pairs.det_order], ranges)
    args = (pairs.pair_det, pairs.pair_gt, iou, ignored, crowd, thresholds)
    split = _match_candidates(*args, pairs.pair_group)
    rounds = _match_candidates(*args, None)
    assert rounds.single_dets.numel() == 0
    num_thr = thresholds.numel()
    return split, _flags(split, outside, ignored, num_thr), _flags(rounds, outside, ignored, num_thr)


@settings(max_examples=60, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_images=st.integers(1, 6),
    scale=st.sampled_from([1, 6, 14]),
    num_classes=st.integers(1, 3),
    micro=st.booleans(),
    num_ranges=st.sampled_from([4, 3, 1]),
)
def test_single_candidate_path_equals_the_rounds(seed, num_images, scale, num_classes, micro, num_ranges):
    preds, target = random_images(seed, num_images, max_dets=14, num_classes=num_classes, scale=scale, crowd_prob=0.3)
    batch = parse_detection_inputs(preds, target, "xywh")
    thresholds = torch.tensor([*DEFAULT_IOU_THRESHOLDS, 0.0, 1.0], dtype=torch.float64)
    ranges = torch.tensor(AREA_RANGES, dtype=torch.float64)[:num_ranges]
    _, (matched, ignored), (matched_ref, ignored_ref) = _match_both_ways(batch, thresholds, ranges, micro)
    assert torch.equal(matched, matched_ref) and torch.equal(ignored, ignored_ref)


def test_both_paths_are_exercised():
    """Duplicates competing for one ground truth (fast path) and a detection between two (rounds)."""
    gt_boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 0, 10, 10], [50.0, 50, 10, 10]])
    gt = {"boxes": gt_boxes, "labels": torch.tensor([0, 0, 1]), "iscrowd": torch.tensor([0, 0, 0])}
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.5, 0, 10, 10], [50.0, 50, 10, 10], [50.0, 51, 10, 10]])
    boxes = torch.cat([boxes, torch.tensor([[51.0, 50, 9, 10]])])
    pred = {"boxes": boxes, "scores": torch.tensor([0.9, 0.8, 0.7, 0.6, 0.95]), "labels": torch.tensor([0, 0, 1, 1, 1])}
    batch = parse_detection_inputs([pred], [gt], "xywh")
    thresholds = torch.tensor(DEFAULT_IOU_THRESHOLDS, dtype=torch.float64)
    ranges = torch.tensor(AREA_RANGES, dtype=torch.float64)
    split, (matched, ignored), (matched_ref, ignored_ref) = _match_both_ways(batch, thresholds, ranges, False)
    assert split.single_dets.numel() == 3 and split.dets.numel() == 2  # class 1 alone; class 0 in rounds
    assert torch.equal(matched, matched_ref) and torch.equal(ignored, ignored_ref)
    # rows by (class, -score). Class 0: IoU 1 takes gt 0 everywhere, the 0.905 one takes gt 1 up to 0.9.
    # Class 1: the 0.95 detection (IoU 0.9) takes the gt up to 0.9, the exact copy only at 0.95, then nothing.
    assert matched[:, :, 0].sum(1).tolist() == [10, 9, 9, 1, 0]


@pytest.mark.parametrize("num_ranges", [4, 3])
def test_flags_without_candidates(num_ranges):
    outside = torch.tensor([[False, True, False, True][:num_ranges], [True] * num_ranges])
    none = torch.zeros(0, dtype=torch.long)
    found = _Matches(none, torch.zeros(0, 2, dtype=torch.long), none, torch.zeros(0, 2, num_ranges, dtype=torch.long))
    matched, ignored = _flags(found, outside, torch.zeros(0, num_ranges, dtype=torch.bool), 2)
    assert not matched.any() and torch.equal(ignored, outside[:, None, :].expand(-1, 2, -1))
