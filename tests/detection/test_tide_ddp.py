"""2-process gloo DDP: DetectionErrorBreakdown with uneven images per rank, and with a rank that saw nothing, gives
exactly the 1-process result (and tidecv's)."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit import DetectionErrorBreakdown
from tests._ddp import run_in_processes
from tests._tide_data import random_tide_set, tidecv_breakdown

NUM_IMAGES = 11


def _evaluate(rank: int, world_size: int, bounds: list[tuple[int, int]]) -> dict:
    """One rank's share: images [start, stop), in updates of 2 images (no update at all when empty)."""
    preds, target = random_tide_set(21, images=NUM_IMAGES)
    metric = DetectionErrorBreakdown(box_format="xywh")
    start, stop = bounds[rank]
    for first in range(start, stop, 2):
        metric.update(preds[first : min(first + 2, stop)], target[first : min(first + 2, stop)])
    return metric.compute()


@pytest.mark.ddp
@pytest.mark.parametrize("bounds", [[(0, 4), (4, NUM_IMAGES)], [(0, 0), (0, NUM_IMAGES)]])
def test_two_gloo_ranks_equal_one_process(bounds: list[tuple[int, int]]) -> None:
    expected = _evaluate(0, 1, [(0, NUM_IMAGES)])
    reference = tidecv_breakdown(*random_tide_set(21, images=NUM_IMAGES))
    assert all(abs(float(expected[key]) - value) <= 1e-6 for key, value in reference.items())
    for result in run_in_processes(_evaluate, 2, bounds):
        assert result.keys() == expected.keys()
        assert all(torch.equal(result[key], value) for key, value in expected.items())


def _evaluate_interleaved(rank: int, world_size: int) -> dict:
    """DistributedSampler's split: rank r gets images r, r + world, ..."""
    preds, target = random_tide_set(21, images=NUM_IMAGES)
    metric = DetectionErrorBreakdown(box_format="xywh")
    mine = list(range(rank, NUM_IMAGES, world_size))
    for first in range(0, len(mine), 2):
        chosen = mine[first : first + 2]
        metric.update([preds[i] for i in chosen], [target[i] for i in chosen])
    return metric.compute()


@pytest.mark.ddp
def test_interleaved_ranks_without_score_ties_equal_one_process() -> None:
    """Only score ties depend on the order images are seen; these scores have none."""
    scores = torch.cat([p["scores"] for p in random_tide_set(21, images=NUM_IMAGES)[0]])
    assert scores.unique().numel() == scores.numel()
    expected = _evaluate(0, 1, [(0, NUM_IMAGES)])
    for result in run_in_processes(_evaluate_interleaved, 2):
        assert all(torch.equal(result[key], value) for key, value in expected.items())


def _evaluate_with_ids(rank: int, world_size: int, split: str) -> dict:
    """Tied scores across images, every target with an image_id; ranks get interleaved or reversed shares."""
    preds, target = random_tide_set(3, images=NUM_IMAGES, ties=True)
    target = [{**t, "image_id": torch.tensor([10 * n])} for n, t in enumerate(target)]
    everything = list(range(NUM_IMAGES))
    if world_size == 1:
        mine = everything
    elif split == "interleaved":
        mine = everything[rank::world_size]
    else:  # reversed: rank 0 gets the last images, each rank reads its share backwards
        mine = (everything[NUM_IMAGES // 2 :] if rank == 0 else everything[: NUM_IMAGES // 2])[::-1]
    metric = DetectionErrorBreakdown(box_format="xywh")
    for first in range(0, len(mine), 2):
        chosen = mine[first : first + 2]
        metric.update([preds[i] for i in chosen], [target[i] for i in chosen])
    return metric.compute()


@pytest.mark.ddp
@pytest.mark.parametrize("split", ["interleaved", "reversed"])
def test_ranks_with_image_ids_and_score_ties_equal_one_process_and_tidecv(split: str) -> None:
    expected = _evaluate_with_ids(0, 1, split)
    reference = tidecv_breakdown(*random_tide_set(3, images=NUM_IMAGES, ties=True))  # images in ascending id order
    assert all(abs(float(expected[key]) - value) <= 1e-6 for key, value in reference.items())
    for result in run_in_processes(_evaluate_with_ids, 2, split):
        assert result.keys() == expected.keys()
        assert all(torch.equal(result[key], value) for key, value in expected.items())
