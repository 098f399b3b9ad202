# mypy: disable-error-code="assignment"
# (numba infers int64 throughout; mypy reads these kernels as Python, where ints and numpy ints differ)
"""A compiled (numba) CPU kernel for the COCO accumulation that every mean average precision reads: the mean
precision over the recall steps at the largest max-detections value, and the true-positive counts at each value.

Optional, as match_numba.py: it imports only where numba is installed, and ``accumulate.py`` loads it on first use;
the vectorised accumulation stays the fallback (``LIGHTNING_EVALKIT_NUMBA=0``) and the reference it is tested
against, bit for bit.

Why compiled (bbox benchmark, 5000 images x 100 detections, 80 classes, one thread): after the one sort, the
vectorised accumulation unpacks the flags of the detections matched somewhere into (T * A, S) rows, counts along
them, lists the true positives, takes block maxima and suffix maxima: ~60 ms in some thirty passes. This kernel
walks the sorted detections once per class, keeping per (threshold, area range) the counted detections, the true
positives and the largest precision since each recall step's true positive, and takes 25-30 ms (the sorted order
reads the records at random; each of the ~440,000 true-positive events divides). Its float
operations are the vectorised path's, in its order: precision k / (counted + spacing(1)), the envelope as a
suffix maximum over the steps' blocks, each block's envelope times the number of steps reading it summed in rank
order.
"""

from __future__ import annotations

import numba
import numpy as np

EPS = float(np.spacing(1))


@numba.njit(cache=True, nogil=True)
def precision_sums_and_counts(order, sorted_cls, ranks, matched, ignored, n_gt, steps, max_dets):
    """Per (threshold t, area range a, class k): the sum over the recall steps of the precision envelope at the
    largest max-detections value, and the true positives at each max-detections value.

    ``order`` (N,) lists the records in (class, -score, image) order and ``sorted_cls`` (N,) their class indices
    in that order; ``ranks`` (N,), ``matched`` and ``ignored`` (N, T, W) uint8 (area range a is bit a % 8 of byte
    a // 8) are in record order. ``n_gt`` (A, K) counts the counted ground truths, ``steps`` (A, K, R) are the k_r
    (the least true-positive count reaching recall step r; k_r = 0 reads the first), ``max_dets`` (M,) ascending.
    Records of rank >= max_dets[-1] are left out. Returns sums (T, A, K) float64 and counts (M, T, A, K) int64.
    """
    n = order.shape[0]
    n_records = matched.shape[0]
    num_thr = matched.shape[1]
    num_words = matched.shape[2]
    num_areas = n_gt.shape[0]
    num_classes = n_gt.shape[1]
    num_steps = steps.shape[2]
    num_max = max_dets.shape[0]
    limit = max_dets[num_max - 1]
    row_bytes = num_thr * num_words
    matched_bytes = matched.reshape(n_records * row_bytes)
    ignored_bytes = ignored.reshape(n_records * row_bytes)
    sums = np.zeros((num_thr, num_areas, num_classes), np.float64)
    counts = np.zeros((num_max, num_thr, num_areas, num_classes), np.int64)
    counted = np.zeros((num_thr, num_areas), np.int64)  # counted detections matched at some (t, a)
    never = np.zeros(num_areas, np.int64)  # counted detections matched nowhere: the same at every threshold
    found = np.zeros((num_thr, num_areas), np.int64)  # true positives so far
    block = np.zeros((num_thr, num_areas), np.int64)  # the block of the latest true positive (-1: before any)
    block_max = np.zeros((num_thr, num_areas, num_steps), np.float64)
    block_rank = np.zeros((num_areas, num_steps), np.int64)  # the distinct true-positive ranks the steps read
    block_reads = np.zeros((num_areas, num_steps), np.int64)  # how many steps read each
    num_blocks = np.zeros(num_areas, np.int64)
    i = 0
    while i < n:
        k = sorted_cls[i]
        end = i + 1
        while end < n and sorted_cls[end] == k:
            end += 1
        for a in range(num_areas):
            nb = 0
            for r in range(num_steps):
                rank = max(steps[a, k, r], 1) - 1
                if rank >= n_gt[a, k]:  # a class without counted ground truth reads nothing
                    continue
                if nb > 0 and block_rank[a, nb - 1] == rank:
                    block_reads[a, nb - 1] += 1
                else:
                    block_rank[a, nb] = rank
                    block_reads[a, nb] = 1
                    nb += 1
            num_blocks[a] = nb
            never[a] = 0
            for t in range(num_thr):
                counted[t, a] = 0
                found[t, a] = 0
                block[t, a] = -1
        for d in range(i, end):
            record = order[d]
            base = record * row_bytes
            somewhere = 0
            for q in range(row_bytes):  # without branches: most detections are matched nowhere
                somewhere |= matched_bytes[base + q]
            rank = ranks[record]
            if rank >= limit:
                continue
            if somewhere == 0:  # a false positive wherever it lies inside the area range, at every threshold
                for a in range(num_areas):
                    never[a] += 1 - ((ignored_bytes[base + (a >> 3)] >> (a & 7)) & 1)
                continue
            for t in range(num_thr):
                for a in range(num_areas):
                    byte = base + t * num_words + (a >> 3)
                    shift = a & 7
                    if (ignored_bytes[byte] >> shift) & 1:
                        continue
                    counted[t, a] += 1
                    if not (matched_bytes[byte] >> shift) & 1:
                        continue
                    j = found[t, a]  # this true positive's rank in its (t, a, k)
                    found[t, a] = j + 1
                    for m in range(num_max):
                        if rank < max_dets[m]:
                            counts[m, t, a, k] += 1
                    precision = (j + 1) / (float(counted[t, a] + never[a]) + EPS)
                    b = block[t, a]
                    if b + 1 < num_blocks[a] and block_rank[a, b + 1] == j:  # ranks step by one: no block is skipped
                        b += 1
                        block[t, a] = b
                        block_max[t, a, b] = precision
                    elif b >= 0 and precision > block_max[t, a, b]:
                        block_max[t, a, b] = precision
        for t in range(num_thr):
            for a in range(num_areas):
                reached = block[t, a] + 1
                envelope = 0.0
                for b in range(reached - 1, -1, -1):
                    envelope = max(envelope, block_max[t, a, b])
                    block_max[t, a, b] = envelope
                total = 0.0
                for b in range(reached):
                    total += block_max[t, a, b] * block_reads[a, b]
                sums[t, a, k] = total
        i = end
    return sums, counts
