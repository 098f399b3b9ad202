"""TIDE's per-image step: match one image's detections and name the error of every one that is not a true positive.

This is tidecv 1.0.1's ``TIDEExample`` and ``TIDERun._eval_image`` in numpy, record for record. Each image is
independent of every other, so it runs at update time and leaves compact records:

- per detection (the ``max_detections`` best of its image, by score descending, stable): its label, whether it is a
  true positive, whether a crowd region made it ignored, its error (:data:`ERROR_NAMES` index, -1 for a true
  positive), and what fixing that error makes of it (a true positive of ``fixed_label``, or nothing);
- per non-crowd ground truth: its label, whether it is unmatched (a false negative) and whether it is a "missed"
  error (unmatched, and no classification or localisation error points at it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# tidecv's TIDE._error_types order (Cls, Loc, Both, Dupe, Bkg, Miss): the order of the keys and of the plot
ERROR_NAMES = ("classification", "localization", "both", "duplicate", "background", "missed")
CLS, LOC, BOTH, DUPE, BKG = range(5)
NO_ERROR = -1
# columns of the int64 detection records
DET_COLUMNS = ("label", "true_positive", "ignored", "error", "fixed_label", "fixed_true_positive")
GT_COLUMNS = ("label", "false_negative", "missed")


class ImageBoxes(NamedTuple):
    """One image: detections and ground truths, boxes xyxy float64, in input order."""

    det_boxes: np.ndarray  # (N, 4)
    det_scores: np.ndarray  # (N,)
    det_labels: np.ndarray  # (N,) int64
    gt_boxes: np.ndarray  # (G, 4)
    gt_labels: np.ndarray  # (G,) int64
    gt_crowd: np.ndarray  # (G,) bool


def box_iou_xyxy(dets: np.ndarray, gts: np.ndarray, crowd: bool) -> np.ndarray:
    """(N, G) IoU with pycocotools' arithmetic (its ``bbIou`` on xywh boxes), crowd: intersection / detection area.

    With xyxy boxes made from xywh ones (x2 = x + w), ``x2 - x1`` and ``min(x2a, x2b)`` are pycocotools' ``w``
    and ``min(xa + wa, xb + wb)`` bit for bit, so thresholds decide exactly as in tidecv.

    Example:
        >>> box_iou_xyxy(np.array([[0.0, 0, 2, 2]]), np.array([[1.0, 0, 3, 2]]), crowd=False).tolist()
        [[0.3333333333333333]]
    """
    width = np.minimum(dets[:, None, 2], gts[None, :, 2]) - np.maximum(dets[:, None, 0], gts[None, :, 0])
    height = np.minimum(dets[:, None, 3], gts[None, :, 3]) - np.maximum(dets[:, None, 1], gts[None, :, 1])
    det_area = ((dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1]))[:, None]
    gt_area = ((gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1]))[None, :]
    inter = width * height
    union = np.broadcast_to(det_area, inter.shape) if crowd else det_area + gt_area - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((width > 0) & (height > 0), iou, 0.0)


def image_errors(
    image: ImageBoxes, pos_threshold: float, background_threshold: float, max_detections: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores (N',) float64, detection records (N', 6) int64, ground-truth records (G', 3) int64) of one image.

    Example:
        >>> image = ImageBoxes(np.array([[0.0, 0, 10, 10], [0, 0, 10, 10]]), np.array([0.9, 0.8]), np.array([1, 1]),
        ...                    np.array([[0.0, 0, 10, 10]]), np.array([1]), np.array([False]))
        >>> scores, dets, gts = image_errors(image, 0.5, 0.1, 100)
        >>> dets[:, 3].tolist(), gts.tolist()  # the second is a duplicate
        ([-1, 3], [[1, 0, 0]])
    """
    order = np.argsort(-image.det_scores, kind="stable")[:max_detections]
    boxes, scores, labels = image.det_boxes[order], image.det_scores[order], image.det_labels[order]
    real = ~image.gt_crowd
    gt_boxes, gt_labels = image.gt_boxes[real], image.gt_labels[real]
    num_dets, num_gts = len(order), len(gt_labels)
    records = np.zeros((num_dets, len(DET_COLUMNS)), dtype=np.int64)
    records[:, 0], records[:, 3], records[:, 4] = labels, NO_ERROR, labels
    gt_records = np.zeros((num_gts, len(GT_COLUMNS)), dtype=np.int64)
    gt_records[:, 0] = gt_labels
    if num_dets == 0:  # tidecv: every ground truth of an image without detections is missed
        gt_records[:, 1:] = 1
        return scores, records, gt_records
    iou = box_iou_xyxy(boxes, gt_boxes, crowd=False)
    same_class = labels[:, None] == gt_labels[None, :]
    matched_gt = _match(iou * same_class, pos_threshold)
    gt_used = np.zeros(num_gts, dtype=bool)
    gt_used[matched_gt[matched_gt >= 0]] = True
    records[:, 1] = matched_gt >= 0
    records[:, 2] = _crowd_ignored(image, boxes, labels, matched_gt, pos_threshold)
    usable = np.zeros(num_gts, dtype=bool)
    if num_gts == 0:  # tidecv: every detection of an image without (non-crowd) ground truth is background
        records[matched_gt < 0, 3] = BKG
    else:
        _name_errors(records, iou, same_class, gt_used, gt_labels, usable, pos_threshold, background_threshold)
    gt_records[:, 1] = ~gt_used
    gt_records[:, 2] = ~gt_used & ~usable
    return scores, records, gt_records


