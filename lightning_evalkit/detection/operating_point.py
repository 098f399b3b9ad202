"""Detection operating point, functional: precision, recall and F1 at every score threshold and the best-F1
threshold, the ``_update`` / ``_compute`` pair that
:class:`~lightning_evalkit.detection.operating_point_metric.DetectionOperatingPoint` runs, applied to one batch.

The rules are faster-coco-eval 1.8.0's ``COCOeval_faster.extended_metrics`` (COCO's default parameters): a
detection is a true positive when COCO's matching (IoU thresholds 0.50:0.05:0.95, area ranges all / small /
medium / large, the 100 highest-scoring detections per (image, class)) matched it to a ground truth at any
threshold in any area range (its ``eval["matched"]`` with IoU >= 0.5; a crowd ground truth counts too). Every
detection counts in the denominators, also those past the 100. Per class with at least one non-crowd ground
truth and threshold ``t``: precision = TP / detections scoring >= t (0 when none), recall = TP / non-crowd
ground truths, F1 = 2PR / (P + R) (0 when P + R = 0); not interpolated. The macro values are the plain means
over those classes. The thresholds are every distinct score (of any class); the best is the lowest one with the
largest macro F1. No detection (or no ground truth) leaves precision and recall 0, as in faster-coco-eval, and
the threshold NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice
from lightning_evalkit.detection.boxes import BOX_FORMATS
from lightning_evalkit.detection.coco.match import coco_match
from lightning_evalkit.detection.coco.pairs import candidate_pairs
from lightning_evalkit.detection.detection_confusion import _check_labels
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import AREA_RANGES, DEFAULT_IOU_THRESHOLDS, DEFAULT_MAX_DETECTIONS

__all__ = ["detection_operating_point"]

STATE_DTYPES = {"det_scores": torch.float64, "det_labels": torch.long, "det_tp": torch.bool, "gt_labels": torch.long}
# macro F1 values within this of the largest are recomputed exactly, the reference's way, to pick the best
NEAR_BEST = 1e-9


def _operating_check_args(box_format: str, iou_type: str) -> None:
    check_choice("box_format", box_format, BOX_FORMATS)
    check_choice("iou_type", iou_type, ("bbox", "segm"))


def _operating_update(batch: DetectionBatch) -> dict[str, Tensor]:
    """Every detection's score, label and true-positive flag, and the labels of the non-crowd ground truths."""
    device = batch.det_scores.device
    thresholds = torch.tensor(DEFAULT_IOU_THRESHOLDS, dtype=torch.float64, device=device)
    ranges = torch.tensor(AREA_RANGES, dtype=torch.float64, device=device)
    max_det = DEFAULT_MAX_DETECTIONS[-1]
    records = coco_match(batch, thresholds, ranges, max_det, batch.iou_type)
    # the detections past the 100 of their (image, class) are not matched, but still count as detections
    kept = torch.zeros(batch.det_scores.numel(), dtype=torch.bool, device=device)
    kept[candidate_pairs(batch, max_det).det_order] = True
    return {
        "det_scores": torch.cat([records.det_scores, batch.det_scores[~kept]]),
        "det_labels": torch.cat([records.det_labels, batch.det_labels[~kept]]),
        "det_tp": torch.cat([records.det_matched.flatten(1).any(1), kept.new_zeros(int((~kept).sum()))]),
        "gt_labels": batch.gt_labels[~batch.gt_crowd],
    }


def _class_counts(scores: np.ndarray, labels: np.ndarray, tp: np.ndarray, num_classes: int):
    """Detections sorted by (class, score descending), cumulative TP, and each class's slice."""
    order = np.lexsort((-scores, labels))
    scores, labels, cum_tp = scores[order], labels[order], np.cumsum(tp[order])
    starts = np.searchsorted(labels, np.arange(num_classes + 1))
    return scores, cum_tp, starts


