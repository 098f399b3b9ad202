"""COCO accumulation at compute time: records in, pycocotools' precision / recall / scores arrays out.

pycocotools' ``accumulate`` loops over class, area range, max-detections and IoU threshold, building precision
at every detection and sampling it at the recall thresholds. The same numbers follow from the true positives
alone: recall only moves at a true positive, so ``searchsorted(recall, r, "left")`` lands on the k_r-th true
positive (k_r = the least k with k / n_gt >= r, found exactly in float64), and the monotone envelope there
is the largest precision at that or any later true positive. So compute() is one stable sort, cumulative sums over
all (IoU threshold, area range) at once, and a segmented suffix maximum over the true positives of every
(threshold, area range, class) segment. Float operations are pycocotools' own, in its order, so results agree
to the last bit except for the order of summation in the final means.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

EPS = float(np.spacing(1))


def _recall_steps(n_gt: Tensor, rec_thresholds: Tensor) -> Tensor:
    """k_r (K, A, R): least k >= 0 with float64(k / n_gt) >= r; -> searchsorted(k / n_gt, r, "left")."""
    n = n_gt.double()[..., None].clamp(min=1)
    guess = torch.ceil(rec_thresholds * n).long()
    options = torch.stack([guess - 1, guess, guess + 1]).clamp(min=0)
    ok = options.double() / n >= rec_thresholds
    big = torch.iinfo(torch.long).max
    return torch.where(ok, options, big).amin(0)


def _segment_suffix_max(values: Tensor, segment: Tensor, num_segments: int) -> Tensor:
    """Within runs of equal (non-decreasing) ``segment``, the max of ``values`` from each position to the
    run end."""
    if values.numel() == 0:
        return values
    unique, rank = torch.unique(values, return_inverse=True)
    # integer keys keep the values exact; later segments must not leak into earlier ones, so they get lower
    # keys
    key = (num_segments - 1 - segment) * unique.numel() + rank
    suffix = key.flip(0).cummax(0).values.flip(0)
    return unique[suffix % unique.numel()]


def _first_valid_score(scores: Tensor, cls: Tensor, valid: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Per class: number of counted detections and the score of the first (0 when none)."""
    n = scores.numel()
    position = torch.where(valid, torch.arange(n, device=scores.device), n)
    first = torch.full((num_classes,), n, dtype=torch.long, device=scores.device)
    first = first.scatter_reduce(0, cls, position, "amin")
    count = torch.zeros(num_classes, dtype=torch.long, device=scores.device).index_add_(0, cls, valid.long())
    padded = torch.cat([scores, scores.new_zeros(1)])
    return count, padded[first]


def _segment_base(cumulative: Tensor, starts: Tensor) -> Tensor:
    """cumulative[start - 1] for each segment start (0 where start is 0): the count before the segment."""
    padded = torch.cat([cumulative.new_zeros((1, *cumulative.shape[1:])), cumulative])
    return padded[starts]


