"""The box IoU family with torchmetrics' definitions: IoU, generalized (GIoU), distance (DIoU), complete (CIoU).

Pairwise matrices use torchvision's formulas (``torchvision.ops.generalized_box_iou`` etc.) without needing
torchvision, computed in float64; where torchvision divides 0 by 0 (zero-area boxes) the value here is defined
(IoU 0, no GIoU penalty, the aspect angle by ``atan2``) instead of NaN.

The detection metrics follow torchmetrics' ``IntersectionOverUnion`` family: per image, every
prediction/ground-truth pair (of the same label with ``respect_labels``) is a value; with ``iou_threshold``,
pairs below it are left out; an image where one side has no box contributes torchmetrics' zeros (one per box
on the other side with ``respect_labels``, a square of them without); the result is the mean of all values
kept, 0 when none. ``matched_intersection_over_union`` pairs each ground truth with at most one prediction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit.detection.boxes import BOX_FORMATS, _to_xyxy
from lightning_evalkit.detection.coco.match import greedy_match
from lightning_evalkit.detection.coco.pairs import candidate_pairs, pair_box_iou
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import _check_unit_floats

__all__ = [
    "complete_box_iou",
    "complete_intersection_over_union",
    "distance_box_iou",
    "distance_intersection_over_union",
    "generalized_box_iou",
    "generalized_intersection_over_union",
    "intersection_over_union",
    "matched_intersection_over_union",
    "plain_box_iou",
]


def _pair_geometry(boxes_a: Tensor, boxes_b: Tensor, box_format: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """float64 xyxy of a (N, 1, 4) and b (1, M, 4), the IoU (N, M) and the union (N, M)."""
    check_choice("box_format", box_format, BOX_FORMATS)
    a = _to_xyxy(boxes_a.to(torch.float64), box_format)[:, None, :]
    b = _to_xyxy(boxes_b.to(torch.float64), box_format)[None, :, :]
    size_a, size_b = (a[..., 2:] - a[..., :2]), (b[..., 2:] - b[..., :2])
    overlap = (torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2])).clamp(min=0).prod(-1)
    union = size_a.prod(-1) + size_b.prod(-1) - overlap
    # two zero-area boxes: torchvision divides 0 by 0 (NaN, which then spoils every mean); here the IoU is 0
    iou = torch.where(union > 0, overlap / union.where(union > 0, 1.0), 0.0)
    return a, b, iou, union


def _result_dtype(boxes: Tensor) -> torch.dtype:
    return boxes.dtype if boxes.is_floating_point() else torch.float32


def plain_box_iou(boxes_a: Tensor, boxes_b: Tensor, box_format: str = "xyxy") -> Tensor:
    """Pairwise IoU (N, M) by torchvision's ``box_iou`` formula, overlap / union (0 where the union is 0).

    Example:
        >>> import torch
        >>> plain_box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        tensor([[0.3333]])
    """
    return _pair_geometry(boxes_a, boxes_b, box_format)[2].to(_result_dtype(boxes_a))


def generalized_box_iou(boxes_a: Tensor, boxes_b: Tensor, box_format: str = "xyxy") -> Tensor:
    """Pairwise generalized IoU (N, M): IoU - (C - union) / C, C the area of the smallest enclosing box.

    Example:
        >>> import torch
        >>> generalized_box_iou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
        tensor([[-0.3333]])
    """
    a, b, iou, union = _pair_geometry(boxes_a, boxes_b, box_format)
    enclosing = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).clamp(min=0).prod(-1)
    penalty = torch.where(enclosing > 0, (enclosing - union) / enclosing.where(enclosing > 0, 1.0), 0.0)
    return (iou - penalty).to(_result_dtype(boxes_a))


def _distance_terms(boxes_a: Tensor, boxes_b: Tensor, box_format: str, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """xyxy boxes, the IoU and the DIoU penalty: squared centre distance / (squared enclosing diagonal + eps)."""
    a, b, iou, _ = _pair_geometry(boxes_a, boxes_b, box_format)
    diagonal = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).pow(2).sum(-1) + eps
    centre_distance = ((a[..., :2] + a[..., 2:]) / 2 - (b[..., :2] + b[..., 2:]) / 2).pow(2).sum(-1)
    return torch.cat([a.expand(-1, b.shape[1], -1), b.expand(a.shape[0], -1, -1)], -1), iou, centre_distance / diagonal


def distance_box_iou(boxes_a: Tensor, boxes_b: Tensor, box_format: str = "xyxy", eps: float = 1e-7) -> Tensor:
    """Pairwise distance IoU (N, M): IoU - d^2 / (c^2 + eps), d the centres' distance, c the enclosing diagonal.

    Example:
        >>> import torch
        >>> distance_box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        tensor([[0.2564]])
    """
    _, iou, penalty = _distance_terms(boxes_a, boxes_b, box_format, eps)
    return (iou - penalty).to(_result_dtype(boxes_a))


def complete_box_iou(boxes_a: Tensor, boxes_b: Tensor, box_format: str = "xyxy", eps: float = 1e-7) -> Tensor:
    """Pairwise complete IoU (N, M): DIoU - alpha v, v = 4/pi^2 (atan(w_b/h_b) - atan(w_a/h_a))^2 and
    alpha = v / (1 - IoU + v + eps).

    Example:
        >>> import torch
        >>> complete_box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 3.0]]))
        tensor([[0.1802]])
    """
    pair, iou, penalty = _distance_terms(boxes_a, boxes_b, box_format, eps)
    # atan2(w, h) is atan(w / h) for h > 0, and defined (no NaN) for zero-size boxes
    aspect_a = torch.atan2(pair[..., 2] - pair[..., 0], pair[..., 3] - pair[..., 1])
    aspect_b = torch.atan2(pair[..., 6] - pair[..., 4], pair[..., 7] - pair[..., 5])
    v = (4 / math.pi**2) * (aspect_a - aspect_b).pow(2)
    alpha = v / (1 - iou + v + eps)
    return (iou - penalty - alpha * v).to(_result_dtype(boxes_a))


PAIRWISE: dict[str, Callable[..., Tensor]] = {
    "iou": plain_box_iou,
    "giou": generalized_box_iou,
    "diou": distance_box_iou,
    "ciou": complete_box_iou,
}


def _family_update(
    batch: DetectionBatch, kind: str, iou_threshold: float | None, respect_labels: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Per image, the values torchmetrics keeps: returns (values (P,), their class (P,), labels seen (L,))."""
    assert batch.det_boxes is not None and batch.gt_boxes is not None
    det_counts = torch.bincount(batch.det_image, minlength=batch.num_images).tolist()
    gt_counts = torch.bincount(batch.gt_image, minlength=batch.num_images).tolist()
    values, classes = [], []
    parts = zip(
        batch.det_boxes.split(det_counts),
        batch.det_labels.split(det_counts),
        batch.gt_boxes.split(gt_counts),
        batch.gt_labels.split(gt_counts),
        strict=True,
    )
    for det_boxes, det_labels, gt_boxes, gt_labels in parts:
        if det_boxes.shape[0] == 0 or gt_boxes.shape[0] == 0:
            # torchmetrics' zeros: a square over the non-empty side, its diagonal only with respect_labels
            labels = gt_labels if det_boxes.shape[0] == 0 else det_labels
            size = labels.shape[0]
            keep = torch.eye(size, dtype=torch.bool) if respect_labels else torch.ones(size, size, dtype=torch.bool)
            matrix = torch.zeros(size, size, dtype=torch.float64)
            column_class = labels
        else:
            matrix = PAIRWISE[kind](det_boxes, gt_boxes).to(torch.float64)
            keep = torch.ones_like(matrix, dtype=torch.bool)
            if iou_threshold is not None:
                keep &= matrix >= iou_threshold
            if respect_labels:
                keep &= det_labels[:, None] == gt_labels[None, :]
            column_class = gt_labels
        keep = keep.to(matrix.device)
        values.append(matrix[keep])
        classes.append(column_class[None, :].expand_as(matrix)[keep])
    empty_long = torch.zeros(0, dtype=torch.long, device=batch.det_labels.device)
    seen = torch.cat([batch.det_labels, batch.gt_labels])
    return (
        torch.cat(values) if values else torch.zeros(0, dtype=torch.float64, device=seen.device),
        torch.cat(classes) if classes else empty_long,
        seen,
    )


