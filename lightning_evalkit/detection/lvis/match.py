"""LVIS matching at update time: the kept detections and ground truths of a batch matched, as compact records.

``LVISEval.evaluate_img`` matches each (image, category) exactly as pycocotools' ``COCOeval.evaluateImg`` does
without crowd ground truth (LVIS passes ``iscrowd=0`` for every annotation): detections in score order (stable),
ground truth with the ones outside the area range last, greedy by IoU >= min(t, 1 - 1e-10), later ground truth
winning equal IoUs. So the batched matching of :mod:`~lightning_evalkit.detection.coco.match` runs unchanged, with
three differences in what it is given: only the detections and ground truths of the federated
:class:`~lightning_evalkit.detection.lvis.federated.Selection`; no cut to a number of detections per (image,
category) (lvis-api cuts per image, before); and an unmatched detection is ignored where it lies outside the area
range *or* its category is not exhaustively annotated in its image.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit.detection.coco.match import (
    CocoRecords,
    _area_outside,
    _match_candidates,
    _match_flags,
    box_match_kernels,
    compiled_box_flags,
    records_of,
)
from lightning_evalkit.detection.coco.pairs import _pair_mask_iou, candidate_pairs, match_groups, pair_box_iou
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.lvis.federated import Selection


def _kept_batch(batch: DetectionBatch, selection: Selection) -> tuple[DetectionBatch, Tensor, Tensor]:
    """The fields that group and order detections and ground truths, of the kept ones only, and their indices."""
    dets, gts = torch.nonzero(selection.det_keep).flatten(), torch.nonzero(selection.gt_keep).flatten()
    kept = batch._replace(
        det_image=batch.det_image[dets],
        det_labels=batch.det_labels[dets],
        det_scores=batch.det_scores[dets],
        gt_image=batch.gt_image[gts],
        gt_labels=batch.gt_labels[gts],
    )
    return kept, dets, gts


def lvis_match(
    batch: DetectionBatch,
    selection: Selection,
    iou_thresholds: Tensor,
    area_ranges: Tensor,
    det_areas: Tensor,
) -> CocoRecords:
    """Match the selected detections and ground truths of ``batch`` the lvis-api way; return their records.

    ``det_areas`` decide whether an unmatched detection lies outside an area range (lvis-api's ``area`` of a
    result); the IoU takes the boxes' or masks' own areas. Ground truth is never crowd.

    Example:
        >>> import torch
        >>> from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), scores=torch.tensor([0.9, 0.8]),
        ...               labels=torch.tensor([1, 1]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 10, 10]]), labels=torch.tensor([1]))]
        >>> batch = parse_detection_inputs(preds, target)
        >>> keep = Selection(torch.tensor([True, True]), torch.tensor([True]), torch.tensor([False, True]))
        >>> ranges = torch.tensor([[0.0, 1e10]], dtype=torch.float64)
        >>> records = lvis_match(batch, keep, torch.tensor([0.5], dtype=torch.float64), ranges, batch.det_areas)
        >>> from lightning_evalkit.detection.coco.flags import unpack_area_flags
        >>> flags = (unpack_area_flags(records.det_matched, 1), unpack_area_flags(records.det_ignored, 1))
        >>> flags[0][:, 0, 0].tolist(), flags[1][:, 0, 0].tolist()
        ([True, False], [False, True])
    """
    kept, dets, gts = _kept_batch(batch, selection)
    kernels = box_match_kernels(batch, area_ranges) if batch.iou_type == "bbox" else None
    if kernels is not None:
        return _compiled_lvis_match(
            kernels, batch, selection, (kept, dets, gts), iou_thresholds, area_ranges, det_areas
        )
    pairs = candidate_pairs(kept, None)
    det_order, gt_order = dets[pairs.det_order], gts[pairs.gt_order]
    det_idx, gt_idx = det_order[pairs.pair_det], gt_order[pairs.pair_gt]
    no_crowd = batch._replace(gt_crowd=torch.zeros_like(batch.gt_crowd))
    iou = pair_box_iou if batch.iou_type == "bbox" else _pair_mask_iou
    pair_iou = iou(no_crowd, det_idx, gt_idx)
    gt_ignored = _area_outside(batch.gt_areas[gt_order], area_ranges)
    gt_crowd = torch.zeros(gt_order.numel(), dtype=torch.bool, device=gt_order.device)
    found = _match_candidates(
        pairs.pair_det, pairs.pair_gt, pair_iou, gt_ignored, gt_crowd, iou_thresholds, pairs.pair_group
    )
    # unmatched: ignored outside the area range, or where the category is not exhaustively annotated
    outside = _area_outside(det_areas[det_order], area_ranges) | selection.det_not_exhaustive[det_order, None]
    flags = _match_flags(found, outside, gt_ignored, iou_thresholds.numel())
    gt_counted = ~_area_outside(batch.gt_areas[gts], area_ranges)
    return records_of(batch, det_order, pairs.det_rank, flags, batch.gt_labels[gts], gt_counted)


def _compiled_lvis_match(
    kernels: ModuleType,
    batch: DetectionBatch,
    selection: Selection,
    kept_batch: tuple[DetectionBatch, Tensor, Tensor],
    iou_thresholds: Tensor,
    area_ranges: Tensor,
    det_areas: Tensor,
) -> CocoRecords:
    """:func:`lvis_match` of boxes by the compiled COCO matching (coco/match_numba.py): the same records, bit for
    bit. The kernel sees the kept detections and ground truths only, none of them crowd; afterwards an unmatched
    detection of a category not exhaustively annotated in its image is ignored in every area range."""
    kept, dets, gts = kept_batch
    assert batch.det_boxes is not None and batch.gt_boxes is not None
    groups = match_groups(kept, None, kernels)
    det = (batch.det_boxes[dets], batch.det_areas[dets], det_areas[dets])
    no_crowd = torch.zeros(gts.numel(), dtype=torch.bool, device=gts.device)
    gt = (batch.gt_boxes[gts], batch.gt_iou_areas[gts], batch.gt_areas[gts], no_crowd)
    matched, ignored = compiled_box_flags(kernels, groups, det, gt, iou_thresholds, area_ranges)
    det_order = dets[groups.det_order]
    not_exhaustive = selection.det_not_exhaustive[det_order].numpy()
    every_area = np.uint8((1 << area_ranges.shape[0]) - 1)
    ignored[not_exhaustive] |= ~matched[not_exhaustive] & every_area
    flags = (torch.from_numpy(matched)[..., None], torch.from_numpy(ignored)[..., None])
    gt_counted = ~_area_outside(batch.gt_areas[gts], area_ranges)
    return records_of(batch, det_order, groups.det_rank, flags, batch.gt_labels[gts], gt_counted)
