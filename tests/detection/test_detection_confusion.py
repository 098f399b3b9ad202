"""DetectionConfusionMatrix and detection_confusion_matrix against faster-coco-eval 1.8.0's
``PreviewResults.compute_confusion_matrix`` on the same data: random (seeded and hypothesis) and edge cases;
functional == class, merge_state, refused updates, argument errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_evalkit import DetectionConfusionMatrix
from lightning_evalkit.functional import detection_confusion_matrix
from tests._detection_data import random_images, random_masks
from tests._fce_reference import as_fce_layout, fce_confusion_matrix

NUM_CLASSES = 4  # random_images draws detection labels up to 3: a class without ground truth


def _ours(preds, target, iou, score, agnostic=True, box_format="xywh", iou_type="bbox") -> np.ndarray:
    matrix = detection_confusion_matrix(preds, target, NUM_CLASSES, iou, score, box_format, iou_type, agnostic)
    return as_fce_layout(matrix)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("agnostic", [True, False])
def test_equals_faster_coco_eval_without_crowd(seed, agnostic):
    iou = (0.5, 0.0, 0.3, 0.75)[seed % 4]
    score = (0.0, 0.3, 0.5)[seed % 3]
    preds, target = random_images(seed, 7, scale=6, crowd_prob=0.0, tied_scores=seed % 2 == 0)
    expected = fce_confusion_matrix(preds, target, NUM_CLASSES, iou, score, "xywh", class_agnostic=agnostic)
    np.testing.assert_array_equal(_ours(preds, target, iou, score, agnostic), expected)


def _crowd_rows_with_a_choice(preds, target, iou, score) -> set[int]:
    """Rows of crowd ground truths matched by detections of two or more classes (faster-coco-eval counts such a
    crowd with the class of whichever detection its hash map lists last), from faster-coco-eval's own matching."""
    from tests._fce_reference import PreviewResults, _datasets

    gt, dt = _datasets(preds, target, NUM_CLASSES, "xywh", "bbox")
    preview = PreviewResults(gt, dt, iouType="bbox", min_score=score, iou_tresh=iou, useCats=False)
    classes: dict[int, set[int]] = {}
    for key in preview.cocoEval.eval["matched"]:
        dt_id, gt_id = (int(v) for v in key.split("_"))
        classes.setdefault(gt_id, set()).add(preview.cocoDt.anns[dt_id]["category_id"])
    return {gt.anns[g]["category_id"] for g, c in classes.items() if gt.anns[g]["iscrowd"] and len(c) > 1}


@pytest.mark.parametrize("seed", range(8))
def test_equals_faster_coco_eval_with_crowd(seed):
    """Exact, but for which class a crowd matched by detections of several classes is counted with."""
    iou, score = (0.5, 0.1, 0.0, 0.3)[seed % 4], (0.0, 0.5)[seed % 2]
    preds, target = random_images(seed, 7, scale=6, crowd_prob=0.4)
    expected = fce_confusion_matrix(preds, target, NUM_CLASSES, iou, score, "xywh")
    ours = _ours(preds, target, iou, score)
    np.testing.assert_array_equal(ours[:, -2:], expected[:, -2:])  # background and missed
    np.testing.assert_array_equal(ours.sum(1), expected.sum(1))  # every ground truth counted once
    choice = _crowd_rows_with_a_choice(preds, target, iou, score)
    same = [k for k in range(NUM_CLASSES) if k not in choice]
    np.testing.assert_array_equal(ours[same], expected[same])


