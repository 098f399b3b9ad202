"""TIDE's accumulation: tidecv 1.0.1's mAP, and the mAP after fixing each kind of error, from the per-image records.

Every scenario is a list of (class, score, true positive) points and a ground-truth count per class, reduced by
tidecv's ``ClassedAPDataObject.get_mAP``: per class, points by score descending, precision made non-increasing
from the right, sampled at the 101 recalls 0:0.01:1 (``searchsorted`` left, 0 past the last recall); a class with
points or ground truth counts, with AP 0 where it has no ground truth; the mAP is the plain mean over those classes.
Score ties keep tidecv's order: in the baseline, the order detections were seen (image by image, by score within an
image); in a fixed scenario the detections that had an error come before the true positives (tidecv pushes them
first), each group in that order.
"""

from __future__ import annotations

import math

import numpy as np

from lightning_evalkit.detection.tide.image_errors import ERROR_NAMES, NO_ERROR

SPECIAL_NAMES = ("false_positive", "false_negative")
RESULT_KEYS = ("map", *ERROR_NAMES, *SPECIAL_NAMES)
_RECALLS = np.arange(101) / 100  # tidecv's [x / 100 for x in range(101)], bit for bit


def tide_breakdown(scores: np.ndarray, dets: np.ndarray, gts: np.ndarray) -> dict[str, float]:
    """{"map", each error's dAP, "false_positive", "false_negative"} as fractions (tidecv prints 100 times these).

    Each main dAP is the mAP after fixing every error of that kind (alone, from the baseline) minus the baseline,
    floored at 0 as tidecv floors it; the two special ones are not floored. NaN where a mAP averages no class.

    Example:
        >>> dets = np.array([[1, 1, 0, -1, 1, 0], [2, 0, 0, 4, 2, 0]])  # a true positive, a background error
        >>> out = tide_breakdown(np.array([0.9, 0.8]), dets, np.array([[1, 0, 0]]))
        >>> out["map"], out["background"]
        (0.5, 0.5)
    """
    label, true_positive, ignored, error, fixed_label, fixed_tp = (dets[:, i] for i in range(6))
    counted = ignored == 0
    is_error = error != NO_ERROR
    gt_labels = gts[:, 0]
    baseline = _mean_ap(label[counted], scores[counted], true_positive[counted] == 1, gt_labels)
    out = {"map": baseline}
    tps = true_positive == 1
    for code, name in enumerate(ERROR_NAMES):
        fixed = error == code
        kept = is_error & ~fixed & counted  # the other errors stay what they were
        becomes_tp = fixed & (fixed_tp == 1)
        first = kept | becomes_tp  # tidecv pushes the errors' points first, then the true positives
        points = (
            np.concatenate([np.where(becomes_tp, fixed_label, label)[first], label[tps]]),
            np.concatenate([scores[first], scores[tps]]),
            np.concatenate([becomes_tp[first], np.ones(np.count_nonzero(tps), dtype=bool)]),
        )
        gt_kept = gt_labels if name != "missed" else gt_labels[gts[:, 2] == 0]
        out[name] = max(_mean_ap(*points, gt_kept) - baseline, 0.0)
    errors_counted = is_error & counted
    num_errors, num_tps = np.count_nonzero(errors_counted), np.count_nonzero(tps)
    ordered = (
        np.concatenate([label[errors_counted], label[tps]]),
        np.concatenate([np.zeros(num_errors, dtype=bool), np.ones(num_tps, dtype=bool)]),
        np.concatenate([np.zeros(num_errors), np.ones(num_tps)]),
    )
    # perfect precision: tidecv scores true positives 1 and false positives 0
    out["false_positive"] = _mean_ap(ordered[0], ordered[2], ordered[1], gt_labels) - baseline
    kept_scores = np.concatenate([scores[errors_counted], scores[tps]])
    out["false_negative"] = _mean_ap(ordered[0], kept_scores, ordered[1], gt_labels[gts[:, 1] == 0])
    out["false_negative"] -= baseline
    return out


def _mean_ap(labels: np.ndarray, scores: np.ndarray, true_positive: np.ndarray, gt_labels: np.ndarray) -> float:
    """tidecv's ``get_mAP`` of the points (given in tidecv's push order, which breaks score ties) as a fraction."""
    order = np.lexsort((np.arange(len(labels)), -scores, labels))
    labels, true_positive = labels[order], true_positive[order]
    classes, starts = np.unique(labels, return_index=True)
    gt_classes, gt_counts = np.unique(gt_labels, return_counts=True)
    num_gt = dict(zip(gt_classes.tolist(), gt_counts.tolist(), strict=True))
    stops = [*starts[1:].tolist(), len(labels)] if len(starts) else []
    bounds = {cls: (start, stop) for cls, start, stop in zip(classes.tolist(), starts.tolist(), stops, strict=True)}
    aps = []
    for cls in sorted(set(num_gt) | set(bounds)):
        start, stop = bounds.get(cls, (0, 0))
        aps.append(_average_precision(true_positive[start:stop], num_gt.get(cls, 0)))
    return math.fsum(aps) / len(aps) if aps else math.nan


def _average_precision(true_positive: np.ndarray, num_gt: int) -> float:
    """tidecv's ``APDataObject.get_ap`` of one class's points sorted by score, as a fraction."""
    if num_gt == 0 or len(true_positive) == 0:
        return 0.0
    cum_tp = np.cumsum(true_positive)
    precision = cum_tp / np.arange(1, len(true_positive) + 1)
    recall = cum_tp / num_gt
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    found = np.searchsorted(recall, _RECALLS, side="left")
    sampled = np.where(found < len(precision), precision[np.minimum(found, len(precision) - 1)], 0.0)
    return math.fsum(sampled.tolist()) / len(_RECALLS)
