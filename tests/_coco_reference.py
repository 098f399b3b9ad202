"""Run pycocotools' COCOeval on torchmetrics-style inputs (tests only: pycocotools is a dev dependency)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lightning_evalkit.functional import box_convert


def _rle(mask: torch.Tensor) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _annotations(items: list[dict], box_format: str, iou_type: str, is_gt: bool) -> list[dict]:
    anns = []
    for image_id, item in enumerate(items, start=1):
        count = item["labels"].shape[0]
        boxes = None
        if iou_type == "bbox":
            boxes = box_convert(item["boxes"].double(), box_format, "xywh")
        for j in range(count):
            ann = {"id": len(anns) + 1, "image_id": image_id, "category_id": int(item["labels"][j])}
            if iou_type == "bbox":
                assert boxes is not None
                ann["bbox"] = [float(v) for v in boxes[j]]
                area = float(boxes[j, 2] * boxes[j, 3])
            else:
                ann["segmentation"] = _rle(item["masks"][j])
                ann["bbox"] = [float(v) for v in mask_utils.toBbox(ann["segmentation"])]
                area = float(item["masks"][j].sum())
            if is_gt:
                ann["iscrowd"] = int(item["iscrowd"][j]) if "iscrowd" in item else 0
                ann["area"] = float(item["area"][j]) if "area" in item else area
            else:
                ann["iscrowd"], ann["area"], ann["score"] = 0, area, float(item["scores"][j])
            anns.append(ann)
    return anns


def _coco(images: list[dict], categories: list[dict], anns: list[dict]) -> COCO:
    coco = COCO()
    coco.dataset = {"images": images, "categories": categories, "annotations": anns}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def pycocotools_eval(
    preds: list[dict],
    target: list[dict],
    box_format: str = "xyxy",
    iou_type: str = "bbox",
    iou_thresholds: list[float] | None = None,
    rec_thresholds: list[float] | None = None,
    max_dets: list[int] | None = None,
    micro: bool = False,
) -> dict[str, np.ndarray]:
    """pycocotools' eval arrays (precision, recall, scores) with categories = every label seen, sorted."""
    if micro:
        preds = [{**p, "labels": torch.zeros_like(p["labels"])} for p in preds]
        target = [{**t, "labels": torch.zeros_like(t["labels"])} for t in target]
    labels = sorted({int(v) for item in [*preds, *target] for v in item["labels"]})
    images = [{"id": i + 1} for i in range(len(target))]
    if iou_type == "segm":
        for image, item in zip(images, target, strict=True):
            image["height"], image["width"] = item["masks"].shape[1:]
    categories = [{"id": c} for c in labels]
    gt = _coco(images, categories, _annotations(target, box_format, iou_type, True))
    dt = _coco(images, categories, _annotations(preds, box_format, iou_type, False))
    evaluator = COCOeval(gt, dt, iouType=iou_type)
    if iou_thresholds is not None:
        evaluator.params.iouThrs = np.array(iou_thresholds, dtype=np.float64)
    if rec_thresholds is not None:
        evaluator.params.recThrs = np.array(rec_thresholds, dtype=np.float64)
    if max_dets is not None:
        evaluator.params.maxDets = list(max_dets)
    evaluator.params.imgIds = [im["id"] for im in images]
    evaluator.params.catIds = labels
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
    return {key: evaluator.eval[key] for key in ("precision", "recall", "scores")}


def summary_from_arrays(
    precision: np.ndarray, recall: np.ndarray, iou_thresholds: list[float], max_dets: list[int]
) -> dict[str, float]:
    """The 12 stats the way pycocotools' summarize() reads them, at the largest max-detections."""

    def mean(values: np.ndarray) -> float:
        defined = values[values > -1]
        return float(np.mean(defined)) if defined.size else -1.0

    iou = np.array(iou_thresholds)
    out = {"map": mean(precision[..., 0, -1])}
    out["map_50"] = mean(precision[np.where(iou == 0.5)[0]][..., 0, -1])
    out["map_75"] = mean(precision[np.where(iou == 0.75)[0]][..., 0, -1])
    for a, name in enumerate(("small", "medium", "large"), start=1):
        out[f"map_{name}"] = mean(precision[..., a, -1])
    for m, k in enumerate(max_dets):
        out[f"mar_{k}"] = mean(recall[:, :, 0, m])
    for a, name in enumerate(("small", "medium", "large"), start=1):
        out[f"mar_{name}"] = mean(recall[:, :, a, -1])
    return out


def pycocotools_stats(gt: Any, results: Any, iou_type: str) -> list[float]:
    """pycocotools' 12 stats of a ground truth and results (paths, or a parsed dataset and results list)."""
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, dict):
            coco_gt = COCO()
            coco_gt.dataset = gt
            coco_gt.createIndex()
        else:
            coco_gt = COCO(str(gt))
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results if isinstance(results, list) else str(results)), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats]
