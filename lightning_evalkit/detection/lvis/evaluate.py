"""LVIS JSON evaluation: ``evaluate_lvis`` (lvis-api's results from two files) and ``format_lvis_results`` (its
``print_results`` printout)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.lvis.json_io import load_lvis
from lightning_evalkit.detection.lvis.lvis_map import (
    LVIS_MAX_DETECTIONS,
    _categories,
    _lvis_compute,
    _lvis_parse,
    _lvis_update,
)

__all__ = ["LVIS_RESULT_KEYS", "evaluate_lvis", "format_lvis_results"]

# lvis-api's result names, in its order, and ours
LVIS_RESULT_KEYS = {
    "AP": "map",
    "AP50": "map_50",
    "AP75": "map_75",
    "APs": "map_small",
    "APm": "map_medium",
    "APl": "map_large",
    "APr": "map_rare",
    "APc": "map_common",
    "APf": "map_frequent",
    "AR@300": "mar_300",
    "ARs@300": "mar_small",
    "ARm@300": "mar_medium",
    "ARl@300": "mar_large",
}


@single_threaded
def evaluate_lvis(gt_json: Any, results_json: Any, iou_type: str = "bbox", images_per_update: int = 1000) -> dict:
    """lvis-api 0.5.3's ``LVISEval`` of an LVIS ground truth and results (paths or parsed), with our metric's code.

    The images are selected and matched ``images_per_update`` at a time (the functional ``_update`` of
    :class:`~lightning_evalkit.LVISMeanAveragePrecision`) and accumulated once. Returns lvis-api's results by its
    names (AP, AP50, AP75, APs, APm, APl, APr, APc, APf, AR@300, ARs@300, ARm@300, ARl@300) as floats, -1 where
    undefined. Input problems raise as in :func:`~lightning_evalkit.detection.lvis.json_io.load_lvis`.

    Example:
        >>> gt = {"images": [{"id": 1, "neg_category_ids": [], "not_exhaustive_category_ids": []}],
        ...       "categories": [{"id": 1, "frequency": "c"}], "annotations": [
        ...     {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600}]}
        >>> result = evaluate_lvis(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.5}])
        >>> round(result["AP"], 6), round(result["APc"], 6), result["APr"]  # 1 / (1 + eps), as lvis-api
        (1.0, 1.0, -1.0)
    """
    preds, target, frequencies = load_lvis(gt_json, results_json, iou_type)
    return _evaluate(preds, target, frequencies, iou_type, images_per_update)


def _evaluate(
    preds: list[dict], target: list[dict], frequencies: dict[int, str], iou_type: str, images_per_update: int = 1000
) -> dict[str, float]:
    """:func:`evaluate_lvis` on loaded inputs; a pred ``area`` is the detections' area for the area rules."""
    categories = _categories(frequencies, torch.device("cpu"))
    parts = []
    for start in range(0, max(len(preds), 1), images_per_update):
        chunk = (preds[start : start + images_per_update], target[start : start + images_per_update])
        batch, federated = _lvis_parse(*chunk, "xywh", iou_type, categories)
        det_areas = None
        if chunk[0] and "area" in chunk[0][0]:
            det_areas = torch.cat([item["area"].to(torch.float64) for item in chunk[0]])
        parts.append(_lvis_update(batch, federated, categories, LVIS_MAX_DETECTIONS, det_areas))
    states = {name: torch.cat([part[name] for part in parts]) for name in parts[0]}
    summary = _lvis_compute(states, frequencies, LVIS_MAX_DETECTIONS, torch.float64)
    return {key: float(summary[name]) for key, name in LVIS_RESULT_KEYS.items()}


def format_lvis_results(results: Mapping[str, float], max_detections: int = LVIS_MAX_DETECTIONS) -> str:
    """lvis-api's ``print_results()`` printout of its results (by its names, in its order).

    Example:
        >>> print(format_lvis_results({"AP": 0.5, "APr": -1.0, "ARs@300": 0.25}))
         Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=300 catIds=all] = 0.500
         Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=300 catIds=  r] = -1.000
         Average Recall     (AR) @[ IoU=0.50:0.95 | area=     s | maxDets=300 catIds=all] = 0.250
    """
    lines = []
    for key, value in results.items():
        title, kind = ("Average Precision", "(AP)") if "AP" in key else ("Average Recall", "(AR)")
        iou = f"{float(key[2:]) / 100:0.2f}" if len(key) > 2 and key[2].isdigit() else "0.50:0.95"
        group = key[2] if len(key) > 2 and key[2] in "rcf" else "all"
        area = key[2] if len(key) > 2 and key[2] in "sml" else "all"
        lines.append(
            f" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6s} | maxDets={max_detections:>3d} "
            f"catIds={group:>3s}] = {value:0.3f}"
        )
    return "\n".join(lines)
