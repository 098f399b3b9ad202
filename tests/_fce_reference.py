"""Run faster-coco-eval 1.8.0 on torchmetrics-style inputs: its confusion matrix (``PreviewResults``) and its
``extended_metrics`` (tests only: faster-coco-eval is a dev dependency)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch

from tests._coco_reference import _annotations

faster_coco_eval = __import__("pytest").importorskip("faster_coco_eval")
from faster_coco_eval import COCO, COCOeval_faster  # noqa: E402
from faster_coco_eval.extra import PreviewResults  # noqa: E402

# PreviewResults warns on every class-aware run and on empty ground truth; the tests compare numbers only
logging.getLogger("faster_coco_eval").setLevel(logging.ERROR)


def _datasets(preds: list[dict], target: list[dict], num_classes: int, box_format: str, iou_type: str):
    """(ground truth COCO, detections COCO) with categories 0..num_classes-1 and ids from 1 (the C++ code reads
    id 0 as "unmatched")."""
    images = [{"id": i + 1} for i in range(len(target))]
    if iou_type == "segm":
        for image, item in zip(images, target, strict=True):
            image["height"], image["width"] = item["masks"].shape[1:]
    categories = [{"id": c, "name": str(c)} for c in range(num_classes)]
    gt = COCO(
        {"images": images, "categories": categories, "annotations": _annotations(target, box_format, iou_type, True)}
    )
    dt_anns = _annotations(preds, box_format, iou_type, False)
    dt = COCO({"images": images, "categories": categories, "annotations": copy.deepcopy(dt_anns)})
    return gt, dt


def fce_confusion_matrix(
    preds: list[dict],
    target: list[dict],
    num_classes: int,
    iou_threshold: float,
    score_threshold: float,
    box_format: str = "xyxy",
    iou_type: str = "bbox",
    class_agnostic: bool = True,
) -> np.ndarray:
    """faster-coco-eval's (K, K + 2) confusion matrix: [true, predicted], then the "fp" and "fn" columns."""
    gt, dt = _datasets(preds, target, num_classes, box_format, iou_type)
    preview = PreviewResults(
        gt, dt, iouType=iou_type, min_score=score_threshold, iou_tresh=iou_threshold, useCats=not class_agnostic
    )
    return preview.compute_confusion_matrix()


def as_fce_layout(matrix: torch.Tensor) -> np.ndarray:
    """Our (K + 1, K + 1) matrix in faster-coco-eval's (K, K + 2) layout."""
    k = matrix.shape[0] - 1
    m = matrix.numpy()
    return np.concatenate([m[:k, :k], m[k, :k, None], m[:k, k, None]], axis=1).astype(np.float32)


def fce_extended_metrics(
    preds: list[dict], target: list[dict], num_classes: int, box_format: str = "xyxy", iou_type: str = "bbox"
) -> dict:
    """``COCOeval_faster(...).extended_metrics`` with COCO's default parameters (the only ones it supports)."""
    gt, dt = _datasets(preds, target, num_classes, box_format, iou_type)
    evaluator = COCOeval_faster(gt, dt, iou_type, extra_calc=True, print_function=lambda *a, **k: None)
    evaluator.run()
    return evaluator.extended_metrics


def fce_tp_flags(
    preds: list[dict], target: list[dict], num_classes: int, box_format: str = "xyxy", iou_type: str = "bbox"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, labels, is_tp) of every detection in input order, is_tp as ``extended_metrics`` reads it (matched
    with IoU >= 0.5 in faster-coco-eval's ``eval["matched"]``)."""
    gt, dt = _datasets(preds, target, num_classes, box_format, iou_type)
    evaluator = COCOeval_faster(gt, dt, iou_type, extra_calc=True, print_function=lambda *a, **k: None)
    evaluator.run()
    tp = {int(k.split("_", 1)[0]) for k, iou in evaluator.eval["matched"].items() if iou >= 0.5}
    ids = sorted(dt.anns)
    scores = np.array([dt.anns[i]["score"] for i in ids], dtype=np.float64)
    labels = np.array([dt.anns[i]["category_id"] for i in ids], dtype=np.int64)
    return scores, labels, np.array([i in tp for i in ids])
