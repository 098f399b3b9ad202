"""COCO JSON evaluation: ``evaluate_coco`` (pycocotools' 12 stats and arrays from two files) and
``format_summary`` (its 12-line summary)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.coco.flags import pack_area_flags, unpack_area_flags
from lightning_evalkit.detection.coco.json_io import STAT_KEYS, load_coco
from lightning_evalkit.detection.coco.match import CocoRecords
from lightning_evalkit.detection.coco.pairs import candidate_pairs
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import (
    AREA_RANGES,
    DEFAULT_IOU_THRESHOLDS,
    DEFAULT_MAX_DETECTIONS,
    DEFAULT_REC_THRESHOLDS,
    _accumulate,
    _coco_summary,
    _map_update,
)

__all__ = ["evaluate_coco", "format_summary"]
_SUMMARY_ROWS = (  # (AP or AR, IoU, area, maxDets) in pycocotools' stats order
    ("AP", None, "all", 100),
    ("AP", 0.5, "all", 100),
    ("AP", 0.75, "all", 100),
    ("AP", None, "small", 100),
    ("AP", None, "medium", 100),
    ("AP", None, "large", 100),
    ("AR", None, "all", 1),
    ("AR", None, "all", 10),
    ("AR", None, "all", 100),
    ("AR", None, "small", 100),
    ("AR", None, "medium", 100),
    ("AR", None, "large", 100),
)


@single_threaded
def evaluate_coco(gt_json: Any, results_json: Any, iou_type: str = "bbox", images_per_update: int = 1000) -> dict:
    """pycocotools' evaluation of a COCO ground truth and results (paths or parsed), with our metric's code.

    The images are matched ``images_per_update`` at a time (the functional ``_update`` of
    :class:`~lightning_evalkit.MeanAveragePrecision`) and accumulated once. Returns pycocotools' ``precision``
    (T, R, K, A, M), ``recall`` (T, K, A, M) and ``scores`` arrays, the ``classes``, the 12 stats by name, and
    ``stats``, the 12 in pycocotools' order; everything in float64. Input problems raise as in :func:`load_coco`.

    Example:
        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [
        ...     {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0}]}
        >>> result = evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.5}])
        >>> round(float(result["map"]), 6), round(float(result["map_medium"]), 6)
        (1.0, -1.0)
    """
    return _evaluate(*load_coco(gt_json, results_json, iou_type), iou_type, images_per_update)


@single_threaded
def _evaluate(preds: list[dict], target: list[dict], iou_type: str, images_per_update: int = 1000) -> dict:
    """:func:`evaluate_coco` on loaded ``preds`` and ``target`` (see :func:`_ranged_by_given_area` for a
    detection ``area`` in ``preds``)."""
    types, max_dets = (iou_type,), list(DEFAULT_MAX_DETECTIONS)
    parts = []
    for start in range(0, max(len(preds), 1), images_per_update):
        chunk = (preds[start : start + images_per_update], target[start : start + images_per_update])
        batch = parse_detection_inputs(*chunk, "xywh", types)
        states = _map_update(batch, types, DEFAULT_IOU_THRESHOLDS, max_dets, "macro", False)
        part = CocoRecords(*(states[name] for name in CocoRecords._fields))
        if chunk[0] and "area" in chunk[0][0]:
            part = _ranged_by_given_area(batch, part, torch.cat([item["area"] for item in chunk[0]]), max_dets[-1])
        parts.append(part)
    records = CocoRecords(*(torch.cat([getattr(part, name) for part in parts]) for name in CocoRecords._fields))
    classes, precision, recall, scores, precision_mean = _accumulate(records, DEFAULT_REC_THRESHOLDS, max_dets, False)
    summary = _coco_summary(precision_mean, recall, DEFAULT_IOU_THRESHOLDS, max_dets)
    result = {"precision": precision, "recall": recall, "scores": scores, "classes": classes, **summary}
    result["stats"] = torch.stack([summary[key].double() for key in STAT_KEYS])
    return result


def _ranged_by_given_area(batch: DetectionBatch, records: CocoRecords, areas: Tensor, max_det: int) -> CocoRecords:
    """Records whose unmatched detections are ignored by ``areas`` (not their box areas) falling outside a range.

    pycocotools' ``loadRes`` gives segm results the area of their mask, and ``COCOeval.evaluateImg`` decides
    with it whether an unmatched detection lies outside an area range, also when it evaluates their boxes; the
    IoU still takes the boxes' own areas. A matched detection keeps its ground truth's flag.
    """
    order = candidate_pairs(batch, max_det).det_order  # the records' order, as coco_match makes it
    ranges = torch.tensor(AREA_RANGES, dtype=torch.float64)
    ranged = areas[order, None]
    outside = (ranged < ranges[None, :, 0]) | (ranged > ranges[None, :, 1])  # (N, A), bounds inclusive
    matched, ignored = (unpack_area_flags(f, len(AREA_RANGES)) for f in (records.det_matched, records.det_ignored))
    return records._replace(det_ignored=pack_area_flags(torch.where(matched, ignored, outside[:, None, :])))


def format_summary(stats: Sequence[float]) -> str:
    """pycocotools' ``COCOeval.summarize()`` printout of the 12 stats."""
    lines = []
    for (kind, iou, area, max_det), value in zip(_SUMMARY_ROWS, stats, strict=True):
        title = "Average Precision" if kind == "AP" else "Average Recall"
        iou_text = "0.50:0.95" if iou is None else f"{iou:0.2f}"
        lines.append(
            f" {title:<18} ({kind}) @[ IoU={iou_text:<9} | area={area:>6s} | maxDets={max_det:>3d} ] = {value:0.3f}"
        )
    return "\n".join(lines)
