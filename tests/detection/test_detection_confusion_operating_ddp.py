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
    if name == "confusion":
        return metric.compute()
    return metric.compute(), metric.per_class_curves()  # each a collective: every rank calls both


@pytest.mark.ddp
@pytest.mark.parametrize(
    ("name", "bounds"),
    [
        ("confusion", [(0, 4), (4, NUM_IMAGES)]),
        ("operating", [(0, 0), (0, NUM_IMAGES)]),
        pytest.param("operating", [(0, 4), (4, NUM_IMAGES)], marks=pytest.mark.slow),
        pytest.param("confusion", [(0, 0), (0, NUM_IMAGES)], marks=pytest.mark.slow),
    ],
)
def test_two_gloo_ranks_equal_one_process(name, bounds):
    expected = _evaluate(0, 1, name, [(0, NUM_IMAGES)])
    for result in run_in_processes(_evaluate, 2, name, bounds):
        if name == "confusion":
            assert torch.equal(result, expected)
            continue
        (result, curves), (expected_result, expected_curves) = result, expected
        assert result.keys() == expected_result.keys()
        for key, value in expected_result.items():
            # the curves sum per-class changes in score order: the order of records across ranks cannot matter
            assert torch.equal(result[key].nan_to_num(-7.0), value.nan_to_num(-7.0)), key
        assert curves.keys() == expected_curves.keys()
        for label, curve in expected_curves.items():
            assert all(torch.equal(curves[label][key], value) for key, value in curve.items()), label
