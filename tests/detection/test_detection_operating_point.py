"""DetectionOperatingPoint and detection_operating_point against faster-coco-eval 1.8.0's ``extended_metrics``:
its precision and recall (overall and per class) exactly, on random (seeded and hypothesis) data and edge cases;
the curves and the best threshold against the same sweep run on faster-coco-eval's own true-positive flags;
functional == class, merge_state, refused updates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_evalkit import DetectionOperatingPoint
from lightning_evalkit.functional import detection_operating_point
from tests._detection_data import random_images, random_masks
from tests._fce_reference import fce_extended_metrics, fce_tp_flags

NUM_CLASSES = 4


def _assert_equals_extended_metrics(preds, target, result, iou_type="bbox", box_format="xywh") -> dict:
    reference = fce_extended_metrics(preds, target, NUM_CLASSES, box_format, iou_type)
    overall = reference["class_map"][-1]
    assert result["precision"].item() == overall["precision"] == reference["precision"]
    assert result["recall"].item() == overall["recall"] == reference["recall"]
    per_class = {int(row["class"]): row for row in reference["class_map"][:-1]}
    defined = torch.nonzero(~torch.isnan(result["precision_per_class"])).flatten().tolist()
    assert defined == sorted(per_class)
    for k, row in per_class.items():
        assert result["precision_per_class"][k].item() == row["precision"], k
        assert result["recall_per_class"][k].item() == row["recall"], k
    return reference


def _reference_sweep(preds, target, box_format="xywh", iou_type="bbox"):
    """extended_metrics' loop, run on faster-coco-eval's own true-positive flags, keeping every threshold:
    (thresholds, macro precision, recall, F1 at each, best threshold)."""
    scores, labels, tp = fce_tp_flags(preds, target, NUM_CLASSES, box_format, iou_type)
    crowd = [t.get("iscrowd", torch.zeros_like(t["labels"])).bool() for t in target]
    gts = np.concatenate([t["labels"][~c].numpy() for t, c in zip(target, crowd, strict=True)])
    counts = np.bincount(gts, minlength=NUM_CLASSES)
    thresholds = np.unique(scores)
    rows = []
    for t in thresholds:
        values = []
        for k in np.flatnonzero(counts):
            above = (labels == k) & (scores >= t)
            hits = int((above & tp).sum())
            p = hits / above.sum() if above.sum() else 0.0
            r = hits / counts[k]
            values.append((p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0))
        rows.append(np.mean(values, axis=0) if values else (0.0, 0.0, 0.0))
    curves = np.array(rows).reshape(-1, 3).T
    best = thresholds[int(np.argmax(curves[2]))] if thresholds.size and counts.any() else np.nan
    return thresholds, curves, best


def _assert_curves(preds, target, result, box_format="xywh", iou_type="bbox") -> None:
    thresholds, curves, best = _reference_sweep(preds, target, box_format, iou_type)
    np.testing.assert_array_equal(result["thresholds"].numpy(), thresholds)
    for row, key in enumerate(("precision_curve", "recall_curve", "f1_curve")):
        np.testing.assert_allclose(result[key].numpy(), curves[row], rtol=0, atol=1e-12, err_msg=key)
    np.testing.assert_array_equal(result["threshold"].numpy(), best)


@pytest.mark.parametrize("seed", range(10))
def test_equals_extended_metrics_on_random_data(seed):
    """Crowds (their matches are true positives: recall can pass 1), score ties, classes without ground truth."""
    preds, target = random_images(seed, 8, scale=6, crowd_prob=0.2, tied_scores=seed % 2 == 0)
    result = detection_operating_point(preds, target, "xywh")
    _assert_equals_extended_metrics(preds, target, result)
    _assert_curves(preds, target, result)


def test_detections_past_100_per_image_and_class_count_but_do_not_match():
    preds, target = random_images(4, 3, max_gt=20, max_dets=400, num_classes=1, scale=6, tied_scores=False)
    assert max(int(torch.bincount(p["labels"]).max()) for p in preds) > 100  # the data makes the case
    result = detection_operating_point(preds, target, "xywh")
    _assert_equals_extended_metrics(preds, target, result)
    _assert_curves(preds, target, result)


def test_a_match_in_a_smaller_area_range_only_is_a_true_positive():
    """Detection B overlaps only the medium ground truth (IoU 0.75; 0.4 with the small one), which A takes in the
    range "all"; in "small" A takes the small one (IoU 0.5625), and B the medium one, ignored there:
    faster-coco-eval counts B as a true positive all the same."""
    preds = [
        dict(
            boxes=torch.tensor([[0.0, 0, 40, 40], [10, 0, 40, 40]]),
            scores=torch.tensor([0.9, 0.8]),
            labels=torch.zeros(2),
        )
    ]
    target = [dict(boxes=torch.tensor([[0.0, 0, 40, 40], [0, 0, 30, 30]]), labels=torch.zeros(2).long())]
    preds[0]["labels"] = preds[0]["labels"].long()
    result = detection_operating_point(preds, target, "xyxy")
    reference = _assert_equals_extended_metrics(preds, target, result, box_format="xyxy")
    assert reference["precision"] == 1.0  # the data makes the case: both are true positives
    _assert_curves(preds, target, result, box_format="xyxy")


def _item(boxes, labels, scores=None) -> dict:
    item = {"boxes": torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4), "labels": torch.tensor(labels).long()}
    if scores is not None:
        item["scores"] = torch.tensor(scores, dtype=torch.float64)
    return item


@pytest.mark.parametrize(
    ("preds", "target"),
    [
        pytest.param([_item([], [], [])], [_item([[0, 0, 5, 5]], [1])], id="no detections"),
        pytest.param([_item([[0, 0, 5, 5]], [1], [0.5])], [_item([], [])], id="no ground truth"),
        pytest.param([_item([[0, 0, 5, 5]], [2], [0.5])], [_item([[0, 0, 5, 5]], [1])], id="only a wrong class"),
        pytest.param(
            [_item([[0, 0, 5, 5], [9, 9, 5, 5], [0, 0, 5, 5]], [1, 1, 0], [0.5, 0.5, 0.5])],
            [_item([[0, 0, 5, 5], [0, 0, 5, 5]], [1, 0])],
            id="one score",
        ),
        # the best F1 holds from 0.9 down to 0.5, the score of a class without ground truth: 0.5 is the best
        pytest.param(
            [_item([[0, 0, 5, 5], [20, 20, 5, 5], [30, 30, 5, 5]], [0, 2, 0], [0.9, 0.5, 0.3])],
            [_item([[0, 0, 5, 5]], [0])],
            id="flat best",
        ),
    ],
)
def test_edge_cases_equal_extended_metrics(preds, target):
    result = detection_operating_point(preds, target, "xywh")
    _assert_equals_extended_metrics(preds, target, result)
    _assert_curves(preds, target, result)


def test_undefined_operating_point_is_nan_threshold_and_zero_values():
    result = detection_operating_point([_item([], [], [])], [_item([[0, 0, 5, 5]], [1])], "xywh")
    assert torch.isnan(result["threshold"]) and result["f1"].item() == 0.0 and result["thresholds"].numel() == 0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), tied=st.booleans(), crowd=st.sampled_from([0.0, 0.3]))
def test_hypothesis_equals_extended_metrics(seed, tied, crowd):
    preds, target = random_images(seed, 5, scale=6, crowd_prob=crowd, tied_scores=tied)
    result = detection_operating_point(preds, target, "xywh")
    _assert_equals_extended_metrics(preds, target, result)
    _assert_curves(preds, target, result)


def test_segm_equals_extended_metrics():
    preds, target = random_masks(5, 5)
    result = detection_operating_point(preds, target, iou_type="segm")
    _assert_equals_extended_metrics(preds, target, result, iou_type="segm")


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-12, equal_nan=True, msg=key)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_class_in_batches_equals_functional_and_merge_state():
    preds, target = random_images(8, 9, scale=6)
    expected = detection_operating_point(preds, target, "xywh")
    whole = DetectionOperatingPoint(box_format="xywh")
    first, second = DetectionOperatingPoint(box_format="xywh"), DetectionOperatingPoint(box_format="xywh")
    for start in range(0, 9, 2):
        whole.update(preds[start : start + 2], target[start : start + 2])
        (first if start < 4 else second).update(preds[start : start + 2], target[start : start + 2])
    _assert_same(whole.compute(), expected)
    first.merge_state(second)
    _assert_same(first.compute(), expected)
    assert DetectionOperatingPoint(num_classes=7).compute()["precision_per_class"].shape == (7,)


@pytest.mark.parametrize(
    ("bad_preds", "bad_target", "message"),
    [
        ([{"boxes": torch.zeros(1, 4), "labels": torch.zeros(1).long()}], [_item([], [])], "scores"),
        ([_item([], [], [])], [_item([[0, 0, 5, 5]], [-2])], r"labels.*of `target`.*\[0, inf\).*got -2"),
    ],
)
def test_refused_update_leaves_the_state_unchanged(bad_preds, bad_target, message):
    metric = DetectionOperatingPoint(box_format="xywh")
    preds, target = random_images(2, 3, scale=6)
    metric.update(preds, target)
    before = metric.compute()
    with pytest.raises((ValueError, TypeError), match=message):
        metric.update(bad_preds, bad_target)
    _assert_same(metric.compute(), before)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="box_format"):
        DetectionOperatingPoint(box_format="xy")
    with pytest.raises(ValueError, match="iou_type"):
        DetectionOperatingPoint(iou_type="keypoints")


@pytest.mark.parametrize("seed", [0, 1])
def test_per_class_curves_equal_the_sweep_on_faster_coco_eval_flags(seed):
    """Each class's precision, recall and F1 at each of its scores, from faster-coco-eval's own true positives."""
    preds, target = random_images(seed, 8, scale=6, crowd_prob=0.2, tied_scores=seed == 0)
    metric = DetectionOperatingPoint(box_format="xywh")
    metric.update(preds, target)
    curves = metric.per_class_curves()
    scores, labels, tp = fce_tp_flags(preds, target, NUM_CLASSES, "xywh", "bbox")
    crowd = [t["iscrowd"].bool() for t in target]
    counts = np.bincount(np.concatenate([t["labels"][~c].numpy() for t, c in zip(target, crowd, strict=True)]))
    assert sorted(curves) == np.flatnonzero(counts).tolist()
    for k, curve in curves.items():
        levels = np.unique(scores[labels == k])
        np.testing.assert_array_equal(curve["thresholds"].numpy(), levels)
        above = (labels[None, :] == k) & (scores[None, :] >= levels[:, None])
        hits = (above & tp[None, :]).sum(1)
        precision, recall = hits / above.sum(1), hits / counts[k]
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
        for key, expected in (("precision", precision), ("recall", recall), ("f1", f1)):
            np.testing.assert_array_equal(curve[key].numpy(), expected, err_msg=f"{key} of class {k}")


@pytest.mark.parametrize("seed", [0, 1])
def test_interpolated_f1_curve_of_faster_coco_eval_curves_from_mean_average_precision(seed):
    """The recipe docs/detection.md gives for faster-coco-eval's other F1 curve (``Curves.plot_f1_confidence``,
    interpolated at 101 recall points, class-aware): MeanAveragePrecision's extended summary at one IoU."""
    from faster_coco_eval.extra import Curves

    from lightning_evalkit import MeanAveragePrecision
    from tests._fce_reference import _datasets

    preds, target = random_images(seed, 8, scale=6, tied_scores=False, crowd_prob=0.2)
    gt, dt = _datasets(preds, target, NUM_CLASSES, "xywh", "bbox")
    curves = Curves(gt, dt, iouType="bbox", iou_tresh=0.5, useCats=True).build_curve("category_id")
    metric = MeanAveragePrecision(
        box_format="xywh", iou_thresholds=[0.5], max_detection_thresholds=[1000], extended_summary=True
    )
    metric.update(preds, target)
    result = metric.compute()
    recall = np.linspace(0.0, 1.0, 101)
    assert len(curves) == 3  # the data makes the case: one curve per class with ground truth
    for curve in curves:
        k = result["classes"].tolist().index(curve["category_id"])
        precision, scores = result["precision"][0, :, k, 0, 0].numpy(), result["scores"][0, :, k, 0, 0].numpy()
        f1 = 2 * precision * recall / (precision + recall + 1e-16)
        expected = (
            2
            * curve["precision_list"]
            * curve["recall_list"]
            / (curve["precision_list"] + curve["recall_list"] + 1e-16)
        )
        np.testing.assert_allclose(f1, expected, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(scores, curve["scores"])
