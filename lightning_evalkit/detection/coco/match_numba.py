# mypy: disable-error-code="assignment"
# (numba infers int64 throughout; mypy reads these kernels as Python, where ints and numpy ints differ)
"""A compiled (numba) CPU kernel for COCO bbox matching: IoU, greedy matching and the packed flags of every
(image, class) group in one pass, the records :func:`~lightning_evalkit.detection.coco.match.coco_match` returns.

Optional, as rle_numba.py: it imports only where numba is installed, and ``match.py`` loads it on first use; the
vectorised matching in match.py stays the fallback (``LIGHTNING_EVALKIT_NUMBA=0``) and the reference it is
tested against, record for record, bit for bit.

Why compiled (bbox benchmark, 5000 images x 100 detections, 80 classes, one thread): the vectorised matching
(candidate pairs, their IoU, the single-candidate and general rounds, the packed flags) takes ~120 ms in a dozen
passes over the ~500k detections; this kernel walks each group once and takes ~60 ms with the same sort in front.
Area ranges whose ignore flags order a group's ground truths alike (all flags equal, or the same flags) share one
matching: with one ground truth in a group, the usual case, the four area ranges cost one matching, not four.
The IoU is computed with the float operations of ``boxes._paired_box_iou``, in its order, so it is the same
number, and ties between ground truths go to the later one, as the vectorised rounds and pycocotools do.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def match_boxes(
    det_order,
    det_group,
    det_boxes,
    det_areas,
    det_range_areas,
    gt_order,
    gt_group,
    gt_boxes,
    gt_iou_areas,
    gt_areas,
    gt_crowd,
    thresholds,
    area_lo,
    area_hi,
    matched,
    ignored,
):
    """COCO's greedy matching of every (image, class) group, as pycocotools' ``evaluateImg`` loops.

    ``det_order`` lists the detections kept in (group, -score) order, ``gt_order`` the ground truths in group
    order (input order within a group); the other arrays are indexed by original index (boxes xyxy float64,
    areas, ``gt_crowd`` bool; ``det_areas`` enter the IoU, ``det_range_areas`` the area ranges: LVIS results may
    give an area of their own). Writes ``matched`` and ``ignored`` (N, T) uint8, bit a = area range a, for the
    detections in ``det_order``'s order: matched at threshold t in range a, and ignored (its ground truth's
    flag when matched, else outside the range).
    """
    n = det_order.shape[0]
    g_total = gt_order.shape[0]
    num_thr = thresholds.shape[0]
    num_areas = area_lo.shape[0]
    thr = np.empty(num_thr, np.float64)
    thr_min = 1.0
    for t in range(num_thr):
        thr[t] = min(thresholds[t], 1 - 1e-10)
        thr_min = min(thr_min, thr[t])
    cap = 64
    ious = np.empty(cap * 4, np.float64)
    gtm = np.zeros(cap, np.bool_)
    gorder = np.empty(cap, np.int64)
    ig = np.zeros((num_areas, cap), np.bool_)
    pattern_of = np.empty(num_areas, np.int64)  # which area's matching an area reuses
    matches = np.empty((num_areas, cap * num_thr), np.int64)  # gt matched per (det, threshold), by pattern
    i = 0
    j = 0
    while i < n:
        g = det_group[det_order[i]]
        i1 = i + 1
        while i1 < n and det_group[det_order[i1]] == g:
            i1 += 1
        while j < g_total and gt_group[gt_order[j]] < g:
            j += 1
        j1 = j
        while j1 < g_total and gt_group[gt_order[j1]] == g:
            j1 += 1
        nd = i1 - i
        ng = j1 - j
        for d in range(i, i1):
            area = det_range_areas[det_order[d]]
            bits = 0
            for a in range(num_areas):
                if area < area_lo[a] or area > area_hi[a]:
                    bits |= 1 << a
            for t in range(num_thr):
                matched[d, t] = 0
                ignored[d, t] = bits
        if ng == 0:
            i = i1
            continue
        if nd * ng > ious.shape[0]:
            ious = np.empty(nd * ng * 2, np.float64)
        if ng > cap or nd * num_thr > matches.shape[1]:
            cap = max(cap, ng * 2)
            gtm = np.zeros(cap, np.bool_)
            gorder = np.empty(cap, np.int64)
            ig = np.zeros((num_areas, cap), np.bool_)
            matches = np.empty((num_areas, max(cap, nd * 2) * num_thr), np.int64)
        any_pos = False  # some pair reaches the lowest threshold: else nothing in the group matches
        for d in range(nd):
            dd = det_order[i + d]
            for k in range(ng):
                kk = gt_order[j + k]
                w = min(det_boxes[dd, 2], gt_boxes[kk, 2]) - max(det_boxes[dd, 0], gt_boxes[kk, 0])
                h = min(det_boxes[dd, 3], gt_boxes[kk, 3]) - max(det_boxes[dd, 1], gt_boxes[kk, 1])
                v = 0.0
                if w > 0 and h > 0:
                    overlap = w * h
                    union = det_areas[dd] if gt_crowd[kk] else (det_areas[dd] + gt_iou_areas[kk]) - overlap
                    v = overlap / union
                if v >= thr_min:  # a threshold of 0 takes pairs that do not overlap, as pycocotools does
                    any_pos = True
                ious[d * ng + k] = v
        if not any_pos:
            i = i1
            j = j1
            continue
        # each area range's ignore flags; areas whose flags order the ground truths alike share one matching
        # (uniform flags, all ignored or none, order them as given and never break: one matching for all)
        for a in range(num_areas):
            uniform_value = False
            uniform = True
            for k in range(ng):
                kk = gt_order[j + k]
                ig[a, k] = gt_crowd[kk] or gt_areas[kk] < area_lo[a] or gt_areas[kk] > area_hi[a]
                if k == 0:
                    uniform_value = ig[a, 0]
                elif ig[a, k] != uniform_value:
                    uniform = False
            pattern_of[a] = a
            for b in range(a):
                if pattern_of[b] != b:
                    continue
                same = True
                b_uniform = True
                for k in range(ng):
                    if ig[b, k] != ig[b, 0]:
                        b_uniform = False
                    if ig[b, k] != ig[a, k]:
                        same = False
                if same or (uniform and b_uniform):
                    pattern_of[a] = b
                    break
            if pattern_of[a] != a:
                continue
            c = 0
            for k in range(ng):
                if not ig[a, k]:
                    gorder[c] = k
                    c += 1
            for k in range(ng):
                if ig[a, k]:
                    gorder[c] = k
                    c += 1
            for t in range(num_thr):
                for k in range(ng):
                    gtm[k] = False
                for d in range(nd):
                    best = thr[t]
                    m = -1
                    for q in range(ng):
                        k = gorder[q]
                        if gtm[k] and not gt_crowd[gt_order[j + k]]:
                            continue
                        if m > -1 and not ig[a, m] and ig[a, k]:
                            break
                        v = ious[d * ng + k]
                        if v < best:
                            continue
                        best = v
                        m = k
                    matches[a, d * num_thr + t] = m
                    if m > -1:
                        gtm[m] = True
        for a in range(num_areas):
            bit = 1 << a
            p = pattern_of[a]
            for d in range(nd):
                for t in range(num_thr):
                    m = matches[p, d * num_thr + t]
                    if m > -1:
                        matched[i + d, t] |= bit
                        if ig[a, m]:
                            ignored[i + d, t] |= bit
                        else:
                            ignored[i + d, t] &= ~bit
        i = i1
        j = j1


@numba.njit(cache=True, nogil=True)
def group_order(group, scores, num_groups, max_rank):
    """``pairs._group_order`` and the max-detections cut: the elements in (group, -score) order, stable (input
    order among equal scores), those of rank >= ``max_rank`` within their group left out; and each one's rank.

    A counting sort by group (groups are in [0, num_groups)), then each group sorted by descending score: by
    insertion when small (the usual few detections of an (image, class)), by numpy's stable merge sort otherwise.
    ``scores`` None keeps input order within a group (the ground truths).
    """
    n = group.shape[0]
    starts = np.zeros(num_groups + 1, np.int64)
    for i in range(n):
        starts[group[i] + 1] += 1
    for g in range(num_groups):
        starts[g + 1] += starts[g]
    fill = starts[:num_groups].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        g = group[i]
        order[fill[g]] = i
        fill[g] += 1
    kept_order = np.empty(n, np.int64)
    kept_rank = np.empty(n, np.int64)
    kept = 0
    for g in range(num_groups):
        lo = starts[g]
        hi = starts[g + 1]
        if scores is not None and hi - lo > 1:
            if hi - lo <= 16:
                for q in range(lo + 1, hi):
                    current = order[q]
                    score = scores[current]
                    p = q - 1
                    while p >= lo and scores[order[p]] < score:  # strictly lower moves: equal scores keep order
                        order[p + 1] = order[p]
                        p -= 1
                    order[p + 1] = current
            else:
                members = order[lo:hi].copy()
                order[lo:hi] = members[np.argsort(-scores[members], kind="mergesort")]
        for q in range(lo, min(hi, lo + max_rank)):
            kept_order[kept] = order[q]
            kept_rank[kept] = q - lo
            kept += 1
    return kept_order[:kept], kept_rank[:kept]
