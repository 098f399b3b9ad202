"""The detection confusion matrix, functional: the ``_update`` / ``_compute`` pair that
:class:`~lightning_evalkit.detection.detection_confusion_metric.DetectionConfusionMatrix` runs, applied to one batch.

The rules are faster-coco-eval 1.8.0's ``PreviewResults(gt, dt, iou_tresh=t, min_score=s).compute_confusion_matrix()``:
detections scoring below ``s`` are dropped (only when ``s > 0``); per image, all detections (no cut to a number
of them) are matched greedily to the ground truth COCO's way at the one IoU threshold ``t``, area range
[0, 1e10], class-agnostic by default (``useCats=False``: the detections of every class compete, in score order,
ties broken by class then input order, for the ground truths of every class). A ground truth matched by a
detection counts in its class's row, in the column of that detection's class; an unmatched ground truth
(crowd too) is "missed"; an unmatched detection is "background" in its class's column. A detection matched to a
crowd ground truth is neither (a crowd can absorb several; it is counted once, with the class of its
highest-scoring detection; faster-coco-eval keeps whichever its hash map lists last).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice, check_positive_int
from lightning_evalkit.detection.boxes import BOX_FORMATS
from lightning_evalkit.detection.coco.match import _area_outside, _match_candidates
from lightning_evalkit.detection.coco.pairs import _pair_mask_iou, candidate_pairs, pair_box_iou
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs

__all__ = ["detection_confusion_matrix"]

ALL_AREAS = (0.0, 1e10)


def _confusion_check_args(
    num_classes: Any, iou_threshold: Any, score_threshold: Any, box_format: str, iou_type: str
) -> None:
    check_positive_int("num_classes", num_classes)
    check_choice("box_format", box_format, BOX_FORMATS)
    check_choice("iou_type", iou_type, ("bbox", "segm"))
    for name, value in (("iou_threshold", iou_threshold), ("score_threshold", score_threshold)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"Expected `{name}` to be a float in [0, 1], but got {value!r}.")


def _check_labels(batch: DetectionBatch, num_classes: int | None) -> None:
    """Every label must be a class index (a row of the matrix when ``num_classes`` is given): raise before any
    state changes."""
    for side, labels in (("preds", batch.det_labels), ("target", batch.gt_labels)):
        if not labels.numel():
            continue
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or (num_classes is not None and high >= num_classes):
            bad = low if low < 0 else high
            expected = f"[0, num_classes={num_classes})" if num_classes is not None else "[0, inf)"
            raise ValueError(f"Expected every `labels` of `{side}` to lie in {expected}, but got {bad}.")


def _matched_gt(
    batch: DetectionBatch, dets: Tensor, iou_threshold: float, class_agnostic: bool
) -> tuple[Tensor, Tensor]:
    """(detection indices in matching order, the original gt index each matched or -1): COCO's greedy walk at
    one threshold over the detections ``dets``.

    Class-agnostic matching groups by image only; the detections and ground truths are first put in (image,
    class, input) order so that score ties among detections, and equal IoUs among ground truths, are broken as
    faster-coco-eval breaks them (it concatenates each image's annotations class by class).
    """
    device = batch.det_labels.device
    gts = torch.arange(batch.gt_labels.numel(), device=device)
    if class_agnostic:
        dets = dets[_stable_order(batch.det_image[dets], batch.det_labels[dets])]
        gts = _stable_order(batch.gt_image, batch.gt_labels)
    grouped = batch._replace(
        det_image=batch.det_image[dets],
        det_labels=torch.zeros_like(dets) if class_agnostic else batch.det_labels[dets],
        det_scores=batch.det_scores[dets],
        gt_image=batch.gt_image[gts],
        gt_labels=torch.zeros_like(gts) if class_agnostic else batch.gt_labels[gts],
    )
    pairs = candidate_pairs(grouped, None)
    det_order, gt_order = dets[pairs.det_order], gts[pairs.gt_order]
    det_idx, gt_idx = det_order[pairs.pair_det], gt_order[pairs.pair_gt]
    pair_iou = (pair_box_iou if batch.iou_type == "bbox" else _pair_mask_iou)(batch, det_idx, gt_idx)
    ranges = torch.tensor([ALL_AREAS], dtype=torch.float64, device=device)
    gt_crowd = batch.gt_crowd[gt_order]
    gt_ignored = gt_crowd[:, None] | _area_outside(batch.gt_areas[gt_order], ranges)
    thresholds = torch.tensor([float(iou_threshold)], dtype=torch.float64, device=device)
    found = _match_candidates(
        pairs.pair_det, pairs.pair_gt, pair_iou, gt_ignored, gt_crowd, thresholds, pairs.pair_group
    )
    match = torch.full((det_order.numel(),), -1, dtype=torch.long, device=device)
    match[found.single_dets] = found.single_gt[:, 0]
    match[found.dets] = found.det_match[:, 0, 0]
    if not gt_order.numel():  # nothing to match (and nothing to index)
        return det_order, match
    return det_order, torch.where(match >= 0, gt_order[match.clamp(min=0)], match)


def _stable_order(image: Tensor, labels: Tensor) -> Tensor:
    """Indices in (image, label) order, input order within each."""
    order = torch.sort(labels, stable=True).indices
    return order[torch.sort(image[order], stable=True).indices]


def _confusion_update(
    batch: DetectionBatch, num_classes: int, iou_threshold: float, score_threshold: float, class_agnostic: bool
) -> Tensor:
    """The (K + 1, K + 1) int64 counts of one parsed batch: rows true class + "background", columns predicted
    class + "missed"."""
    dets = torch.arange(batch.det_scores.numel(), device=batch.det_scores.device)
    if score_threshold > 0:  # faster-coco-eval drops detections below min_score only when min_score > 0
        dets = torch.nonzero(batch.det_scores >= score_threshold).flatten()
    det_order, gt_of_det = _matched_gt(batch, dets, iou_threshold, class_agnostic)
    k = num_classes
    counts = torch.zeros(k + 1, k + 1, dtype=torch.long, device=batch.det_labels.device)
    det_labels = batch.det_labels[det_order]
    matched = gt_of_det >= 0
    # one detection per ground truth: the first in matching order (a crowd's highest-scoring one)
    first = torch.full((batch.gt_labels.numel(),), det_order.numel(), dtype=torch.long, device=counts.device)
    position = torch.arange(det_order.numel(), device=counts.device)
    first.scatter_reduce_(0, gt_of_det[matched], position[matched], reduce="amin")
    hit = first < det_order.numel()
    cells = batch.gt_labels[hit] * (k + 1) + det_labels[first[hit]]
    misses = batch.gt_labels[~hit] * (k + 1) + k
    background = k * (k + 1) + det_labels[~matched]
    flat = torch.cat([cells, misses, background])
    return counts.view(-1).index_add_(0, flat, torch.ones_like(flat)).view(k + 1, k + 1)


def detection_confusion_matrix(
    preds: Sequence[dict],
    target: Sequence[dict],
    num_classes: int,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
    box_format: str = "xyxy",
    iou_type: str = "bbox",
    class_agnostic: bool = True,
) -> Tensor:
    """The detection confusion matrix of one set of images, equal to faster-coco-eval's
    ``compute_confusion_matrix``.

    The functional twin of :class:`lightning_evalkit.DetectionConfusionMatrix` (see it for the rules). Returns
    a (num_classes + 1, num_classes + 1) int64 tensor: ``[true, predicted]`` counts of matched ground truths,
    the last column the missed ground truths of each class, the last row the unmatched ("background")
    detections of each class; the corner is 0. faster-coco-eval's (K, K + 2) matrix is ``[:K, :K]`` with
    ``[K, :K]`` and ``[:K, K]`` as its last two columns.

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), scores=torch.tensor([0.9, 0.8]),
        ...               labels=torch.tensor([1, 0]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60]]), labels=torch.tensor([0, 1]))]
        >>> detection_confusion_matrix(preds, target, num_classes=2).tolist()
        [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    """
    _confusion_check_args(num_classes, iou_threshold, score_threshold, box_format, iou_type)
    batch = parse_detection_inputs(preds, target, box_format, (iou_type,))
    _check_labels(batch, num_classes)
    return _confusion_update(batch, num_classes, float(iou_threshold), float(score_threshold), class_agnostic)
