"""What matching and the extended-summary IoUs share: class indices, the score order, and the candidate
(detection, ground truth) pairs of each (image, class) with their box or mask IoU.
"""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit.detection.boxes import _paired_box_iou
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.masks import iou_from_counts, pair_intersections


def _class_indices(*labels: Tensor) -> tuple[Tensor, list[Tensor]]:
    """The sorted distinct labels of all the given tensors, and each tensor's labels as indices into them.

    Small non-negative labels (the usual case) take a count and a lookup table instead of a sort.
    """
    every = torch.cat(labels)
    low, high = (int(v) for v in every.aminmax()) if every.numel() else (0, 0)
    if low < 0 or high > 4 * every.numel() + 1024:
        classes = torch.unique(every)
        return classes, [torch.searchsorted(classes, x) for x in labels]
    present = torch.bincount(every, minlength=high + 1) > 0
    classes = torch.nonzero(present).flatten()
    lookup = torch.cumsum(present, 0) - 1
    return classes, [lookup.index_select(0, x) for x in labels]


def _descending_score_key(scores: Tensor) -> Tensor | None:
    """An int64 in [0, 2**32) ordered as -score (ties equal), or None when a score is not exactly a float32."""
    if _numpy_fits(scores) and scores.dtype == torch.float64:
        return _descending_score_key_numpy(scores.numpy())
    single = scores.float()
    if not bool((single.double() == scores).all()):
        return None
    bits = (single + 0.0).view(torch.int32).long()  # + 0.0 turns -0.0 into 0.0, which ties with it
    monotone = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # IEEE bits -> an integer ordered as the float
    return (2**31 - 1) - monotone


def _descending_score_key_numpy(values: np.ndarray) -> Tensor | None:
    """:func:`_descending_score_key` in numpy (2-3x faster on CPU); non-negative scores skip the sign fix."""
    single = values.astype(np.float32)
    if not np.array_equal(single, values):
        return None
    bits = (single + np.float32(0.0)).view(np.int32)
    if bits.size == 0 or bits.min() >= 0:
        return torch.from_numpy(np.int64(2**31 - 1) - bits)
    wide = bits.astype(np.int64)
    return torch.from_numpy((2**31 - 1) - np.where(wide < 0, wide ^ 0x7FFFFFFF, wide))


def _numpy_fits(tensor: Tensor) -> bool:
    return tensor.device.type == "cpu"


def _group_order(group: Tensor, scores: Tensor | None) -> tuple[Tensor, Tensor]:
    """Stable order by (group, -score); return it and each element's rank within its group (groups >= 0)."""
    score_key = None if scores is None else _descending_score_key(scores)
    if scores is not None and score_key is None:
        order = torch.sort(-scores, stable=True).indices
        order = order[torch.sort(group[order], stable=True).indices]
    else:  # one sort of (group, score) packed into one integer
        order = torch.sort(group if score_key is None else group * 2**32 + score_key, stable=True).indices
    counts = torch.bincount(group)
    starts = (torch.cumsum(counts, 0) - counts).index_select(0, group.index_select(0, order))
    return order, torch.arange(group.numel(), device=group.device) - starts


def _candidate_pairs(det_group: Tensor, gt_group: Tensor) -> tuple[Tensor, Tensor]:
    """Every (detection, ground truth) pair sharing a group; gt_group must be sorted."""
    start = torch.searchsorted(gt_group, det_group, side="left")
    counts = torch.searchsorted(gt_group, det_group, side="right") - start
    pair_det = torch.repeat_interleave(torch.arange(det_group.numel(), device=det_group.device), counts)
    offsets = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    pair_gt = start[pair_det] + torch.arange(pair_det.numel(), device=det_group.device) - offsets
    return pair_det, pair_gt


def _pair_mask_iou(batch: DetectionBatch, det_idx: Tensor, gt_idx: Tensor) -> Tensor:
    """Mask IoU (crowd-aware) of (original detection index, original gt index) pairs: only these pairs are
    computed (same image and class), and only where their mask boxes overlap (see detection/masks.py)."""
    assert batch.det_masks is not None and batch.gt_masks is not None
    shared = pair_intersections(batch.det_masks, batch.gt_masks, det_idx, gt_idx, batch.det_image, batch.gt_image)
    return iou_from_counts(shared, batch.det_areas[det_idx], batch.gt_iou_areas[gt_idx], batch.gt_crowd[gt_idx])


