"""COCO matching at update time: a batch of images in, compact per-detection records out.

The rules are pycocotools' ``COCOeval.evaluateImg``: per (image, class) the detections are taken in score
order (stable, truncated to the largest max-detections value); each takes, among the ground truths still
available (unmatched, or crowd), the one with the largest IoU >= min(t, 1 - 1e-10), preferring ground truth
that is not ignored, and among equal IoUs the later one. That greedy walk is sequential per (image, class,
IoU threshold, area range), so here it runs in *rounds* over every detection-ground-truth candidate pair of
the batch and every threshold and area range at once: in a round each unresolved detection picks its
preferred available ground truth, and its pick is final when no earlier unresolved detection of its group
could still take that ground truth (availability only shrinks, so its preference cannot change any more).
The first unresolved detection of every group always resolves, so the rounds end; in practice a handful
suffices (one per duplicate in a cluster).

Most groups need no rounds: when every detection of a group has at most one candidate ground truth (the
usual case, as duplicates of one object compete for the same ground truth), the walk reduces to "the first
detection in score order whose IoU reaches the threshold takes it" (every one, for crowd), the same for every
area range; that is one scatter-min over (pair, threshold). Only the other groups run the rounds.

Boxes on the CPU, where numba is installed, take a compiled walk instead (match_numba.py: the same records bit
for bit, about twice as fast); the rounds stay the fallback and the reference it is tested against.
"""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit._core.compiled import compiled_module
from lightning_evalkit.detection.coco.flags import pack_area_flags
from lightning_evalkit.detection.coco.pairs import Groups, _pair_mask_iou, candidate_pairs, match_groups, pair_box_iou
from lightning_evalkit.detection.inputs.batch import DetectionBatch


class CocoRecords(NamedTuple):
    """Compact per-detection and per-ground-truth records of one batch (what the metric states hold).

    Detections are in image order and, within an image, by (class, score descending, input order), so a later
    stable sort by (class, -score) reproduces pycocotools' concatenation in image order.
    """

    det_scores: Tensor  # (N,) float64
    det_labels: Tensor  # (N,) int64
    det_ranks: Tensor  # (N,) int64 rank by score within its (image, class)
    det_matched: Tensor  # (N, T, ceil(A / 8)) uint8: (N, T, A) flags packed (see coco/flags.py)
    det_ignored: Tensor  # (N, T, ceil(A / 8)) uint8
    gt_labels: Tensor  # (G,) int64
    gt_counted: Tensor  # (G, A) bool: not crowd and inside the area range
    det_image_ids: Tensor  # (N,) int64 the target's image_id (0 without one): orders score ties across images


def greedy_match(
    pair_det: Tensor,
    pair_gt: Tensor,
    pair_iou: Tensor,
    num_dets: int,
    gt_ignored: Tensor,
    gt_crowd: Tensor,
    thresholds: Tensor,
    pair_group: Tensor | None = None,
) -> Tensor:
    """COCO greedy matching of candidate pairs; returns the matched gt index (N, T, A), -1 where unmatched.

    Pairs must be sorted by detection, and detection indices must follow score order within each group.
    ``gt_ignored`` is (G, A), ``thresholds`` (T,) float64; ``pair_group`` (C,) (sorted) lets groups whose
    detections have one candidate each take the fast path of :func:`_greedy_match_rows`.
    """
    match = torch.full((num_dets, thresholds.numel(), gt_ignored.shape[1]), -1, dtype=torch.long)
    match = match.to(pair_iou.device)
    dets, det_match = _greedy_match_rows(pair_det, pair_gt, pair_iou, gt_ignored, gt_crowd, thresholds, pair_group)
    match[dets] = det_match
    return match


