"""COCO accumulation at compute time: records in, pycocotools' precision / recall / scores arrays out.

pycocotools' ``accumulate`` loops over class, area range, max-detections and IoU threshold, building precision
at every detection and sampling it at the recall thresholds. The same numbers follow from the true positives
alone: recall only moves at a true positive, so ``searchsorted(recall, r, "left")`` lands on the k_r-th true
positive (k_r = the least k with k / n_gt >= r, found exactly in float64), and the monotone envelope there
is the largest precision at that or any later true positive. So compute() is one stable sort of integer keys,
row-wise cumulative counts in a (threshold x area, detection) layout, and per (threshold, area range, class,
recall step) the largest precision of the true positives between consecutive steps, then a suffix maximum
over the 101 steps. The sort, the true-positive list and the layouts are built once for all max-detections
values. Recall at every max-detections value needs only true-positive counts (one count by rank bucket); the
precision envelope is built at the largest value only, unless every value's precision is asked for
(``extended_summary``), when each smaller value filters the list and recounts. Float operations are
pycocotools' own, in its order, so results agree to the last bit except for the order of summation in the
final means.

Without a precision array (every mean average precision, LVIS included) and on the CPU where numba is installed,
everything after the sort runs in one compiled walk (accumulate_numba.py): the same numbers, bit for bit.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit._core.compiled import compiled_module
from lightning_evalkit.detection.coco.flags import unpack_area_flags_by_row
from lightning_evalkit.detection.coco.pairs import _class_indices, _descending_score_key, _numpy_fits

EPS = float(np.spacing(1))


def _recall_steps(n_gt: Tensor, rec_thresholds: Tensor) -> Tensor:
    """k_r (K, A, R): least k >= 0 with float64(k / n_gt) >= r; -> searchsorted(k / n_gt, r, "left")."""
    n = n_gt.double()[..., None].clamp(min=1)
    # ceil(r * n) is k_r up to the rounding of the product; k / n >= r is monotone in k, so step up from one below
    k = (torch.ceil(rec_thresholds * n).long() - 1).clamp(min=0)
    for _ in range(2):
        k = torch.where(k.double() / n >= rec_thresholds, k, k + 1)
    return k


def _detection_order(cls: Tensor, scores: Tensor, image_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Stable order by (class, -score, image id, record order): pycocotools' concatenation in image-id order;
    and the classes in that order."""
    by_image = None
    if image_ids.numel() > 1 and not bool((image_ids[1:] >= image_ids[:-1]).all()):
        by_image = torch.sort(image_ids, stable=True).indices
        cls, scores = cls.index_select(0, by_image), scores.index_select(0, by_image)
    score_key = _descending_score_key(scores)
    if score_key is not None:  # one sort of (class, score) packed into one integer, which holds the class
        packed, order = torch.sort(cls * 2**32 + score_key, stable=True)
        sorted_cls = packed >> 32
    else:
        order = torch.sort(-scores, stable=True).indices
        order = order.index_select(0, torch.sort(cls.index_select(0, order), stable=True).indices)
        sorted_cls = cls.index_select(0, order)
    return (order if by_image is None else by_image.index_select(0, order)), sorted_cls


def _any_over_rows(flags: Tensor) -> Tensor:
    """(N, ...) bool -> (N,) any, reading the bytes of each row as int64 words where the layout allows."""
    rows = flags.reshape(flags.shape[0], math.prod(flags.shape[1:]))
    if rows.shape[1] % 8 == 0 and rows.is_contiguous():
        return (rows.view(torch.int64) != 0).any(1)
    return rows.any(1)


# Two whole-array steps where numpy's CPU kernels beat torch's single-threaded ones 2-4x (measured on the
# 5000-image benchmark's arrays: a 2M-element row cumsum, a 2M-element nonzero); on other devices torch does them.


def _inclusive_row_cumsum(flags: Tensor) -> Tensor:
    """(R, L) bool -> (R, L) int32 counts up to and including each column."""
    if _numpy_fits(flags):  # converting first, then summing in place: 2x faster than cumsum(dtype=int32)
        counts = flags.numpy().astype(np.int32)
        return torch.from_numpy(np.cumsum(counts, 1, out=counts))
    return torch.cumsum(flags, 1, dtype=torch.int32)