def test_crowd_matched_by_one_class_equals_faster_coco_eval():
    """A crowd absorbs two detections (counted once, not background); an unmatched crowd is missed."""
    preds = [
        dict(
            boxes=torch.tensor([[0.0, 0, 10, 10], [1, 1, 9, 9], [50, 50, 10, 10]]),
            scores=torch.tensor([0.9, 0.8, 0.7]),
            labels=torch.tensor([2, 2, 1]),
        )
    ]
    target = [
        dict(
            boxes=torch.tensor([[0.0, 0, 10, 10], [80, 80, 5, 5]]),
            labels=torch.tensor([1, 0]),
            iscrowd=torch.tensor([1, 1]),
        )
    ]
    expected = fce_confusion_matrix(preds, target, NUM_CLASSES, 0.5, 0.0, "xywh")
    ours = _ours(preds, target, 0.5, 0.0)
    np.testing.assert_array_equal(ours, expected)
    assert ours[1, 2] == 1 and ours[0, -1] == 1 and ours[1, -2] == 1  # the data makes the case


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
        pytest.param([_item([], [], [])], [_item([], [])], id="empty image"),
        # two detections tie on score and box; the one of the lower class is first (faster-coco-eval's order)
        pytest.param(
            [_item([[0, 0, 5, 5], [0, 0, 5, 5]], [3, 1], [0.5, 0.5])], [_item([[0, 0, 5, 5]], [0])], id="score tie"
        ),
        # one detection, two ground truths at equal IoU: the later one in (class, input) order takes it
        pytest.param(
            [_item([[0, 0, 10, 10]], [2], [0.5])],
            [_item([[0, 0, 10, 5], [0, 5, 10, 5]], [2, 0])],
            id="IoU tie",
        ),
        pytest.param([_item([[0, 0, 5, 5]], [1], [0.3])], [_item([[0, 0, 5, 5]], [1])], id="score at threshold"),
    ],
)
def test_edge_cases_equal_faster_coco_eval(preds, target):
    for iou, score in ((0.5, 0.0), (0.25, 0.3)):
        expected = fce_confusion_matrix(preds, target, NUM_CLASSES, iou, score, "xywh")
        np.testing.assert_array_equal(_ours(preds, target, iou, score), expected)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    iou=st.sampled_from([0.0, 0.2, 0.5, 0.7]),
    score=st.sampled_from([0.0, 0.25, 0.5, 0.75]),
    agnostic=st.booleans(),
)
def test_hypothesis_equals_faster_coco_eval(seed, iou, score, agnostic):
    preds, target = random_images(seed, 4, scale=4, crowd_prob=0.0, tied_scores=seed % 2 == 0)
    expected = fce_confusion_matrix(preds, target, NUM_CLASSES, iou, score, "xywh", class_agnostic=agnostic)
    np.testing.assert_array_equal(_ours(preds, target, iou, score, agnostic), expected)


def test_segm_equals_faster_coco_eval():
    preds, target = random_masks(3, 5)
    target = [{**t, "iscrowd": torch.zeros_like(t["labels"])} for t in target]
    for agnostic in (True, False):
        expected = fce_confusion_matrix(preds, target, NUM_CLASSES, 0.5, 0.0, iou_type="segm", class_agnostic=agnostic)
        ours = _ours(preds, target, 0.5, 0.0, agnostic, iou_type="segm")
        np.testing.assert_array_equal(ours, expected)


def test_class_in_batches_equals_functional_and_merge_state():
    preds, target = random_images(21, 9, scale=6)
    expected = detection_confusion_matrix(preds, target, NUM_CLASSES, 0.5, 0.2, "xywh")
    whole = DetectionConfusionMatrix(NUM_CLASSES, 0.5, 0.2, box_format="xywh")
    first, second = (DetectionConfusionMatrix(NUM_CLASSES, 0.5, 0.2, box_format="xywh") for _ in range(2))
    for start in range(0, 9, 2):
        whole.update(preds[start : start + 2], target[start : start + 2])
        (first if start < 4 else second).update(preds[start : start + 2], target[start : start + 2])
    assert torch.equal(whole.compute(), expected)
    first.merge_state(second)
    assert torch.equal(first.compute(), expected)


@pytest.mark.parametrize(
    ("bad_preds", "bad_target", "message"),
    [
        ([_item([[0, 0, 5, 5]], [4], [0.5])], [_item([], [])], r"labels.*of `preds`.*num_classes=4.*got 4"),
        ([_item([], [], [])], [_item([[0, 0, 5, 5]], [7])], r"labels.*of `target`.*got 7"),
        ([_item([[0, 0, 5, 5]], [-1], [0.5])], [_item([], [])], r"labels.*of `preds`.*\[0, num_classes=4\).*got -1"),
        (
            [{"boxes": torch.zeros(1, 3), "scores": torch.ones(1), "labels": torch.zeros(1).long()}],
            [_item([], [])],
            "boxes",
        ),
    ],
)
def test_refused_update_leaves_the_state_unchanged(bad_preds, bad_target, message):
    metric = DetectionConfusionMatrix(NUM_CLASSES, box_format="xywh")
    preds, target = random_images(2, 3, scale=6)
    metric.update(preds, target)
    before = metric.compute()
    with pytest.raises((ValueError, TypeError), match=message):
        metric.update(bad_preds, bad_target)
    assert torch.equal(metric.compute(), before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 2, "iou_threshold": 1.5}, r"Expected `iou_threshold` to be a float in \[0, 1\], but got 1.5"),
        ({"num_classes": 2, "score_threshold": -0.1}, "score_threshold"),
        ({"num_classes": 2, "box_format": "xy"}, "box_format"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DetectionConfusionMatrix(**kwargs)
