"""Random detection sets for TIDE, and tidecv 1.0.1 itself run on them (the reference of DetectionErrorBreakdown)."""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np
import torch

KEYS = ("map", "classification", "localization", "both", "duplicate", "background", "missed")
SPECIAL_KEYS = ("false_positive", "false_negative")


def random_tide_set(
    seed: int, images: int = 8, classes: int = 3, ties: bool = False, integer: bool = False, crowd: float = 0.15
) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
    """Per-image dicts (boxes xywh): detections near ground truths (jittered, sometimes of another class, some
    repeated) and anywhere; ``ties``: scores on a coarse grid; ``integer``: integer coordinates (IoUs exactly on
    the thresholds happen)."""
    rng = np.random.default_rng(seed)
    preds, target = [], []
    for _ in range(images):
        num_gts, num_dets = int(rng.integers(0, 6)), int(rng.integers(0, 9))
        gts = np.concatenate([rng.uniform(0, 50, (num_gts, 2)), rng.uniform(4, 30, (num_gts, 2))], 1)
        dets = np.concatenate([rng.uniform(0, 50, (num_dets, 2)), rng.uniform(4, 30, (num_dets, 2))], 1)
        near = rng.random(num_dets) < 0.7 if num_gts else np.zeros(num_dets, dtype=bool)
        source = gts[rng.integers(0, max(num_gts, 1), num_dets) % max(num_gts, 1)] if num_gts else dets
        jitter = rng.normal(0, rng.choice([0.5, 3, 8]), (num_dets, 4))
        dets[near] = source[near] + jitter[near]
        dets[:, 2:] = np.abs(dets[:, 2:]) + 1
        if integer:
            gts, dets = np.round(gts), np.round(dets)
        scores = np.round(rng.random(num_dets), 1) if ties else rng.random(num_dets)
        preds.append(_tensors(dets, rng.integers(0, classes, num_dets), scores=scores))
        target.append(_tensors(gts, rng.integers(0, classes, num_gts), iscrowd=rng.random(num_gts) < crowd))
    return preds, target


def _tensors(boxes: np.ndarray, labels: np.ndarray, **extra: np.ndarray) -> dict[str, torch.Tensor]:
    out = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels)}
    if "scores" in extra:
        out["scores"] = torch.tensor(extra["scores"], dtype=torch.float32)
    if "iscrowd" in extra:
        out["iscrowd"] = torch.tensor(extra["iscrowd"], dtype=torch.int64)
    return out


def tidecv_breakdown(
    preds: list[dict[str, Any]],
    target: list[dict[str, Any]],
    pos_threshold: float = 0.5,
    background_threshold: float = 0.1,
    max_detections: int = 100,
) -> dict[str, float]:
    """tidecv's mAP and dAPs of xywh per-image dicts, as fractions; NaN where tidecv divides by zero (no class).

    Crowd targets become ignore regions, as tidecv's COCO loader makes them; every image is registered, so an
    image with detections and no ground truth counts. Each error is fixed by its own ``fix_main_errors`` call so
    that one undefined value does not hide the others.
    """
    from tidecv import TIDE, Data
    from tidecv.errors.main_errors import FalseNegativeError, FalsePositiveError

    gt, dets = Data("gt", max_dets=max_detections), Data("dets")
    for image, (pred, truth) in enumerate(zip(preds, target, strict=True)):
        gt.add_image(image, str(image))
        crowd = truth.get("iscrowd", torch.zeros(len(truth["labels"]))).tolist()
        for box, label, is_crowd in zip(truth["boxes"].tolist(), truth["labels"].tolist(), crowd, strict=True):
            if is_crowd:
                gt.add_ignore_region(image, label, box)
            else:
                gt.add_ground_truth(image, label, box)
        rows = zip(pred["boxes"].tolist(), pred["scores"].tolist(), pred["labels"].tolist(), strict=True)
        for box, score, label in rows:
            dets.add_detection(image, label, score, box)
    try:
        # TIDE() sets seaborn's style in matplotlib's global rcParams (its Plotter): keep them from our figures
        with matplotlib.rc_context():
            run = TIDE(pos_threshold, background_threshold).evaluate(gt, dets)
    except ZeroDivisionError:  # the baseline mAP averages no class
        return dict.fromkeys((*KEYS, *SPECIAL_KEYS), math.nan)
    out = {"map": run.ap / 100}
    for error, key in zip(TIDE._error_types, KEYS[1:], strict=True):
        out[key] = _percent(lambda error=error: run.fix_main_errors(error_types=[error])[error])
    try:
        special = run.fix_special_errors()
        out["false_positive"] = special[FalsePositiveError] / 100
        out["false_negative"] = special[FalseNegativeError] / 100
    except ZeroDivisionError:  # its two halves, each on its own: one may average no class, the other not
        out["false_positive"] = _percent(lambda: run.fix_errors(transform=FalsePositiveError.fix).get_mAP() - run.ap)
        out["false_negative"] = _percent(lambda: run.fix_errors(false_neg_dict=run.false_negatives).get_mAP() - run.ap)
    return out


def _percent(value: Any) -> float:
    try:
        return value() / 100
    except ZeroDivisionError:
        return math.nan