def _true_positive_events(
    cls: Tensor, matched: Tensor, ignored: Tensor, valid: Tensor, num_classes: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Every true positive as (t, a, position, k, f), ordered by (t, a, position): k is its rank among the
    true positives of its class and f the false positives before it. Inputs are sorted by (class, -score).

    A detection matched at no threshold has the same flags at every threshold (false positive unless outside
    the area range), so its false positives are counted per area range only; the (T, A) work runs on the few
    detections matched at some threshold.
    """
    ever = matched.flatten(1).any(1)
    never_counted = ((~ever & valid)[:, None] & ~ignored[:, 0, :]).cumsum(0, dtype=torch.int32)  # (N, A)
    class_start = torch.searchsorted(cls, torch.arange(num_classes, device=cls.device))
    some = torch.nonzero(ever).flatten()
    counted = ~ignored[some] & valid[some, None, None]
    tp = matched[some] & counted
    cum_tp = tp.cumsum(0, dtype=torch.int32)  # (S, T, A)
    cum_fp = (~matched[some] & counted).cumsum(0, dtype=torch.int32)
    some_start = torch.searchsorted(cls[some], torch.arange(num_classes, device=cls.device))
    t_idx, a_idx, s_idx = tp.permute(1, 2, 0).nonzero(as_tuple=True)
    c_idx, n_idx = cls[some[s_idx]], some[s_idx]
    k = cum_tp[s_idx, t_idx, a_idx] - _segment_base(cum_tp, some_start)[c_idx, t_idx, a_idx]
    f = cum_fp[s_idx, t_idx, a_idx] - _segment_base(cum_fp, some_start)[c_idx, t_idx, a_idx]
    f = f + never_counted[n_idx, a_idx] - _segment_base(never_counted, class_start)[c_idx, a_idx]
    return t_idx, a_idx, n_idx, k.double(), f.double()


def _accumulate_one_max_det(
    cls: Tensor,
    scores: Tensor,
    matched: Tensor,
    ignored: Tensor,
    valid: Tensor,
    steps: Tensor,
    num_classes: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """precision (T, A, K, R), true-positive counts (T, A, K) and scores (T, A, K, R) at one max-detections.

    Inputs are sorted by (class, -score); ``valid`` marks the detections within this max-detections.
    """
    num_thr, num_areas = matched.shape[1], matched.shape[2]
    t_idx, a_idx, n_idx, k, f = _true_positive_events(cls, matched, ignored, valid, num_classes)
    num_segments = num_thr * num_areas * num_classes
    segment = (t_idx * num_areas + a_idx) * num_classes + cls[n_idx]
    # pycocotools: pr = tp / (fp + tp + spacing(1)), then the envelope from the right
    envelope = _segment_suffix_max(k / ((f + k) + EPS), segment, num_segments)
    n_tp = torch.bincount(segment, minlength=num_segments).view(num_thr, num_areas, num_classes)
    seg_start = (torch.cumsum(n_tp.flatten(), 0) - n_tp.flatten()).view_as(n_tp)
    query = steps.permute(1, 0, 2)[None].clamp(min=1)  # (1, A, K, R); k_r = 0 reads the first true positive
    hit = query <= n_tp[..., None]
    position = (seg_start[..., None] + query - 1).clamp(min=0, max=max(envelope.numel() - 1, 0))
    zeros = torch.zeros(hit.shape, dtype=torch.float64, device=cls.device)
    if envelope.numel():
        precision = torch.where(hit, envelope[position], zeros)
        point_scores = torch.where(hit, scores[n_idx][position], zeros)
    else:
        precision, point_scores = zeros, zeros.clone()
    # k_r = 0 samples the first detection of the class, whatever it is (pycocotools' scores[pi = 0])
    det_count, first_score = _first_valid_score(scores, cls, valid, num_classes)
    first = torch.where(det_count > 0, first_score, 0.0)[None, None, :, None]
    point_scores = torch.where(steps.permute(1, 0, 2)[None] == 0, first, point_scores)
    return precision, n_tp, point_scores


def coco_accumulate(
    det_scores: Tensor,
    det_labels: Tensor,
    det_ranks: Tensor,
    det_matched: Tensor,
    det_ignored: Tensor,
    gt_labels: Tensor,
    gt_counted: Tensor,
    rec_thresholds: Tensor,
    max_dets: list[int],
    det_image_ids: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Return classes (K,), precision (T, R, K, A, M), recall (T, K, A, M), scores (T, R, K, A, M).

    Detection records must be in image order (as :func:`coco_match` and "cat" states keep them). pycocotools
    orders images by id, so score ties across images are broken by ``det_image_ids`` first, then by that order.
    Entries for a class without counted ground truth in an area range are -1, as in pycocotools.
    """
    classes = torch.unique(torch.cat([det_labels, gt_labels]))
    num_classes = classes.numel()
    det_cls = torch.searchsorted(classes, det_labels)
    n_gt = torch.zeros(num_classes, gt_counted.shape[1], dtype=torch.long, device=classes.device)
    n_gt.index_add_(0, torch.searchsorted(classes, gt_labels), gt_counted.long())
    order = torch.sort(det_image_ids, stable=True).indices
    order = order[torch.sort(-det_scores[order], stable=True).indices]
    order = order[torch.sort(det_cls[order], stable=True).indices]
    cls, scores, ranks = det_cls[order], det_scores[order], det_ranks[order]
    matched, ignored = det_matched[order], det_ignored[order]
    steps = _recall_steps(n_gt, rec_thresholds)
    results = [_accumulate_one_max_det(cls, scores, matched, ignored, ranks < m, steps, num_classes) for m in max_dets]
    undefined = (n_gt == 0).T[None]  # (1, A, K)
    precision = torch.stack([r[0] for r in results], -1).masked_fill(undefined[..., None, None], -1.0)
    recall = torch.stack([r[1].double() / n_gt.T[None].clamp(min=1) for r in results], -1)
    recall = recall.masked_fill(undefined[..., None], -1.0)
    point_scores = torch.stack([r[2] for r in results], -1).masked_fill(undefined[..., None, None], -1.0)
    # (T, A, K, R, M) -> pycocotools (T, R, K, A, M); (T, A, K, M) -> (T, K, A, M)
    return (
        classes,
        precision.permute(0, 3, 2, 1, 4),
        recall.permute(0, 2, 1, 3),
        point_scores.permute(0, 3, 2, 1, 4),
    )
