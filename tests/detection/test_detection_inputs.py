"""Bad input: each error is pinned, and a rejected update leaves the metric exactly as it was."""

from __future__ import annotations

import math
import re

import pytest
import torch

from lightning_evalkit import MatchedIntersectionOverUnion, MeanAveragePrecision


def _pred(n=2):
    return {
        "boxes": torch.tensor([[0.0, 0, 4, 4], [1.0, 1, 5, 6]])[:n],
        "scores": torch.tensor([0.9, 0.4])[:n],
        "labels": torch.tensor([0, 1])[:n],
    }


def _gt():
    return {"boxes": torch.tensor([[0.0, 0, 4, 5]]), "labels": torch.tensor([0])}


def _with(item, **changes):
    out = dict(item)
    for key, value in changes.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


BAD_PREDS = [
    (
        _with(_pred(), boxes=None),
        ValueError,
        r"Expected `preds\[1\]` to have key 'boxes', but got keys \['labels', 'scores'\]",
    ),
    (
        _with(_pred(), boxes=torch.zeros(2, 3)),
        ValueError,
        r"Expected `boxes` of image 1 in `preds` to have shape \(N, 4\), but got \(2, 3\)",
    ),
    (
        _with(_pred(), scores=torch.tensor([0.5])),
        ValueError,
        r"Expected `scores` of image 1 in `preds` to have shape \(2,\), but got \(1,\)",
    ),
    (
        _with(_pred(), labels=torch.tensor([0, 1, 1])),
        ValueError,
        r"Expected `labels` of image 1 in `preds` to have shape \(2,\), but got \(3,\)",
    ),
    (
        _with(_pred(), labels=torch.tensor([0.0, 1.0])),
        TypeError,
        r"Expected `labels` of image 1 in `preds` to have an integer dtype, but got torch.float32",
    ),
    (
        _with(_pred(), boxes=torch.tensor([[0.0, 0, 4, 4], [1, math.nan, 5, 6]])),
        ValueError,
        r"Expected `boxes` of image 1 in `preds` to be finite, but got NaN",
    ),
    (
        _with(_pred(), scores=torch.tensor([math.inf, 0.1])),
        ValueError,
        r"Expected `scores` of image 1 in `preds` to be finite, but got inf",
    ),
    (
        _with(_pred(), boxes=torch.tensor([[0.0, 0, 4, 4], [5.0, 1, 1, 6]])),
        ValueError,
        r"Expected `boxes` of image 1 in `preds` to have x2 >= x1 and y2 >= y1 \(box_format='xyxy'\), "
        r"but got box 1 = \[5.0, 1.0, 1.0, 6.0\]",
    ),
    (
        _with(_pred(), boxes=torch.ones(2, 4, dtype=torch.bool)),
        TypeError,
        r"Expected `boxes` of image 1 in `preds` to have a real dtype, but got torch.bool",
    ),
    ([1, 2], TypeError, r"Expected `preds\[1\]` to be a dict, but got list"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_PREDS)
def test_bad_prediction_is_rejected_before_any_state_change(bad, error, message):
    metric = MeanAveragePrecision()
    metric.update([_pred()], [_gt()])
    before = {name: [t.clone() for t in getattr(metric, name)] for name in metric._defaults}
    with pytest.raises(error, match=message):
        metric.update([_pred(), bad], [_gt(), _gt()])
    for name, values in before.items():
        now = getattr(metric, name)
        assert len(now) == len(values) and all(torch.equal(a, b) for a, b in zip(now, values, strict=True)), name


BAD_TARGETS = [
    (_with(_gt(), labels=None), ValueError, r"Expected `target\[0\]` to have key 'labels'"),
    (
        _with(_gt(), iscrowd=torch.tensor([0, 1])),
        ValueError,
        r"Expected `iscrowd` of image 0 in `target` to have shape \(1,\), but got \(2,\)",
    ),
    (
        _with(_gt(), area=torch.tensor([-3.0])),
        ValueError,
        r"Expected `area` of image 0 in `target` to be >= 0, but got -3",
    ),
    (
        _with(_gt(), area=torch.tensor([math.nan])),
        ValueError,
        r"Expected `area` of image 0 in `target` to be finite, but got NaN",
    ),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_TARGETS)
def test_bad_target(bad, error, message):
    metric = MeanAveragePrecision()
    with pytest.raises(error, match=message):
        metric.update([_pred()], [bad])
    assert all(getattr(metric, name) == [] for name in metric._defaults)


def test_negative_width_in_xywh_and_length_mismatch():
    metric = MeanAveragePrecision(box_format="xywh")
    bad = _with(_gt(), boxes=torch.tensor([[0.0, 0, -1, 5]]))
    with pytest.raises(
        ValueError,
        match=r"Expected `boxes` of image 0 in `target` to have a non-negative width and height "
        r"\(box_format='xywh'\)",
    ):
        metric.update([_pred()], [bad])
    with pytest.raises(ValueError, match="Expected `preds` and `target` to have the same length, but got 1 and 2"):
        metric.update([_pred()], [_gt(), _gt()])
    with pytest.raises(TypeError, match="Expected `preds` to be a list of dicts, but got Tensor"):
        metric.update(torch.zeros(2), [_gt()])


def test_masks_must_match():
    metric = MeanAveragePrecision(iou_type="segm")
    pred = {
        "masks": torch.zeros(1, 4, 5, dtype=torch.bool),
        "scores": torch.tensor([0.5]),
        "labels": torch.tensor([0]),
    }
    gt = {"masks": torch.zeros(1, 4, 6, dtype=torch.bool), "labels": torch.tensor([0])}
    with pytest.raises(
        ValueError,
        match=r"Expected `masks` of image 0 in `preds` and `target` to have the same \(H, W\), "
        r"but got \(4, 5\) and \(4, 6\)",
    ):
        metric.update([pred], [gt])
    with pytest.raises(
        ValueError,
        match=r"Expected `masks` of image 0 in `target` to hold only 0 and 1, but got 2",
    ):
        metric.update([pred], [_with(gt, masks=torch.full((1, 4, 5), 2, dtype=torch.uint8))])
    with pytest.raises(
        ValueError, match=r"Expected `labels` of image 0 in `target` to have shape \(1,\), but got \(2,\)"
    ):
        metric.update([pred], [_with(gt, masks=torch.zeros(1, 4, 5, dtype=torch.bool), labels=torch.tensor([0, 0]))])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"box_format": "xyz"},
            ValueError,
            "Expected `box_format` to be one of 'xyxy', 'xywh', 'cxcywh', but got 'xyz'",
        ),
        ({"iou_type": "keypoints"}, ValueError, "Expected `iou_type` to be one of 'bbox', 'segm'"),
        ({"average": "weighted"}, ValueError, "Expected `average` to be one of 'macro', 'micro'"),
        ({"iou_thresholds": [0.5, 1.5]}, ValueError, r"Expected `iou_thresholds` to lie in \[0, 1\]"),
        (
            {"rec_thresholds": [0.5, 0.1]},
            ValueError,
            "Expected `rec_thresholds` to be sorted in increasing order",
        ),
        (
            {"max_detection_thresholds": [0, 10]},
            ValueError,
            "Expected `max_detection_thresholds` to be None or a non-empty list of ints >= 1",
        ),
        ({"class_metrics": 1}, TypeError, "Expected `class_metrics` to be a bool, but got int"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        MeanAveragePrecision(**kwargs)


def test_iou_metric_rejects_and_keeps_state():
    metric = MatchedIntersectionOverUnion()
    metric.update([_pred()], [_gt()])
    with pytest.raises(
        ValueError, match=r"Expected `scores` of image 0 in `preds` to have shape \(2,\), but got \(1,\)"
    ):
        metric.update([_with(_pred(), scores=torch.tensor([0.3]))], [_gt()])
    assert len(metric.gt_iou) == 1
    with pytest.raises(ValueError, match=r"Expected `iou_threshold` to lie in \[0, 1\]"):
        MatchedIntersectionOverUnion(iou_threshold=2.0)


def test_image_id_must_be_on_every_target_of_a_batch_or_none():
    metric = MeanAveragePrecision()
    box = {"boxes": torch.tensor([[0.0, 0.0, 2.0, 2.0]]), "labels": torch.tensor([1])}
    pred = {**box, "scores": torch.tensor([0.5])}
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Expected `image_id` in every target of the batch once one has it, but image 1 in `target` has none."
        ),
    ):
        metric.update([pred, pred], [{**box, "image_id": 3}, box])
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Expected `image_id` of image 0 in `target` to be an int or a one-element integer tensor, "
            "but got a tensor of shape (2,) and dtype torch.int64."
        ),
    ):
        metric.update([pred], [{**box, "image_id": torch.tensor([1, 2])}])
    with pytest.raises(TypeError, match=re.escape("but got float.")):
        metric.update([pred], [{**box, "image_id": 1.0}])
    assert all(len(v) == 0 for v in metric.metric_state.values())