def _nonzero_2d(flags: Tensor) -> tuple[Tensor, Tensor]:
    """(row, column) of the True entries of a contiguous (R, L) bool, in row-major order."""
    if _numpy_fits(flags):
        flat = torch.from_numpy(np.flatnonzero(flags.numpy()))
        return flat // flags.shape[1], flat % flags.shape[1]
    row, column = torch.nonzero(flags, as_tuple=True)
    return row, column


class _Sorted(NamedTuple):
    """Detections sorted by (class, -score); the ones matched at some (threshold, area) get (T*A, S) rows."""

    cls: Tensor  # (N,)
    scores: Tensor  # (N,) in record order (only pycocotools' ``scores`` array reads them)
    order: Tensor  # (N,) record index of each sorted position
    ranks: Tensor  # (N,)
    never_counted: Tensor  # (A, N) never matched and inside the area range (a false positive when valid)
    some: Tensor  # (S,) sorted positions of the detections matched somewhere
    some_counted: Tensor  # (T*A, S) not ignored
    class_start: Tensor  # (K,) first sorted position of each class
    some_start: Tensor  # (K,) first index into ``some`` of each class
    event_row: Tensor  # (E,) t * A + a of every true positive at the largest max-detections
    event_some: Tensor  # (E,) its index into ``some``, ordered by (row, position)
    event_position: Tensor  # (E,) its sorted position
    event_segment: Tensor  # (E,) (t * A + a) * K + class


def _sort_records(
    cls: Tensor,
    scores: Tensor,
    ranks: Tensor,
    matched: Tensor,
    ignored: Tensor,
    image_ids: Tensor,
    num_classes: int,
    num_areas: int,
) -> _Sorted:
    """``matched`` and ``ignored`` are packed (see :mod:`~lightning_evalkit.detection.coco.flags`): only the
    rows of detections matched somewhere are unpacked."""
    order, cls = _detection_order(cls, scores, image_ids)
    ranks = ranks.index_select(0, order)
    ever = _any_over_rows(matched).index_select(0, order)
    # unmatched: ignored only outside the area range, the same at every threshold
    inside = ~unpack_area_flags_by_row(ignored[:, :1].index_select(0, order), num_areas)  # (A, N)
    some = torch.nonzero(ever).flatten()
    some_order = order.index_select(0, some)
    some_ignored = ignored.index_select(0, some_order)
    some_counted = ~unpack_area_flags_by_row(some_ignored, num_areas)  # (T * A, S)
    some_tp = unpack_area_flags_by_row(matched.index_select(0, some_order) & ~some_ignored, num_areas)
    arange_k = torch.arange(num_classes, device=cls.device)
    event_row, event_some = _nonzero_2d(some_tp)
    event_position = some.index_select(0, event_some)
    return _Sorted(
        cls=cls,
        scores=scores,
        order=order,
        ranks=ranks,
        never_counted=inside & ~ever,
        some=some,
        some_counted=some_counted,
        class_start=torch.searchsorted(cls, arange_k),
        some_start=torch.searchsorted(cls.index_select(0, some), arange_k),
        event_row=event_row,
        event_some=event_some,
        event_position=event_position,
        event_segment=event_row * num_classes + cls.index_select(0, event_position),
    )


def _step_buckets(segment: Tensor, n_tp: Tensor, seg_start: Tensor, steps: Tensor) -> tuple[Tensor, Tensor | None]:
    """(E,) segment * R + the last recall step each true positive reaches, and which reach one (None: all).

    The k-th true positive of a segment reaches step r when k >= k_r (the definition of k_r, with k_r = 0 read
    as 1), so its last step is the number of steps with k_r <= k, less one. Each step is counted once, at the
    true positive k_r of its segment, and a running sum over the true positives gives every k its count: the
    same as searchsorted(recall thresholds, k / n_gt, right) - 1, without a binary search per true positive.
    """
    if segment.numel() == 0:
        return segment, None
    num_steps = steps.shape[-1]
    first = steps.clamp(min=1)[None].expand(*n_tp.shape, num_steps)  # (T, A, K, R)
    at = (seg_start[..., None] + first - 1)[first <= n_tp[..., None]]
    reached = torch.cumsum(torch.bincount(at, minlength=segment.numel()), 0)
    before = torch.where(
        seg_start > 0, reached.index_select(0, (seg_start - 1).clamp(min=0).view(-1)).view_as(seg_start), 0
    )
    offset = torch.arange(n_tp.numel(), device=n_tp.device) * num_steps - before.view(-1) - 1
    bucket = reached + offset.index_select(0, segment)
    if bool(((steps[..., 0] <= 1) | (n_tp == 0)).all()):  # every true positive reaches the first step
        return bucket, None
    return bucket, reached - before.view(-1).index_select(0, segment) > 0


