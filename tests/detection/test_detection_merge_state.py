"""``a.merge_state(b)`` on MeanAveragePrecision equals one metric updated with a's images and then b's: every
result, the extended summary's ``ious`` (image indices continue after a's) and score ties between images without
``image_id`` (they follow the order images were seen), for bbox, segm and both, with and without pending batches.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torchmetrics.utilities import dim_zero_cat

from lightning_evalkit import MeanAveragePrecision
from tests._detection_data import random_images, random_masks

pytestmark = pytest.mark.filterwarnings("ignore:No ground truth was counted")
NEVER = 10**9  # a pending limit never reached: every bbox batch waits until the states are read


def _data(iou_type: Any, num_images: int = 9, seed: int = 5) -> tuple[list[dict], list[dict]]:
    """Images with score ties across images, masks and boxes both where ``iou_type`` asks for both."""
    preds, target = random_images(seed, num_images, given_area=True, box_format="xyxy")
    if iou_type == "bbox":
        return preds, target
    mask_preds, mask_target = random_masks(seed, num_images)
    if iou_type == "segm":
        return mask_preds, mask_target
    merged_preds = [{**m, "boxes": _boxes_of(m["masks"])} for m in mask_preds]
    merged_target = [{**m, "boxes": _boxes_of(m["masks"])} for m in mask_target]
    return merged_preds, merged_target


def _boxes_of(masks: torch.Tensor) -> torch.Tensor:
    """xyxy boxes around the masks (an empty mask gets an empty box at 0)."""
    rows, cols = masks.any(2), masks.any(1)
    boxes = torch.zeros(masks.shape[0], 4, dtype=torch.float64)
    for i in range(masks.shape[0]):
        ys, xs = torch.nonzero(rows[i]).flatten(), torch.nonzero(cols[i]).flatten()
        if ys.numel():
            boxes[i] = torch.tensor([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=torch.float64)
    return boxes


def _metric(iou_type: Any, pending: bool, **kwargs: Any) -> MeanAveragePrecision:
    metric = MeanAveragePrecision(iou_type=iou_type, extended_summary=True, class_metrics=True, **kwargs)
    metric._pending_limit = NEVER if pending else 0
    return metric


def _feed(metric: MeanAveragePrecision, preds: list, target: list, bounds: list[tuple[int, int]]) -> None:
    for start, stop in bounds:
        metric.update(preds[start:stop], target[start:stop])


def _assert_same_result(result: dict, expected: dict) -> None:
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        if key.endswith("ious"):
            assert list(result[key]) == list(value), key  # the same (image, class) keys, in the same order
            for index, matrix in value.items():
                assert torch.equal(result[key][index], matrix), (key, index)
        else:
            assert torch.equal(result[key], value), key


IOU_TYPES = ["bbox", "segm", ("bbox", "segm")]
# only bbox batches wait to be matched together (masks are matched at once)
TYPES_PENDING = [("bbox", False), ("bbox", True), ("segm", False), (("bbox", "segm"), False)]


@pytest.mark.parametrize(("iou_type", "pending"), TYPES_PENDING)
@pytest.mark.parametrize("average", ["macro", "micro"])
def test_merge_state_equals_one_metric_updated_with_both_halves(iou_type, pending, average):
    preds, target = _data(iou_type)
    first, second, one = (_metric(iou_type, pending, average=average) for _ in range(3))
    _feed(first, preds, target, [(0, 2), (2, 4)])
    _feed(second, preds, target, [(4, 7), (7, 9)])
    _feed(one, preds, target, [(0, 2), (2, 4), (4, 7), (7, 9)])
    first.merge_state(second)
    result, expected = first.compute(), one.compute()
    _assert_same_result(result, expected)
    assert len(expected["ious" if iou_type != ("bbox", "segm") else "bbox_ious"]) > 0


@pytest.mark.parametrize("iou_type", IOU_TYPES)
def test_merging_three_metrics_in_turn_and_a_state_dict(iou_type):
    preds, target = _data(iou_type, num_images=10)
    parts = [_metric(iou_type, False) for _ in range(3)]
    for metric, bounds in zip(parts, [[(0, 3)], [(3, 5), (5, 6)], [(6, 10)]], strict=True):
        _feed(metric, preds, target, bounds)
    one = _metric(iou_type, False)
    _feed(one, preds, target, [(0, 10)])
    parts[0].merge_state(parts[1])
    # a dict of (synced, one-tensor) states merges like the metric it came from
    parts[0].merge_state({name: dim_zero_cat(value) for name, value in parts[2].metric_state.items()})
    _assert_same_result(parts[0].compute(), one.compute())


@pytest.mark.parametrize("pending", [False, True])
def test_a_fresh_metric_merging_two_in_turn_equals_them_in_order_and_an_empty_one_changes_nothing(pending):
    preds, target = _data("bbox")
    first, second, expected = _metric("bbox", pending), _metric("bbox", pending), _metric("bbox", False)
    _feed(first, preds, target, [(0, 3), (3, 5)])
    _feed(second, preds, target, [(5, 9)])
    _feed(expected, preds, target, [(0, 9)])
    fresh = _metric("bbox", pending)
    fresh.merge_state(first)
    fresh.merge_state(second)
    first.merge_state(_metric("bbox", pending))
    first.merge_state(second)
    with pytest.warns(UserWarning, match="was called before the ``update`` method"):
        merged_into_fresh = fresh.compute()  # torchmetrics counts no update of its own
    _assert_same_result(merged_into_fresh, expected.compute())
    _assert_same_result(first.compute(), expected.compute())


def test_forward_keeps_the_order_images_came_in():
    """forward joins the earlier states and the batch's: the earlier ones stay first (unlike merge_state's)."""
    preds, target = _data("bbox")
    forwarded, updated = _metric("bbox", False), _metric("bbox", False)
    for start, stop in [(0, 2), (2, 5), (5, 9)]:
        forwarded(preds[start:stop], target[start:stop])
    _feed(updated, preds, target, [(0, 2), (2, 5), (5, 9)])
    _assert_same_result(forwarded.compute(), updated.compute())


def test_an_incoming_state_without_every_state_is_rejected_and_changes_nothing():
    preds, target = _data("bbox")
    metric, other = _metric("bbox", False), _metric("bbox", False)
    _feed(metric, preds, target, [(0, 4)])
    _feed(other, preds, target, [(4, 9)])
    before = {name: [value.clone() for value in getattr(metric, name)] for name in metric._defaults}
    incoming = dict(other.metric_state)
    del incoming["iou_values"]
    with pytest.raises(ValueError, match=r"^Expected the incoming state to hold \['iou_values'\], but got keys \["):
        metric.merge_state(incoming)
    for name, values in before.items():
        assert all(torch.equal(a, b) for a, b in zip(getattr(metric, name), values, strict=True)), name