def _greedy_match_rows(
    pair_det: Tensor,
    pair_gt: Tensor,
    pair_iou: Tensor,
    gt_ignored: Tensor,
    gt_crowd: Tensor,
    thresholds: Tensor,
    pair_group: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`greedy_match` for the detections with a candidate only: their indices (D,) and matches (D, T, A)."""
    found = _match_candidates(pair_det, pair_gt, pair_iou, gt_ignored, gt_crowd, thresholds, pair_group)
    single = found.single_gt[:, :, None].expand(-1, -1, gt_ignored.shape[1])
    return torch.cat([found.single_dets, found.dets]), torch.cat([single, found.det_match])


class _Matches(NamedTuple):
    """Greedy matching results of the detections that have a candidate, in two parts."""

    single_dets: Tensor  # (S,) detections alone on their candidate in a group where each has at most one
    single_gt: Tensor  # (S, T) their matched gt index or -1, the same for every area range
    dets: Tensor  # (D,) the other detections with a candidate
    det_match: Tensor  # (D, T, A) their matched gt index or -1


def _match_candidates(
    pair_det: Tensor,
    pair_gt: Tensor,
    pair_iou: Tensor,
    gt_ignored: Tensor,
    gt_crowd: Tensor,
    thresholds: Tensor,
    pair_group: Tensor | None,
) -> _Matches:
    """Match the candidate pairs (sorted by detection); see :func:`greedy_match`.

    Groups where every detection has at most one candidate ground truth (nearly all of them in practice) take
    :func:`_single_candidate_match`; the other groups (all of them when ``pair_group`` is None) run the rounds.
    """
    num_thr, num_areas = thresholds.numel(), gt_ignored.shape[1]
    candidate = pair_iou[:, None] >= thresholds.clamp(max=1 - 1e-10)[None, :]
    keep = candidate.any(1)
    pair_det, pair_gt, pair_iou, candidate = pair_det[keep], pair_gt[keep], pair_iou[keep], candidate[keep]
    single_dets = pair_det[:0]
    single_gt = torch.zeros(0, num_thr, dtype=torch.long, device=pair_iou.device)
    if pair_group is not None:
        general = _in_groups_with_several_candidates(pair_det, pair_group[keep])
        simple = ~general
        single_dets = pair_det[simple]
        single_gt = _single_candidate_match(single_dets, pair_gt[simple], candidate[simple], gt_crowd)
        pair_det, pair_gt, pair_iou, candidate = (x[general] for x in (pair_det, pair_gt, pair_iou, candidate))
    if not pair_det.numel():
        empty = torch.zeros(0, num_thr, num_areas, dtype=torch.long, device=pair_iou.device)
        return _Matches(single_dets, single_gt, pair_det, empty)
    dets, local_det = torch.unique(pair_det, return_inverse=True)
    gts, local_gt = torch.unique(pair_gt, return_inverse=True)
    local_match = _match_rounds(local_det, local_gt, pair_iou, candidate, gt_ignored[gts], gt_crowd[gts], dets.numel())
    det_match = torch.where(local_match >= 0, gts[local_match.clamp(min=0)], local_match)
    return _Matches(single_dets, single_gt, dets, det_match)


def _in_groups_with_several_candidates(pair_det: Tensor, pair_group: Tensor) -> Tensor:
    """(C,) bool: the pair's group has a detection with two or more candidate pairs (pairs sorted by det)."""
    repeated = pair_det[1:] == pair_det[:-1]
    if not bool(repeated.any()):
        return torch.zeros_like(pair_det, dtype=torch.bool)
    return torch.isin(pair_group, pair_group[1:][repeated])


def _single_candidate_match(det: Tensor, gt: Tensor, candidate: Tensor, gt_crowd: Tensor) -> Tensor:
    """Greedy matching where each detection has exactly one candidate pair: the matched gt (D, T) or -1.

    With one candidate, a detection's preference (not ignored, IoU, index) never comes into play, so the
    result is the same for every area range: a detection takes its ground truth at a threshold when the IoU
    reaches it and the ground truth is crowd or no earlier detection (in score order) reached it there.
    """
    num_thr = candidate.shape[1]
    if not det.numel():
        return torch.zeros(0, num_thr, dtype=torch.long, device=det.device)
    none = torch.iinfo(torch.long).max
    thr_index = torch.arange(num_thr, device=det.device)
    slot = (gt[:, None] * num_thr + thr_index).flatten()
    first = torch.full((gt_crowd.numel() * num_thr,), none, dtype=torch.long, device=det.device)
    first.scatter_reduce_(0, slot, torch.where(candidate, det[:, None], none).flatten(), "amin")
    takes = candidate & (gt_crowd[gt][:, None] | (first.index_select(0, slot).view_as(candidate) == det[:, None]))
    return torch.where(takes, gt[:, None], -1)


def _match_rounds(
    det: Tensor, gt: Tensor, iou: Tensor, candidate: Tensor, ignored: Tensor, crowd: Tensor, num_dets: int
) -> Tensor:
    """The rounds described in the module docstring, over local (compacted) detection and gt indices."""
    num_pairs, num_gts = iou.numel(), ignored.shape[0]
    shape = (num_pairs, candidate.shape[1], ignored.shape[1])
    iou_rank = torch.unique(iou, return_inverse=True)[1]
    # preference: not ignored, then larger IoU, then the later ground truth (exact integer key, no float ties)
    key = ((~ignored[gt]).long() * num_pairs + iou_rank[:, None]) * num_gts + gt[:, None]
    key = key[:, None, :].expand(shape)
    candidate = candidate[:, :, None].expand(shape)
    det3, gt3 = det[:, None, None].expand(shape), gt[:, None, None].expand(shape)
    crowd3 = crowd[gt][:, None, None]
    self_index = torch.arange(num_dets, device=iou.device)[:, None, None]
    taken = torch.zeros((num_gts, *shape[1:]), dtype=torch.bool, device=iou.device)
    unresolved = torch.ones((num_dets, *shape[1:]), dtype=torch.bool, device=iou.device)
    match = torch.full((num_dets, *shape[1:]), -1, dtype=torch.long, device=iou.device)
    while True:
        available = candidate & unresolved[det] & (crowd3 | ~taken[gt])
        if not bool(available.any()):
            return match
        best = torch.full_like(match, -1).scatter_reduce(0, det3, torch.where(available, key, -1), "amax")
        has_pick = best >= 0
        pick = best % num_gts
        first = torch.full_like(taken, num_dets, dtype=torch.long)
        first = first.scatter_reduce(0, gt3, torch.where(available, det3, num_dets), "amin")
        pick_crowd = crowd[pick]
        final = has_pick & (pick_crowd | (first.gather(0, pick) == self_index))
        match = torch.where(final, pick, match)
        taken |= torch.zeros_like(taken, dtype=torch.int32).scatter_add_(0, pick, (final & ~pick_crowd).int()) > 0
        unresolved &= has_pick & ~final


def _area_outside(areas: Tensor, area_ranges: Tensor) -> Tensor:
    """(N, A) True where an area lies outside [lo, hi] of each range (bounds inclusive)."""
    return (areas[:, None] < area_ranges[None, :, 0]) | (areas[:, None] > area_ranges[None, :, 1])


def _match_flags(found: _Matches, outside: Tensor, gt_ignored: Tensor, num_thr: int) -> tuple[Tensor, Tensor]:
    """Per detection, packed (N, T, ceil(A / 8)) (see coco/flags.py): matched, and ignored (its gt's flag when
    matched, else outside the area range).

    Only detections with a candidate can match; the rest are ignored exactly when outside the area range. With
    at most 8 area ranges a (threshold) row of flags is one byte, built as such.
    """
    num_dets, num_areas = outside.shape
    single_dets, single_gt, dets, det_match = found
    if num_areas > 8:  # several bytes per row: the flags as booleans, packed at the end
        dets = torch.cat([single_dets, dets])
        det_match = torch.cat([single_gt[:, :, None].expand(-1, -1, num_areas), det_match])
        matched = torch.zeros(num_dets, num_thr, num_areas, dtype=torch.bool, device=outside.device)
        ignored = outside[:, None, :].expand(-1, num_thr, -1).contiguous()
        matched[dets], ignored[dets] = _general_flags(det_match, outside[dets], gt_ignored)
        return pack_area_flags(matched), pack_area_flags(ignored)
    outside_bits = pack_area_flags(outside[:, None, :])[:, 0, 0]
    gt_bits = pack_area_flags(gt_ignored[:, None, :])[:, 0, 0]
    matched = torch.zeros(num_dets, num_thr, dtype=torch.uint8, device=outside.device)
    ignored = outside_bits[:, None].expand(-1, num_thr).contiguous()
    hit = single_gt >= 0
    matched[single_dets] = torch.where(hit, (1 << num_areas) - 1, 0).to(torch.uint8)
    ignored[single_dets] = torch.where(hit, gt_bits[single_gt.clamp(min=0)], outside_bits[single_dets, None])
    if dets.numel():
        det_matched, det_ignored = _general_flags(det_match, outside[dets], gt_ignored)
        matched[dets], ignored[dets] = pack_area_flags(det_matched)[..., 0], pack_area_flags(det_ignored)[..., 0]
    return matched[..., None], ignored[..., None]


def _general_flags(det_match: Tensor, outside: Tensor, gt_ignored: Tensor) -> tuple[Tensor, Tensor]:
    """(D, T, A) matched and ignored of detections with matches (D, T, A) that may differ by area range."""
    num_areas = outside.shape[1]
    det_matched = det_match >= 0
    area_index = torch.arange(num_areas, device=outside.device)
    gt_flags = gt_ignored.flatten().index_select(0, (det_match.clamp(min=0) * num_areas + area_index).flatten())
    return det_matched, torch.where(det_matched, gt_flags.view(det_match.shape), outside[:, None, :])


def coco_match(
    batch: DetectionBatch,
    iou_thresholds: Tensor,
    area_ranges: Tensor,
    max_det: int,
    iou_type: str,
    match_labels: tuple[Tensor, Tensor] | None = None,
) -> CocoRecords:
    """Match one batch of images the pycocotools way and return its compact records.

    ``match_labels`` (e.g. all zeros for micro averaging) replace the labels for matching only; the records
    keep the batch's own labels.
    """
    grouping = batch if match_labels is None else batch._replace(det_labels=match_labels[0], gt_labels=match_labels[1])
    kernels = box_match_kernels(batch, area_ranges) if iou_type == "bbox" else None
    if kernels is not None:
        return _compiled_match(kernels, batch, match_groups(grouping, max_det, kernels), iou_thresholds, area_ranges)
    pairs = candidate_pairs(grouping, max_det)
    det_order, gt_order = pairs.det_order, pairs.gt_order
    det_idx, gt_idx = det_order[pairs.pair_det], gt_order[pairs.pair_gt]
    pair_iou = pair_box_iou(batch, det_idx, gt_idx) if iou_type == "bbox" else _pair_mask_iou(batch, det_idx, gt_idx)
    gt_crowd = batch.gt_crowd[gt_order]
    gt_ignored = gt_crowd[:, None] | _area_outside(batch.gt_areas[gt_order], area_ranges)
    found = _match_candidates(
        pairs.pair_det, pairs.pair_gt, pair_iou, gt_ignored, gt_crowd, iou_thresholds, pairs.pair_group
    )
    outside = _area_outside(batch.det_areas[det_order], area_ranges)
    flags = _match_flags(found, outside, gt_ignored, iou_thresholds.numel())
    gt_counted = ~(batch.gt_crowd[:, None] | _area_outside(batch.gt_areas, area_ranges))
    return records_of(batch, det_order, pairs.det_rank, flags, batch.gt_labels, gt_counted)


_KERNELS = "lightning_evalkit.detection.coco.match_numba"


def box_match_kernels(batch: DetectionBatch, area_ranges: Tensor) -> ModuleType | None:
    """The compiled box matching (match_numba.py) where it applies: numba installed, CPU tensors, and at most 8
    area ranges (one flag byte); else None, and the vectorised rounds run."""
    if batch.det_scores.device.type != "cpu" or area_ranges.shape[0] > 8:
        return None
    return compiled_module(_KERNELS)


def compiled_box_flags(
    kernels: ModuleType,
    groups: Groups,
    det: tuple[Tensor, Tensor, Tensor],
    gt: tuple[Tensor, Tensor, Tensor, Tensor],
    iou_thresholds: Tensor,
    area_ranges: Tensor,
) -> tuple[np.ndarray, np.ndarray]:
    """The packed (N, T) matched and ignored flags of the kernel's greedy matching (match_numba.py) of ``groups``
    (one flag byte: at most 8 area ranges). ``det`` is (xyxy boxes, IoU areas, area-range areas), ``gt`` is
    (xyxy boxes, IoU areas, area-range areas, crowd), indexed as the groups index them."""
    matched = np.empty((groups.det_order.numel(), iou_thresholds.numel()), dtype=np.uint8)
    ignored = np.empty_like(matched)
    arrays = (
        groups.det_order, groups.det_group, *det, groups.gt_order, groups.gt_group, *gt, iou_thresholds,
        area_ranges[:, 0], area_ranges[:, 1],
    )  # fmt: skip
    kernels.match_boxes(*(np.ascontiguousarray(array.numpy()) for array in arrays), matched, ignored)
    return matched, ignored


def _compiled_match(
    kernels: ModuleType, batch: DetectionBatch, groups: Groups, iou_thresholds: Tensor, area_ranges: Tensor
) -> CocoRecords:
    """:func:`coco_match` of boxes by the numba kernel (match_numba.py): the same records, bit for bit."""
    assert batch.det_boxes is not None and batch.gt_boxes is not None
    det = (batch.det_boxes, batch.det_areas, batch.det_areas)
    gt = (batch.gt_boxes, batch.gt_iou_areas, batch.gt_areas, batch.gt_crowd)
    matched, ignored = compiled_box_flags(kernels, groups, det, gt, iou_thresholds, area_ranges)
    flags = (torch.from_numpy(matched)[..., None], torch.from_numpy(ignored)[..., None])
    gt_counted = ~(batch.gt_crowd[:, None] | _area_outside(batch.gt_areas, area_ranges))
    return records_of(batch, groups.det_order, groups.det_rank, flags, batch.gt_labels, gt_counted)


def records_of(
    batch: DetectionBatch,
    det_order: Tensor,
    det_rank: Tensor,
    flags: tuple[Tensor, Tensor],
    gt_labels: Tensor,
    gt_counted: Tensor,
) -> CocoRecords:
    """The records of the detections ``det_order`` (original indices, matching order) with their packed
    (N, T, ceil(A / 8)) matched and ignored ``flags``, whichever matching made them."""
    matched, ignored = flags
    return CocoRecords(
        det_scores=batch.det_scores[det_order],
        det_labels=batch.det_labels[det_order],
        det_ranks=det_rank,
        det_matched=matched,
        det_ignored=ignored,
        gt_labels=gt_labels,
        gt_counted=gt_counted,
        det_image_ids=batch.image_ids[batch.det_image[det_order]],
    )