def _envelope_at_steps(
    precision: Tensor, bucket: Tensor, reached: Tensor | None, num_segments: int, num_steps: int
) -> Tensor:
    """max precision over the true positives at or after each recall step -> (segments, R), -1 where none.

    Each true positive goes to the last step it reaches (a scatter max) and a suffix max over the steps
    finishes the envelope.
    """
    if reached is not None:
        precision, bucket = precision[reached], bucket[reached]
    envelope = torch.full((num_segments * num_steps,), -1.0, dtype=torch.float64, device=precision.device)
    envelope.scatter_reduce_(0, bucket, precision, "amax")
    return envelope.view(num_segments, num_steps).flip(1).cummax(1).values.flip(1)


def _first_valid_score(scores: Tensor, cls: Tensor, valid: Tensor | None, num_classes: int) -> Tensor:
    """Per class: the score of its first counted detection (0 when none)."""
    n = scores.numel()
    if n == 0:
        return torch.zeros(num_classes, dtype=scores.dtype, device=scores.device)
    position = torch.arange(n, device=scores.device)
    if valid is not None:
        position = torch.where(valid, position, n)
    first = torch.full((num_classes,), n, dtype=torch.long, device=scores.device)
    first = first.scatter_reduce(0, cls, position, "amin")
    return torch.where(first < n, scores.index_select(0, first.clamp(max=n - 1)), 0.0)


class _TruePositives(NamedTuple):
    """The true positives at one max-detections value, ordered by (segment, position)."""

    position: Tensor  # (E,) sorted position of the detection
    segment: Tensor  # (E,) (t * A + a) * K + class
    counted: Tensor  # (E,) counted detections of its class in its row up to and including it: tp + fp


def _count_before(cum: Tensor, start: Tensor) -> Tensor:
    """(R, K): the counts of ``cum`` (R, L, inclusive) before column ``start`` (K,) of each row."""
    if cum.shape[1] == 0:
        return cum.new_zeros(cum.shape[0], start.numel())
    return torch.where(start > 0, cum.index_select(1, (start - 1).clamp(min=0)), 0)


