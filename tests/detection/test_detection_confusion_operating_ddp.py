"""2-process gloo DDP: DetectionConfusionMatrix and DetectionOperatingPoint over uneven shares, and with a rank
that saw no image, give exactly the 1-process result."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit import DetectionConfusionMatrix, DetectionOperatingPoint
from tests._ddp import run_in_processes
from tests._detection_data import random_images

NUM_IMAGES = 11


def _make(name: str):
    if name == "confusion":
        return DetectionConfusionMatrix(num_classes=4, iou_threshold=0.4, score_threshold=0.3, box_format="xywh")
    return DetectionOperatingPoint(box_format="xywh", num_classes=4)


def _evaluate(rank: int, world_size: int, name: str, bounds: list[tuple[int, int]]):
    """One rank's share: images [start, stop), in updates of 2 images (no update at all when empty)."""
    preds, target = random_images(17, NUM_IMAGES, scale=6, tied_scores=False)
    metric = _make(name)
    start, stop = bounds[rank]
    for first in range(start, stop, 2):
        metric.update(preds[first : min(first + 2, stop)], target[first : min(first + 2, stop)])
    return metric.compute()


@pytest.mark.ddp
@pytest.mark.parametrize("name", ["confusion", "operating"])
@pytest.mark.parametrize("bounds", [[(0, 4), (4, NUM_IMAGES)], [(0, 0), (0, NUM_IMAGES)]])
def test_two_gloo_ranks_equal_one_process(name, bounds):
    expected = _evaluate(0, 1, name, [(0, NUM_IMAGES)])
    for result in run_in_processes(_evaluate, 2, name, bounds):
        if name == "confusion":
            assert torch.equal(result, expected)
            continue
        assert result.keys() == expected.keys()
        for key, value in expected.items():
            # the curves sum per-class changes in score order: the order of records across ranks cannot matter
            assert torch.equal(result[key].nan_to_num(-7.0), value.nan_to_num(-7.0)), key