def _match(class_iou: np.ndarray, pos_threshold: float) -> np.ndarray:
    """tidecv's greedy matching: each detection by score takes its best free ground truth of its class (first on
    ties) when the IoU is at least ``pos_threshold``. Returns the matched ground truth per detection, -1 if none."""
    buffer = class_iou.copy()
    matched = np.full(class_iou.shape[0], -1, dtype=np.int64)
    if class_iou.shape[1] == 0:
        return matched
    for det in np.flatnonzero(class_iou.max(axis=1) >= pos_threshold):  # only these can match
        best = int(np.argmax(buffer[det]))
        if buffer[det, best] >= pos_threshold:
            matched[det] = best
            buffer[:, best] = 0
    return matched


def _crowd_ignored(
    image: ImageBoxes, boxes: np.ndarray, labels: np.ndarray, matched_gt: np.ndarray, pos_threshold: float
) -> np.ndarray:
    """Unmatched detections inside a crowd region of their class (crowd IoU strictly above ``pos_threshold``)."""
    crowd_boxes, crowd_labels = image.gt_boxes[image.gt_crowd], image.gt_labels[image.gt_crowd]
    inside = box_iou_xyxy(boxes, crowd_boxes, crowd=True) > pos_threshold
    return (matched_gt < 0) & (inside & (labels[:, None] == crowd_labels[None, :])).any(axis=1)


def _name_errors(
    records: np.ndarray,
    iou: np.ndarray,
    same_class: np.ndarray,
    gt_used: np.ndarray,
    gt_labels: np.ndarray,
    usable: np.ndarray,
    pos_threshold: float,
    background_threshold: float,
) -> None:
    """tidecv's error tests, first that holds wins, for every detection that is not a true positive.

    Localisation and classification errors point at a ground truth; a free one becomes "usable" (not missed), and
    fixing the error makes the detection a true positive only for the best-scored (first) error pointing at it.
    """
    class_iou, other_class_iou = iou * same_class, iou * ~same_class
    used_class_iou = class_iou * gt_used[None, :]
    unmatched = records[:, 1] == 0
    best_class = class_iou.max(axis=1)
    loc = unmatched & (background_threshold <= best_class) & (best_class <= pos_threshold)
    cls = unmatched & ~loc & (other_class_iou.max(axis=1) >= pos_threshold)
    dupe = unmatched & ~loc & ~cls & (used_class_iou.max(axis=1) >= pos_threshold)
    bkg = unmatched & ~loc & ~cls & ~dupe & (iou.max(axis=1) <= background_threshold)
    records[unmatched, 3] = BOTH
    for code, chosen in ((LOC, loc), (CLS, cls), (DUPE, dupe), (BKG, bkg)):
        records[chosen, 3] = code
    target = np.where(loc, class_iou.argmax(axis=1), other_class_iou.argmax(axis=1))
    records[cls, 4] = gt_labels[target[cls]]
    pointing = np.flatnonzero((loc | cls) & ~gt_used[target])
    usable[target[pointing]] = True
    # tidecv's BestGTMatch: the first (best-scored) error pointing at a free ground truth is the one fixed
    _, first = np.unique(target[pointing], return_index=True)
    records[pointing[first], 5] = 1