def _true_positives(s: _Sorted, valid: Tensor | None, num_areas: int) -> _TruePositives:
    """The true positives among the ``valid`` detections (None: all), with their tp + fp counts."""
    row, event_some, position, segment = s.event_row, s.event_some, s.event_position, s.event_segment
    some_counted, never_counted = s.some_counted, s.never_counted
    if valid is not None:
        some_valid = valid.index_select(0, s.some)
        keep = torch.nonzero(some_valid.index_select(0, event_some)).flatten()
        row, event_some, position, segment = (x.index_select(0, keep) for x in (row, event_some, position, segment))
        some_counted, never_counted = some_counted & some_valid, never_counted & valid
    # counted detections of the class up to each true positive: per row for those matched somewhere, per area
    # range for the rest, less those before the class starts; the false positives are those minus the true ones
    some_cum, never_cum = _inclusive_row_cumsum(some_counted), _inclusive_row_cumsum(never_counted)
    counted = some_cum.view(-1).index_select(0, row * some_cum.shape[1] + event_some)
    counted += never_cum.view(-1).index_select(0, (row % num_areas) * never_cum.shape[1] + position)
    never_before = _count_before(never_cum, s.class_start).repeat(some_cum.shape[0] // num_areas, 1)
    counted -= (_count_before(some_cum, s.some_start) + never_before).view(-1).index_select(0, segment)
    return _TruePositives(position, segment, counted)


def _precision_at_steps(tp: _TruePositives, steps: Tensor, num_thr: int) -> tuple[Tensor, Tensor, Tensor]:
    """precision (T, A, K, R) sampled at the recall thresholds, true-positive counts (T, A, K) and each
    segment's first index into ``tp``; ``steps`` (A, K, R) are the k_r."""
    num_areas, num_classes = steps.shape[:2]
    shape = (num_thr, num_areas, num_classes)
    n_tp = torch.bincount(tp.segment, minlength=math.prod(shape))
    seg_start = torch.cumsum(n_tp, 0) - n_tp
    k = torch.arange(1, tp.segment.numel() + 1, device=n_tp.device) - seg_start.index_select(0, tp.segment)
    # pycocotools: tp / (fp + tp + spacing(1)); fp + tp is ``counted``, exactly, in float64
    precision = k.double() / (tp.counted.double() + EPS)
    bucket, reached = _step_buckets(tp.segment, n_tp.view(shape), seg_start.view(shape), steps)
    envelope = _envelope_at_steps(precision, bucket, reached, n_tp.numel(), steps.shape[-1])
    hit = steps.clamp(min=1)[None] <= n_tp.view(shape)[..., None]  # k_r = 0 reads the first true positive
    precision_at = torch.where(hit, envelope.view(*shape, steps.shape[-1]), 0.0)
    return precision_at, n_tp.view(shape), seg_start.view(shape)


def _scores_at_steps(
    s: _Sorted, tp: _TruePositives, valid: Tensor | None, n_tp: Tensor, seg_start: Tensor, steps: Tensor
) -> Tensor:
    """pycocotools' ``scores`` (T, A, K, R): the score of the k_r-th true positive, 0 past the last one."""
    query = steps.clamp(min=1)[None]
    hit = query <= n_tp[..., None]
    if tp.position.numel():
        at = (seg_start[..., None] + query - 1).clamp(min=0, max=tp.position.numel() - 1)
        tp_scores = s.scores.index_select(0, s.order.index_select(0, tp.position))
        point_scores = torch.where(hit, tp_scores[at], 0.0)
    else:
        point_scores = torch.zeros(hit.shape, dtype=torch.float64, device=steps.device)
    # k_r = 0 samples the first detection of the class, whatever it is (pycocotools' scores[pi = 0])
    first = _first_valid_score(s.scores.index_select(0, s.order), s.cls, valid, n_tp.shape[-1])[None, None, :, None]
    return torch.where(steps[None] == 0, first, point_scores)


def _true_positive_counts(s: _Sorted, max_dets: list[int], shape: tuple[int, int, int]) -> list[Tensor]:
    """(T, A, K) true positives at each max-detections value, from one count by (segment, rank bucket)."""
    thresholds = torch.tensor(max_dets, dtype=torch.long, device=s.ranks.device)
    # bucket b: rank in [max_dets[b - 1], max_dets[b]), so the true positives at max_dets[m] are buckets <= m
    bucket = torch.searchsorted(thresholds, s.ranks.index_select(0, s.event_position), right=True)
    num_buckets = len(max_dets) + 1
    counts = torch.bincount(s.event_segment * num_buckets + bucket, minlength=math.prod(shape) * num_buckets)
    cumulative = torch.cumsum(counts.view(-1, num_buckets), 1)
    return [cumulative[:, m].reshape(shape) for m in range(len(max_dets))]


def _steps_reading_rank(steps: Tensor, n_gt: Tensor) -> tuple[Tensor, Tensor]:
    """How many recall steps read each true-positive rank: a table over (area, class, rank < n_gt), and where
    each (area, class) starts in it. ``steps`` (A, K, R) are the k_r (k_r = 0 reads rank 1), ``n_gt`` (A, K)."""
    num_steps = steps.shape[-1]
    counts = n_gt.reshape(-1)
    offsets = torch.cumsum(counts, 0) - counts
    rank = steps.clamp(min=1).reshape(-1, num_steps) - 1
    readable = rank < counts[:, None]  # a class without counted ground truth reads nothing (it is undefined)
    table = torch.bincount((offsets[:, None] + rank)[readable], minlength=int(counts.sum()))
    return table, offsets


def _block_max(values: Tensor, starts: Tensor, block: Tensor | None) -> Tensor:
    """The maximum of each run of ``values`` from one start (sorted indices) to the next (``block``: each
    value's run, for devices other than the CPU, where numpy's ``reduceat`` does it in one pass)."""
    if _numpy_fits(values):
        return torch.from_numpy(np.maximum.reduceat(values.numpy(), starts.numpy()))
    assert block is not None
    result = torch.zeros(starts.numel(), dtype=values.dtype, device=values.device)
    return result.scatter_reduce_(0, block, values, "amax")


def _precision_means(tp: _TruePositives, n_tp: Tensor, steps: Tensor, n_gt: Tensor) -> Tensor:
    """(T, A, K): precision at the recall steps (:func:`_precision_at_steps`) averaged over the steps, without
    the (T, A, K, R) array, so its cost follows the true positives rather than the classes.

    Step r reads the envelope (the largest precision at or after it) at the k_r-th true positive. The true
    positives that some step reads start blocks; the envelope at a block start is the suffix maximum of the
    block maxima of its segment, and the sum over the steps is that envelope times the number of steps
    reading it. Precision values are :func:`_precision_at_steps`' own, bit for bit. ``n_tp`` (T, A, K).
    """
    shape, num_steps = n_tp.shape, steps.shape[-1]
    num_segments, num_columns = n_tp.numel(), steps.shape[0] * steps.shape[1]
    device = steps.device
    sums = torch.zeros(num_segments, dtype=torch.float64, device=device)
    if not tp.segment.numel():
        return sums.view(shape)
    n_tp = n_tp.reshape(-1)
    column = tp.segment % num_columns  # (area, class) of each true positive
    rank = torch.arange(tp.segment.numel(), device=device) - (torch.cumsum(n_tp, 0) - n_tp).index_select(0, tp.segment)
    precision = (rank + 1).double() / (tp.counted.double() + EPS)
    table, offsets = _steps_reading_rank(steps, n_gt)
    reads = table.index_select(0, offsets.index_select(0, column) + rank)
    first_read = steps[..., 0].clamp(min=1).reshape(-1) - 1
    if bool((first_read > 0).any()):  # true positives before the first one a step reads are read by none
        precision = torch.where(rank >= first_read.index_select(0, column), precision, 0.0)
    starts = torch.nonzero(reads).flatten()
    block = None if _numpy_fits(precision) else torch.cumsum(reads > 0, 0) - 1
    block_max = _block_max(precision, starts, block)
    # the blocks of a segment side by side in one row (at most R of them): a suffix maximum along the rows
    block_segment = tp.segment.index_select(0, starts)
    per_segment = torch.bincount(block_segment, minlength=num_segments)
    active = per_segment > 0
    row = (torch.cumsum(active, 0) - 1).index_select(0, block_segment)
    place = torch.arange(starts.numel(), device=device) - (torch.cumsum(per_segment, 0) - per_segment)[block_segment]
    grid = torch.zeros(int(active.sum()), int(per_segment.max()), dtype=torch.float64, device=device)
    grid[row, place] = block_max
    envelope = grid.flip(1).cummax(1).values.flip(1)[row, place]
    sums.index_add_(0, block_segment, envelope * reads.index_select(0, starts))
    return (sums / num_steps).view(shape)


class CocoAccumulation(NamedTuple):
    """What :func:`coco_accumulate` returns (pycocotools' layouts: T thresholds, R recall steps, K classes,
    A area ranges, M max-detections values)."""

    classes: Tensor  # (K,)
    precision: Tensor | None  # (T, R, K, A, M), or None when not asked for
    recall: Tensor  # (T, K, A, M)
    scores: Tensor | None  # (T, R, K, A, M), or None when not asked for
    precision_mean: Tensor  # (T, K, A) mean precision over the recall steps at the largest max-detections


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
    every_max_det: bool = True,
    precision_array: bool = True,
) -> CocoAccumulation:
    """Accumulate detection records into precision, recall and scores (see :class:`CocoAccumulation`).

    Detection records must be in image order (as :func:`coco_match` and "cat" states keep them). pycocotools
    orders images by id, so score ties across images are broken by ``det_image_ids`` first, then by that order.
    Entries for a class without counted ground truth in an area range are -1, as in pycocotools.
    ``every_max_det=False`` builds precision at the largest max-detections only (M = 1 in its shape) and no
    scores (None); ``precision_array=False`` builds no precision array at all: ``precision_mean`` (which every
    mean average precision reads) comes from the true positives alone. Recall has every max-detections value.
    """
    precision_array = precision_array or every_max_det  # the scores read the precision's counts
    classes, (det_cls, gt_cls) = _class_indices(det_labels, gt_labels)
    num_classes, num_thr = classes.numel(), det_matched.shape[1]
    n_gt = torch.zeros(num_classes, gt_counted.shape[1], dtype=torch.long, device=classes.device)
    n_gt.index_add_(0, gt_cls, gt_counted.long())
    num_areas = n_gt.shape[1]
    kernels = compiled_module(_KERNELS) if not precision_array and det_scores.device.type == "cpu" else None
    if kernels is not None:
        return _compiled_accumulate(
            kernels,
            classes,
            det_cls,
            det_scores,
            det_ranks,
            det_matched,
            det_ignored,
            det_image_ids,
            n_gt,
            rec_thresholds,
            max_dets,
        )
    # the matched-somewhere rows are laid out for the largest max-detections; smaller ones filter them
    s = _sort_records(
        det_cls, det_scores, det_ranks, det_matched, det_ignored, det_image_ids, num_classes, gt_counted.shape[1]
    )
    steps = _recall_steps(n_gt, rec_thresholds).permute(1, 0, 2)  # (A, K, R)
    n_tps = _true_positive_counts(s, max_dets, (num_thr, num_areas, num_classes))
    max_rank = int(s.ranks.max()) if s.ranks.numel() else -1
    precisions, point_scores = [], []
    for max_det in max_dets if every_max_det else max_dets[-1:]:
        valid = None if max_det > max_rank else s.ranks < max_det
        tp = _true_positives(s, valid, num_areas)
        if precision_array:
            precision_at, n_tp, seg_start = _precision_at_steps(tp, steps, num_thr)
            precisions.append(precision_at)
        if every_max_det:
            point_scores.append(_scores_at_steps(s, tp, valid, n_tp, seg_start, steps))
    undefined = (n_gt == 0).T[None]  # (1, A, K)
    precision_mean = _precision_means(tp, n_tps[-1], steps, n_gt.T).masked_fill(undefined, -1.0)
    recall = torch.stack([n_tp.double() / n_gt.T[None].clamp(min=1) for n_tp in n_tps], -1)
    recall = recall.masked_fill(undefined[..., None], -1.0)
    precision = scores = None
    if precision_array:
        precision = torch.stack(precisions, -1).masked_fill(undefined[..., None, None], -1.0).permute(0, 3, 2, 1, 4)
    if every_max_det:
        scores = torch.stack(point_scores, -1).masked_fill(undefined[..., None, None], -1.0).permute(0, 3, 2, 1, 4)
    # (T, A, K, R, M) -> pycocotools (T, R, K, A, M); (T, A, K, M) -> (T, K, A, M); (T, A, K) -> (T, K, A)
    return CocoAccumulation(classes, precision, recall.permute(0, 2, 1, 3), scores, precision_mean.permute(0, 2, 1))