class CandidatePairs(NamedTuple):
    """Detections kept in (image, class, -score) order and every same-(image, class) pair with a ground
    truth."""

    det_order: Tensor  # (N,) original detection index of each kept detection, in matching order
    det_rank: Tensor  # (N,) rank by score within its (image, class)
    gt_order: Tensor  # (G,) original gt index, grouped by (image, class), input order within a group
    pair_det: Tensor  # (C,) index into det_order
    pair_gt: Tensor  # (C,) index into gt_order
    pair_group: Tensor  # (C,) the (image, class) group of each pair, non-decreasing


class Groups(NamedTuple):
    """Detections and ground truths grouped by (image, class): the group of each (by original index) and the
    matching order."""

    det_group: Tensor  # (N,) group of each detection
    gt_group: Tensor  # (G,) group of each ground truth
    det_order: Tensor  # (N',) the kept detections in (group, -score) order
    det_rank: Tensor  # (N',) rank by score within its group
    gt_order: Tensor  # (G,) ground truths in group order, input order within a group


def match_groups(batch: DetectionBatch, max_det: int | None, kernels: ModuleType | None = None) -> Groups:
    """Group detections and ground truths by (image, class) and order them for matching; detections ranked
    ``max_det`` or later within their group are left out. ``kernels`` (match_numba.py) order them by a counting
    sort on the CPU: the same order."""
    classes, (det_class, gt_class) = _class_indices(batch.det_labels, batch.gt_labels)
    n_cls = max(classes.numel(), 1)
    det_group = batch.det_image * n_cls + det_class
    gt_group = batch.gt_image * n_cls + gt_class
    num_groups = batch.num_images * n_cls
    if kernels is not None and num_groups <= 4 * (det_group.numel() + gt_group.numel()) + 4096:
        det_group, gt_group = det_group.contiguous(), gt_group.contiguous()
        scores = np.ascontiguousarray(batch.det_scores.double().numpy())
        max_rank = det_group.numel() if max_det is None else max_det
        det_order, det_rank = kernels.group_order(det_group.numpy(), scores, num_groups, max_rank)
        gt_order = kernels.group_order(gt_group.numpy(), None, num_groups, gt_group.numel())[0]
        return Groups(det_group, gt_group, *map(torch.from_numpy, (det_order, det_rank, gt_order)))
    det_order, det_rank = _group_order(det_group, batch.det_scores)
    if max_det is not None and det_rank.numel() and int(det_rank.max()) >= max_det:  # else nothing is cut
        kept = det_rank < max_det
        det_order, det_rank = det_order[kept], det_rank[kept]
    gt_order, _ = _group_order(gt_group, None)
    return Groups(det_group, gt_group, det_order, det_rank, gt_order)


def candidate_pairs(batch: DetectionBatch, max_det: int | None) -> CandidatePairs:
    """Group detections and ground truths by (image, class) and list the pairs that may be matched."""
    det_group, gt_group, det_order, det_rank, gt_order = match_groups(batch, max_det)
    det_group = det_group[det_order]
    pair_det, pair_gt = _candidate_pairs(det_group, gt_group[gt_order])
    return CandidatePairs(det_order, det_rank, gt_order, pair_det, pair_gt, det_group[pair_det])


def pair_box_iou(batch: DetectionBatch, det_idx: Tensor, gt_idx: Tensor) -> Tensor:
    """Box IoU (crowd-aware) of (original detection index, original gt index) pairs."""
    assert batch.det_boxes is not None and batch.gt_boxes is not None
    return _paired_box_iou(
        batch.det_boxes[det_idx],
        batch.det_areas[det_idx],
        batch.gt_boxes[gt_idx],
        batch.gt_iou_areas[gt_idx],
        batch.gt_crowd[gt_idx],
    )
