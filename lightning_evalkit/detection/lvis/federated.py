"""LVIS's federated rules at update time: which detections and ground truths of a batch are evaluated.

lvis-api 0.5.3 (``LVISResults`` and ``LVISEval._prepare``), per image, in this order:

1. keep the image's ``max_dets`` (300) highest-scoring detections over all its categories (a stable sort: among
   equal scores the earlier detection is kept);
2. keep the annotations and detections of the declared categories with an area > 0 (``get_ann_ids`` with the
   area range (0, inf));
3. keep a detection of category c only where c is a positive category of the image (one of its kept ground
   truths has it) or one of its ``neg_category_ids``;
4. mark the detections of the image's ``not_exhaustive_category_ids``: unmatched, they are ignored rather than
   counted as false positives (see :mod:`~lightning_evalkit.detection.lvis.match`).

Each step is a few tensor operations on the whole batch; a (image, category) pair is one int64 key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_tensor, format_shape
from lightning_evalkit.detection.coco.pairs import _class_indices, _group_order
from lightning_evalkit.detection.inputs.batch import DetectionBatch

FEDERATED_KEYS = ("neg_category_ids", "not_exhaustive_category_ids")


class FederatedLabels(NamedTuple):
    """The batch's negative and not-exhaustive categories, one entry per (image, category)."""

    neg_image: Tensor  # (M,) int64 image index within the batch
    neg_labels: Tensor  # (M,) int64
    not_exhaustive_image: Tensor  # (E,)
    not_exhaustive_labels: Tensor  # (E,)


class Selection(NamedTuple):
    """What a batch evaluates: kept detections and ground truths, and the not-exhaustive detections."""

    det_keep: Tensor  # (N,) bool
    gt_keep: Tensor  # (G,) bool
    det_not_exhaustive: Tensor  # (N,) bool


def _category_ids(value: Any, key: str, index: int) -> Tensor:
    """One image's ``key``: a 1-D integer tensor (an empty ``torch.tensor([])`` of any dtype too)."""
    where = f"of image {index} in `target`"
    tensor = check_tensor(key, value, where)
    if tensor.ndim != 1:
        raise ValueError(f"Expected `{key}` {where} to have shape (M,), but got {format_shape(tensor.shape)}.")
    if tensor.numel() and (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool):
        raise TypeError(f"Expected `{key}` {where} to have an integer dtype, but got {tensor.dtype}.")
    return tensor


def parse_federated(target: Sequence[Any], device: torch.device) -> FederatedLabels:
    """Read and check ``neg_category_ids`` and ``not_exhaustive_category_ids`` of every target.

    ``target`` must already be a checked list of dicts (see ``parse_detection_inputs``).

    Example:
        >>> import torch
        >>> target = [{"neg_category_ids": torch.tensor([4, 9]), "not_exhaustive_category_ids": torch.tensor([])}]
        >>> parse_federated(target, torch.device("cpu")).neg_labels.tolist()
        [4, 9]
    """
    parts: list[Tensor] = []
    for key in FEDERATED_KEYS:
        values = []
        for index, item in enumerate(target):
            if key not in item:
                raise ValueError(
                    f"Expected `target[{index}]` to have key '{key}', but got keys {sorted(map(str, item))}."
                )
            values.append(_category_ids(item[key], key, index))
        sizes = torch.tensor([v.numel() for v in values], dtype=torch.long, device=device)
        parts.append(torch.repeat_interleave(torch.arange(len(values), device=device), sizes))
        labels = [v.to(device=device, dtype=torch.long) for v in values]
        parts.append(torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long, device=device))
    return FederatedLabels(*parts)


def top_per_image(det_image: Tensor, det_scores: Tensor, max_det: int) -> Tensor:
    """(N,) bool: among the ``max_det`` highest scores of its image (stable: earlier detections win ties).

    Example:
        >>> import torch
        >>> top_per_image(torch.tensor([0, 0, 0, 1]), torch.tensor([0.5, 0.9, 0.5, 0.1], dtype=torch.float64), 2)
        tensor([ True,  True, False,  True])
    """
    if det_image.numel() == 0:
        return torch.zeros(0, dtype=torch.bool, device=det_image.device)
    order, rank = _group_order(det_image, det_scores)
    ranks = torch.empty_like(rank)
    ranks[order] = rank
    return ranks < max_det


def federated_selection(
    batch: DetectionBatch, labels: FederatedLabels, categories: Tensor | None, max_det: int, det_areas: Tensor
) -> Selection:
    """The detections and ground truths LVIS evaluates in ``batch`` (the steps of the module docstring).

    ``categories`` are the declared category ids (None: every label is one); ``det_areas`` decide "area > 0" for
    the detections (the batch's own areas, or those an LVIS results file gives).
    """
    det_keep = top_per_image(batch.det_image, batch.det_scores, max_det) & (det_areas > 0)
    gt_keep = batch.gt_areas > 0
    if categories is not None:
        det_keep &= torch.isin(batch.det_labels, categories)
        gt_keep &= torch.isin(batch.gt_labels, categories)
    classes, indices = _class_indices(
        batch.det_labels, batch.gt_labels, labels.neg_labels, labels.not_exhaustive_labels
    )
    width = max(classes.numel(), 1)  # a key (image, category) is image * width + the category's index
    det_key, gt_key, neg_key, not_exhaustive_key = (
        image * width + index
        for image, index in zip(
            (batch.det_image, batch.gt_image, labels.neg_image, labels.not_exhaustive_image), indices, strict=True
        )
    )
    evaluated = torch.isin(det_key, torch.cat([gt_key[gt_keep], neg_key]))
    return Selection(det_keep & evaluated, gt_keep, torch.isin(det_key, not_exhaustive_key))