def _values_at(scores: np.ndarray, cum_tp: np.ndarray, lo: int, hi: int, n_gt: int, thresholds: np.ndarray):
    """One class's (precision, recall, F1) at each threshold, exactly as faster-coco-eval computes them."""
    n_above = np.searchsorted(-scores[lo:hi], -thresholds, side="right")
    before = cum_tp[lo - 1] if lo > 0 else 0
    tp = np.where(n_above > 0, cum_tp[np.maximum(lo + n_above - 1, 0)] - before, 0).astype(np.float64)
    precision = np.divide(tp, n_above, out=np.zeros_like(tp), where=n_above > 0)
    recall = tp / n_gt
    total = precision + recall
    f1 = np.divide(2.0 * precision * recall, total, out=np.zeros_like(tp), where=total > 0.0)
    return precision, recall, f1


def _macro_curves(scores, cum_tp, starts, gt_counts, classes, thresholds) -> np.ndarray:
    """(3, U) macro precision, recall and F1 at every threshold, by summing each class's changes (O(N log N)).

    A class's values change only at its own scores, so each class adds, at each of its distinct scores, the
    difference from the next higher one; a cumulative sum from the top threshold down gives the sums.
    """
    deltas = np.zeros((3, thresholds.size))
    for k in classes:
        lo, hi = starts[k], starts[k + 1]
        if lo == hi:
            continue
        levels = np.unique(scores[lo:hi])
        values = np.stack(_values_at(scores, cum_tp, lo, hi, int(gt_counts[k]), levels))
        change = -np.diff(values, axis=1, append=0.0)  # value at a level minus the value at the next higher one
        columns = np.searchsorted(thresholds, levels)  # distinct levels: no column twice
        deltas[:, columns] += change
    return np.cumsum(deltas[:, ::-1], axis=1)[:, ::-1] / max(len(classes), 1)


def _best_candidates(thresholds: np.ndarray, macro_f1: np.ndarray, counted_scores: np.ndarray) -> np.ndarray:
    """The thresholds that may be the reference's best: near the largest summed F1, and each the lowest of a run
    of thresholds with the same counts (the reference keeps the first, ascending, of equal values).

    The counts at threshold u_j and u_j+1 differ only where a detection of a class with ground truth scores
    exactly u_j; so a run ends at such a score, and the next run starts just above it.
    """
    if macro_f1.max() <= NEAR_BEST:  # no true positive: F1 is exactly 0 everywhere, and the lowest comes first
        return np.zeros(1, dtype=np.int64)
    starts_run = np.zeros(thresholds.size, dtype=bool)
    starts_run[0] = True
    ends = np.searchsorted(thresholds, counted_scores) + 1
    starts_run[ends[ends < thresholds.size]] = True
    return np.flatnonzero(starts_run & (macro_f1 >= macro_f1.max() - NEAR_BEST))