def _family_compute(kind: str, values: Tensor, classes: Tensor, seen: Tensor, class_metrics: bool) -> dict[str, Tensor]:
    """The mean of every value kept (0 when none), and per class ``{kind}/cl_{k}`` over every label seen."""
    result = {kind: (values.mean() if values.numel() else values.new_tensor(0.0)).float()}
    if class_metrics:
        for label in torch.unique(seen).tolist():
            mine = values[classes == label]
            result[f"{kind}/cl_{label}"] = (mine.mean() if mine.numel() else values.new_tensor(0.0)).float()
    return result


def _tensor_form(
    kind: str, preds: Tensor, target: Tensor, iou_threshold: float | None, replacement_val: float, aggregate: bool
) -> Tensor:
    """torchmetrics' functional on two box tensors (N, 4), (M, 4): the matrix, or the mean of its diagonal."""
    for name, value in (("preds", preds), ("target", target)):
        if not isinstance(value, Tensor) or value.ndim != 2 or value.shape[-1] != 4:
            got = format(tuple(value.shape)) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"Expected `{name}` to be a box tensor of shape (N, 4), but got {got}.")
    if preds.numel() == 0 or target.numel() == 0:
        size = target.shape[0] if preds.numel() == 0 else preds.shape[0]
        matrix = torch.zeros(size, size, device=preds.device)
    else:
        matrix = PAIRWISE[kind](preds, target)
        if iou_threshold is not None:
            matrix[matrix < iou_threshold] = replacement_val
    if not aggregate:
        return matrix
    return matrix.diag().mean() if matrix.numel() else torch.tensor(0.0, device=matrix.device)