_KERNELS = "lightning_evalkit.detection.coco.accumulate_numba"


def _compiled_accumulate(
    kernels: ModuleType,
    classes: Tensor,
    det_cls: Tensor,
    det_scores: Tensor,
    det_ranks: Tensor,
    det_matched: Tensor,
    det_ignored: Tensor,
    det_image_ids: Tensor,
    n_gt: Tensor,
    rec_thresholds: Tensor,
    max_dets: list[int],
) -> CocoAccumulation:
    """:func:`coco_accumulate` without precision array by the numba kernel (accumulate_numba.py): the same
    mean precision and recall, bit for bit."""
    order, sorted_cls = _detection_order(det_cls, det_scores, det_image_ids)
    steps = _recall_steps(n_gt, rec_thresholds).permute(1, 0, 2)  # (A, K, R)
    arrays = (order, sorted_cls, det_ranks.long(), det_matched, det_ignored, n_gt.T, steps)
    sums, counts = kernels.precision_sums_and_counts(
        *(np.ascontiguousarray(array.numpy()) for array in arrays), np.array(max_dets, dtype=np.int64)
    )
    undefined = (n_gt == 0).T[None]  # (1, A, K)
    precision_mean = (torch.from_numpy(sums) / steps.shape[-1]).masked_fill(undefined, -1.0)
    recall = torch.from_numpy(counts).permute(1, 2, 3, 0).double() / n_gt.T[None, ..., None].clamp(min=1)
    recall = recall.masked_fill(undefined[..., None], -1.0)
    return CocoAccumulation(classes, None, recall.permute(0, 2, 1, 3), None, precision_mean.permute(0, 2, 1))