def _exact_best(sorted_scores, cum_tp, starts, gt_counts, classes, thresholds, candidates, chunk: int = 1 << 21):
    """(threshold index, (3, classes) values there): the first candidate with the largest macro F1, computed
    exactly as the reference computes it, a chunk of candidates at a time."""
    best_index, best_f1, best_values = -1, -np.inf, np.zeros((3, classes.size))
    step = max(1, chunk // max(classes.size, 1))
    for first in range(0, candidates.size, step):
        chosen = candidates[first : first + step]
        values = np.stack(
            [
                _values_at(sorted_scores, cum_tp, starts[k], starts[k + 1], int(gt_counts[k]), thresholds[chosen])
                for k in classes
            ],
            axis=2,
        )  # (3, candidates, classes), each row contiguous
        macro_f1 = np.mean(np.ascontiguousarray(values[2]), axis=1)
        i = int(np.argmax(macro_f1))  # the first reaching the largest
        if macro_f1[i] > best_f1:
            best_index, best_f1, best_values = int(chosen[i]), float(macro_f1[i]), values[:, i, :]
    return best_index, np.ascontiguousarray(best_values)


def _operating_compute(states: dict[str, Tensor], num_classes: int | None = None) -> dict[str, Tensor]:
    """The curves and the best-F1 operating point of the (synced) states; see the module docstring."""
    scores, labels = states["det_scores"].cpu().numpy(), states["det_labels"].cpu().numpy()
    tp, gt_labels = states["det_tp"].cpu().numpy(), states["gt_labels"].cpu().numpy()
    size = max(int(labels.max(initial=-1)), int(gt_labels.max(initial=-1))) + 1
    size = max(size, num_classes or 0)
    gt_counts = np.bincount(gt_labels, minlength=size)
    classes = np.flatnonzero(gt_counts)
    sorted_scores, cum_tp, starts = _class_counts(scores, labels, tp, size)
    thresholds = np.unique(scores)
    curves = _macro_curves(sorted_scores, cum_tp, starts, gt_counts, classes, thresholds)
    best = np.full(3, 0.0)
    per_class = np.full((3, size), np.nan)
    best_threshold = np.nan
    if classes.size and thresholds.size:
        candidates = _best_candidates(thresholds, curves[2], scores[np.isin(labels, classes)])
        index, exact = _exact_best(sorted_scores, cum_tp, starts, gt_counts, classes, thresholds, candidates)
        best_threshold = float(thresholds[index])
        # the reference's np.mean over the classes in class order (a contiguous row: the same pairwise sum)
        best = np.array([np.mean(exact[0]), np.mean(exact[1]), np.mean(exact[2])])
        per_class[:, classes] = exact
    as_tensor = lambda values: torch.as_tensor(values, dtype=torch.float64)  # noqa: E731
    return {
        "precision": as_tensor(best[0]),
        "recall": as_tensor(best[1]),
        "f1": as_tensor(best[2]),
        "threshold": as_tensor(best_threshold),
        "precision_per_class": as_tensor(per_class[0]),
        "recall_per_class": as_tensor(per_class[1]),
        "f1_per_class": as_tensor(per_class[2]),
        "thresholds": as_tensor(thresholds),
        "precision_curve": as_tensor(curves[0]),
        "recall_curve": as_tensor(curves[1]),
        "f1_curve": as_tensor(curves[2]),
        "classes": torch.arange(size),
    }


def _class_curves(states: dict[str, Tensor]) -> dict[int, dict[str, Tensor]]:
    """Per class with non-crowd ground truth: precision, recall and F1 at each of its own distinct scores,
    ascending (between two of them the values are those of the higher; above the last they are 0)."""
    scores, labels = states["det_scores"].cpu().numpy(), states["det_labels"].cpu().numpy()
    tp, gt_labels = states["det_tp"].cpu().numpy(), states["gt_labels"].cpu().numpy()
    size = max(int(labels.max(initial=-1)), int(gt_labels.max(initial=-1))) + 1
    gt_counts = np.bincount(gt_labels, minlength=size)
    sorted_scores, cum_tp, starts = _class_counts(scores, labels, tp, size)
    curves = {}
    for k in np.flatnonzero(gt_counts).tolist():
        levels = np.unique(sorted_scores[starts[k] : starts[k + 1]])
        values = _values_at(sorted_scores, cum_tp, starts[k], starts[k + 1], int(gt_counts[k]), levels)
        keys = ("thresholds", "precision", "recall", "f1")
        curves[k] = {
            key: torch.as_tensor(v, dtype=torch.float64) for key, v in zip(keys, (levels, *values), strict=True)
        }
    return curves


def detection_operating_point(
    preds: Sequence[dict],
    target: Sequence[dict],
    box_format: str = "xyxy",
    iou_type: str = "bbox",
    num_classes: int | None = None,
) -> dict[str, Any]:
    """Precision, recall and F1 against the score threshold, and the best-F1 operating point, of one set of
    images: faster-coco-eval's ``extended_metrics`` (see the module docstring for its rules).

    The functional twin of :class:`lightning_evalkit.DetectionOperatingPoint`; see it for the returned keys.

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), scores=torch.tensor([0.9, 0.4]),
        ...               labels=torch.tensor([0, 0]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 10, 10]]), labels=torch.tensor([0]))]
        >>> result = detection_operating_point(preds, target)
        >>> result["threshold"].item(), result["precision"].item(), result["recall"].item()
        (0.8999999761581421, 1.0, 1.0)
        >>> result["f1_curve"].tolist()
        [0.6666666666666666, 1.0]
    """
    _operating_check_args(box_format, iou_type)
    batch = parse_detection_inputs(preds, target, box_format, (iou_type,))
    _check_labels(batch, None)
    return _operating_compute(_operating_update(batch), num_classes)