def _family(
    kind: str,
    preds: Any,
    target: Any,
    box_format: str,
    iou_threshold: float | None,
    class_metrics: bool,
    respect_labels: bool,
    replacement_val: float,
    aggregate: bool,
) -> Any:
    if isinstance(preds, Tensor):
        return _tensor_form(kind, preds, target, iou_threshold, replacement_val, aggregate)
    check_choice("box_format", box_format, BOX_FORMATS)
    batch = parse_detection_inputs(preds, target, box_format, require_scores=False)
    return _family_compute(kind, *_family_update(batch, kind, iou_threshold, respect_labels), class_metrics)


def intersection_over_union(
    preds: Sequence[dict] | Tensor,
    target: Sequence[dict] | Tensor,
    box_format: str = "xyxy",
    iou_threshold: float | None = None,
    class_metrics: bool = False,
    respect_labels: bool = True,
    replacement_val: float = 0.0,
    aggregate: bool = True,
) -> Any:
    """torchmetrics' IoU: the mean over every same-label prediction/ground-truth pair of every image.

    The functional twin of :class:`lightning_evalkit.IntersectionOverUnion` for lists of per-image dicts
    (``scores`` not needed). Given two box tensors (N, 4) and (M, 4) instead, it is torchmetrics' functional
    ``intersection_over_union``: the IoU matrix (values below ``iou_threshold`` set to ``replacement_val``) or,
    with ``aggregate``, the mean of its diagonal. Pass the options by keyword.

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[296.55, 93.96, 314.97, 152.79], [298.55, 98.96, 314.97, 151.79]]),
        ...               labels=torch.tensor([4, 5]))]
        >>> target = [dict(boxes=torch.tensor([[300.0, 100.0, 315.0, 150.0]]), labels=torch.tensor([5]))]
        >>> intersection_over_union(preds, target)
        {'iou': tensor(0.8614)}
    """
    return _family(
        "iou", preds, target, box_format, iou_threshold, class_metrics, respect_labels, replacement_val, aggregate
    )


def generalized_intersection_over_union(
    preds: Sequence[dict] | Tensor,
    target: Sequence[dict] | Tensor,
    box_format: str = "xyxy",
    iou_threshold: float | None = None,
    class_metrics: bool = False,
    respect_labels: bool = True,
    replacement_val: float = 0.0,
    aggregate: bool = True,
) -> Any:
    """:func:`intersection_over_union` with the generalized IoU (key ``giou``).

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0.0, 1.0, 1.0]]), labels=torch.tensor([0]))]
        >>> target = [dict(boxes=torch.tensor([[2.0, 0.0, 3.0, 1.0]]), labels=torch.tensor([0]))]
        >>> generalized_intersection_over_union(preds, target)
        {'giou': tensor(-0.3333)}
    """
    return _family(
        "giou", preds, target, box_format, iou_threshold, class_metrics, respect_labels, replacement_val, aggregate
    )


def distance_intersection_over_union(
    preds: Sequence[dict] | Tensor,
    target: Sequence[dict] | Tensor,
    box_format: str = "xyxy",
    iou_threshold: float | None = None,
    class_metrics: bool = False,
    respect_labels: bool = True,
    replacement_val: float = 0.0,
    aggregate: bool = True,
) -> Any:
    """:func:`intersection_over_union` with the distance IoU (key ``diou``).

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0.0, 2.0, 2.0]]), labels=torch.tensor([0]))]
        >>> target = [dict(boxes=torch.tensor([[1.0, 0.0, 3.0, 2.0]]), labels=torch.tensor([0]))]
        >>> distance_intersection_over_union(preds, target)
        {'diou': tensor(0.2564)}
    """
    return _family(
        "diou", preds, target, box_format, iou_threshold, class_metrics, respect_labels, replacement_val, aggregate
    )


