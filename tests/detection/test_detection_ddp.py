"""2-process gloo DDP: uneven images per rank and a rank with no images give exactly the 1-process result."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit import IntersectionOverUnion, MatchedIntersectionOverUnion, MeanAveragePrecision
from tests._ddp import run_in_processes
from tests._detection_data import random_images, random_masks

NUM_IMAGES = 11


def _data(iou_type: str):
    if iou_type == "segm":
        return random_masks(7, NUM_IMAGES)
    return random_images(7, NUM_IMAGES, scale=6, given_area=True)


def _make(name: str):
    if name == "iou":
        return MatchedIntersectionOverUnion(box_format="xywh", class_metrics=True)
    if name == "tm_iou":
        return IntersectionOverUnion(box_format="xywh", class_metrics=True, iou_threshold=0.3)
    iou_type = "segm" if name == "segm" else "bbox"
    average = "micro" if name == "micro" else "macro"
    return MeanAveragePrecision(
        box_format="xywh", iou_type=iou_type, average=average, class_metrics=True, extended_summary=True
    )


def _evaluate(rank: int, world_size: int, name: str, bounds: list[tuple[int, int]]) -> dict:
    """One rank's share: images [start, stop), in updates of 2 images (no update at all when empty)."""
    preds, target = _data("segm" if name == "segm" else "bbox")
    metric = _make(name)
    start, stop = bounds[rank]
    for first in range(start, stop, 2):
        last = min(first + 2, stop)
        metric.update(preds[first:last], target[first:last])
    return metric.compute()


def _single_process(name: str) -> dict:
    return _evaluate(0, 1, name, [(0, NUM_IMAGES)])


@pytest.mark.ddp
@pytest.mark.parametrize(
    ("name", "bounds"),
    [
        ("bbox", [(0, 3), (3, NUM_IMAGES)]),
        ("bbox", [(0, NUM_IMAGES), (NUM_IMAGES, NUM_IMAGES)]),
        ("micro", [(0, 0), (0, NUM_IMAGES)]),
        pytest.param("segm", [(0, 7), (7, NUM_IMAGES)], marks=pytest.mark.slow),
        ("iou", [(0, 0), (0, NUM_IMAGES)]),
        ("tm_iou", [(0, 5), (5, NUM_IMAGES)]),
    ],
)
def test_two_gloo_ranks_equal_one_process(name, bounds):
    expected = _single_process(name)
    results = run_in_processes(_evaluate, 2, name, bounds)
    for result in results:
        assert result.keys() == expected.keys()
        for key, value in expected.items():
            if key == "ious":  # contiguous shares: rank by rank is the one-process image order
                assert value.keys() == result[key].keys()
                assert all(torch.equal(result[key][k], v) for k, v in value.items())
            else:
                assert torch.equal(result[key], value), key


def _evaluate_interleaved(rank: int, world_size: int) -> dict:
    """DistributedSampler's split: rank r gets images r, r + world, ...; each target carries its image_id."""
    preds, target = _data("bbox")
    target = [{**t, "image_id": i} for i, t in enumerate(target)]
    metric = _make("bbox")
    mine = list(range(rank, NUM_IMAGES, world_size))
    for first in range(0, len(mine), 2):
        chosen = mine[first : first + 2]
        metric.update([preds[i] for i in chosen], [target[i] for i in chosen])
    return metric.compute()


@pytest.mark.ddp
def test_interleaved_ranks_with_image_ids_equal_one_process():
    """Score ties across images (the data has them) rank by image id, not by which rank held the image."""
    expected = _single_process("bbox")
    for result in run_in_processes(_evaluate_interleaved, 2):
        for key, value in expected.items():
            if key != "ious":  # ious are indexed by the order images arrive in: rank by rank
                assert torch.equal(result[key], value), key