def complete_intersection_over_union(
    preds: Sequence[dict] | Tensor,
    target: Sequence[dict] | Tensor,
    box_format: str = "xyxy",
    iou_threshold: float | None = None,
    class_metrics: bool = False,
    respect_labels: bool = True,
    replacement_val: float = 0.0,
    aggregate: bool = True,
) -> Any:
    """:func:`intersection_over_union` with the complete IoU (key ``ciou``).

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0.0, 2.0, 2.0]]), labels=torch.tensor([0]))]
        >>> target = [dict(boxes=torch.tensor([[1.0, 0.0, 3.0, 3.0]]), labels=torch.tensor([0]))]
        >>> complete_intersection_over_union(preds, target)
        {'ciou': tensor(0.1802)}
    """
    return _family(
        "ciou", preds, target, box_format, iou_threshold, class_metrics, respect_labels, replacement_val, aggregate
    )


# a positive IoU is a candidate: ">= the smallest positive double" is exactly "> 0"
_ANY_OVERLAP = torch.tensor([5e-324], dtype=torch.float64)


def _iou_update(batch: DetectionBatch) -> tuple[Tensor, Tensor]:
    """Pair each ground truth with at most one same-class prediction; return its labels and IoUs (G,)."""
    device = batch.det_scores.device
    batch = batch._replace(gt_crowd=torch.zeros_like(batch.gt_crowd))
    pairs = candidate_pairs(batch, None)
    det_idx, gt_idx = pairs.det_order[pairs.pair_det], pairs.gt_order[pairs.pair_gt]
    pair_iou = pair_box_iou(batch, det_idx, gt_idx)
    no_ignore = torch.zeros(pairs.gt_order.numel(), 1, dtype=torch.bool, device=device)
    match = greedy_match(
        pairs.pair_det,
        pairs.pair_gt,
        pair_iou,
        pairs.det_order.numel(),
        no_ignore,
        no_ignore[:, 0],
        _ANY_OVERLAP.to(device),
    )[:, 0, 0]
    found = match >= 0
    gt_iou = torch.zeros(batch.gt_labels.numel(), dtype=torch.float64, device=device)
    matched_det = pairs.det_order[found]
    matched_gt = pairs.gt_order[match[found]]
    gt_iou[matched_gt] = pair_box_iou(batch, matched_det, matched_gt)
    return batch.gt_labels, gt_iou


def _iou_compute(gt_labels: Tensor, gt_iou: Tensor, iou_threshold: float, class_metrics: bool) -> dict[str, Tensor]:
    """Means over ground truths (a missed one counts 0), overall and per class."""
    if gt_iou.numel() == 0:
        rank_zero_warn("No ground truth boxes were seen: `iou` and `matched_fraction` are -1.", stacklevel=3)
    hit = (gt_iou >= iou_threshold).double()
    result = {"iou": _mean_or_minus_one(gt_iou), "matched_fraction": _mean_or_minus_one(hit)}
    if class_metrics:
        classes, inverse = torch.unique(gt_labels, return_inverse=True)
        counts = torch.bincount(inverse, minlength=classes.numel()).double()
        result["iou_per_class"] = (torch.zeros_like(counts).index_add_(0, inverse, gt_iou) / counts).float()
        result["matched_fraction_per_class"] = (torch.zeros_like(counts).index_add_(0, inverse, hit) / counts).float()
        result["classes"] = classes.int()
    return result


def _mean_or_minus_one(values: Tensor) -> Tensor:
    return (values.mean() if values.numel() else values.new_tensor(-1.0)).float()


def matched_intersection_over_union(
    preds: Sequence[dict],
    target: Sequence[dict],
    box_format: str = "xyxy",
    iou_threshold: float = 0.5,
    class_metrics: bool = False,
) -> dict[str, Tensor]:
    """Mean IoU of ground-truth boxes with their greedily paired same-class predictions (a miss counts 0).

    The functional twin of :class:`lightning_evalkit.MatchedIntersectionOverUnion`, which documents the pairing.

    Example:
        >>> import torch
        >>> boxes = torch.tensor([[296.55, 93.96, 314.97, 152.79], [298.55, 98.96, 314.97, 151.79]])
        >>> preds = [dict(boxes=boxes, scores=torch.tensor([0.9, 0.8]), labels=torch.tensor([0, 1]))]
        >>> target = [dict(boxes=torch.tensor([[300.0, 100.0, 315.0, 150.0], [300.0, 100.0, 315.0, 150.0]]),
        ...                labels=torch.tensor([0, 1]))]
        >>> result = matched_intersection_over_union(preds, target, class_metrics=True)
        >>> round(result["iou"].item(), 4), result["iou_per_class"]
        (0.7756, tensor([0.6898, 0.8614]))
    """
    check_choice("box_format", box_format, BOX_FORMATS)
    _check_unit_floats("iou_threshold", [iou_threshold], [])
    gt_labels, gt_iou = _iou_update(parse_detection_inputs(preds, target, box_format))
    return _iou_compute(gt_labels, gt_iou, iou_threshold, class_metrics)
