"""The usual bbox batch parsed with whole-batch operations (see :func:`parse_boxes_in_bulk`).

Per image only the keys are read; everything else (shapes, dtypes, values) is checked on the concatenations.
A batch that is anywhere unusual (an error to report, an idiom to normalise per image) is left to the
per-image walk of :mod:`lightning_evalkit.detection.inputs.batch`, which gives the same batch or names
the culprit; so this path only decides faster, never differently.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit.detection.boxes import _to_xyxy, box_area
from lightning_evalkit.detection.inputs.batch import (
    DetectionBatch,
    _image_id,
    _image_index,
    _misordered_boxes,
)

_INTEGER_DTYPES = {torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64}
_SHAPE = operator.attrgetter("shape")


class _UnusualBatchError(Exception):
    """Raised anywhere in the bulk parse: leave this batch to the per-image walk."""


def _require(condition: bool) -> None:
    if not condition:
        raise _UnusualBatchError


def _is_integer(dtype: torch.dtype) -> bool:
    return dtype in _INTEGER_DTYPES


def _is_real(dtype: torch.dtype) -> bool:
    return not dtype.is_complex and dtype != torch.bool


def _is_floating(dtype: torch.dtype) -> bool:
    return dtype.is_floating_point


def _cat_exact(tensors: list[Tensor], dtype: torch.dtype, device: torch.device) -> Tensor:
    """Concatenate and convert; a single input dtype is converted once, after the concatenation (same values)."""
    if not tensors:
        return torch.zeros(0, dtype=dtype, device=device)
    if len({t.dtype for t in tensors}) > 1:
        tensors = [t.to(dtype) for t in tensors]
    return torch.cat(tensors).to(device=device, dtype=dtype)


def _lengths(values: list[Any]) -> list[int]:
    """Each tensor's first dimension (``len`` of a tensor runs Python code; ``shape`` does not)."""
    return [shape[0] for shape in map(_SHAPE, values)]


def _vector(values: list[Any], sizes: list[int], allowed: Callable, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A per-image (count,) key concatenated; an empty image's ``torch.tensor([])`` may have any dtype."""
    _require(_lengths(values) == sizes)
    if not all(allowed(d) for d in {t.dtype for t in values}):
        _require(all(t.ndim == 1 for t, size in zip(values, sizes, strict=True) if not size))
        values = [t for t, size in zip(values, sizes, strict=True) if size]
        _require(all(allowed(t.dtype) for t in values))
    joined = _cat_exact(values, dtype, device)
    _require(joined.ndim == 1)
    return joined


def _boxes(values: list[Any], sizes: list[int], box_format: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """The batch's boxes, finite and well ordered: (M, 4) xyxy float64 and their areas (M,), as ``_to_xyxy`` and
    ``box_area`` give them (numpy on the CPU: the checks, corners and areas cost a third of torch's ops there)."""
    _require(_lengths(values) == sizes and all(_is_real(d) for d in {b.dtype for b in values}))
    boxes = _cat_exact(values, torch.float64, device)
    if boxes.ndim == 1 and boxes.numel() == 0:  # every image gave torch.tensor([])
        boxes = boxes.reshape(0, 4)
    _require(boxes.ndim == 2 and boxes.shape[1] == 4)
    if boxes.device.type != "cpu" or box_format == "cxcywh":
        _require(bool(torch.isfinite(boxes).all()) and not bool(_misordered_boxes(boxes, box_format).any()))
        return _to_xyxy(boxes, box_format), box_area(boxes, box_format)
    # columns as 1-D strided views of the flat array: numpy loops (N, 2) slices row by row, 5x slower
    boxes = boxes.contiguous()
    flat = boxes.numpy().reshape(-1)  # a view: the corners below are written through it
    x, y, right, bottom = flat[0::4], flat[1::4], flat[2::4], flat[3::4]
    _require(bool(np.isfinite(flat).all()))
    if box_format == "xyxy":
        _require(not bool(((right < x) | (bottom < y)).any()))
        return boxes, torch.from_numpy((right - x) * (bottom - y))
    _require(not bool(((right < 0) | (bottom < 0)).any()))
    areas = torch.from_numpy(right * bottom)
    right += x  # x + w, as pycocotools does (in place: ``boxes`` is a new concatenation)
    bottom += y
    return boxes, areas


def _all_finite(values: Tensor) -> bool:
    """No NaN or infinity (numpy's check costs a quarter of torch's on a batch's boxes or scores)."""
    if values.device.type == "cpu":
        return bool(np.isfinite(values.numpy()).all())
    return bool(torch.isfinite(values).all())


def _values(items: Sequence[dict], key: str) -> list[Any]:
    """``item[key]`` of every item (KeyError when one lacks it), looping in C."""
    return list(map(operator.itemgetter(key), items))


def _optional(items: Sequence[dict], key: str) -> list[Any] | None:
    """The values of ``key`` in every item, or None when no item has it."""
    present = list(map(operator.contains, items, itertools.repeat(key))).count(True)  # loops in C
    _require(present in (0, len(items)))
    return _values(items, key) if present else None


def _image_ids(target: Sequence[dict], device: torch.device) -> Tensor:
    values = _optional(target, "image_id")
    if values is None:
        return torch.zeros(len(target), dtype=torch.long, device=device)
    if not all(type(v) is int for v in values):
        values = [_image_id(v, index) for index, v in enumerate(values)]
    return torch.tensor(values, dtype=torch.long, device=device)


def parse_boxes_in_bulk(
    preds: Any, target: Any, box_format: str, require_scores: bool, device: torch.device | None
) -> DetectionBatch | None:
    """The usual bbox batch as :func:`parse_detection_inputs` gives it, or None to leave it to the walk."""
    if not (isinstance(preds, list | tuple) and isinstance(target, list | tuple)) or len(preds) != len(target):
        return None
    if not preds or not all(map(isinstance, (*preds, *target), itertools.repeat(dict))):
        return None
    try:
        return _bulk_batch(preds, target, box_format, require_scores, device)
    except (_UnusualBatchError, KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError):
        return None


def scores_and_target_extras(
    preds: Sequence[dict],
    target: Sequence[dict],
    det_sizes: list[int],
    gt_sizes: list[int],
    require_scores: bool,
    device: torch.device,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A bulk batch's ``(det_scores, gt_crowd, gt_given_area, image_ids)``: zeros, False, NaN and 0 where absent
    (boxes and masks alike)."""
    if require_scores:
        det_scores = _vector(_values(preds, "scores"), det_sizes, _is_floating, torch.float64, device)
        _require(_all_finite(det_scores))
    else:
        det_scores = torch.zeros(sum(det_sizes), dtype=torch.float64, device=device)
    crowd_in, area_in = _optional(target, "iscrowd"), _optional(target, "area")
    image_ids = _image_ids(target, device)
    gt_crowd = torch.zeros(sum(gt_sizes), dtype=torch.bool, device=device)
    if crowd_in is not None:
        gt_crowd = _vector(crowd_in, gt_sizes, _is_integer, torch.long, device) != 0
    gt_given_area = torch.full((sum(gt_sizes),), torch.nan, dtype=torch.float64, device=device)
    if area_in is not None:
        gt_given_area = _vector(area_in, gt_sizes, _is_real, torch.float64, device)
        _require(bool(torch.isfinite(gt_given_area).all()) and not bool((gt_given_area < 0).any()))
    return det_scores, gt_crowd, gt_given_area, image_ids


def _bulk_batch(
    preds: Sequence[dict], target: Sequence[dict], box_format: str, require_scores: bool, device: torch.device | None
) -> DetectionBatch:
    det_labels_in, gt_labels_in = _values(preds, "labels"), _values(target, "labels")
    det_sizes, gt_sizes = _lengths(det_labels_in), _lengths(gt_labels_in)
    device = det_labels_in[0].device if device is None else device
    det_labels = _vector(det_labels_in, det_sizes, _is_integer, torch.long, device)
    gt_labels = _vector(gt_labels_in, gt_sizes, _is_integer, torch.long, device)
    det_boxes, det_areas = _boxes(_values(preds, "boxes"), det_sizes, box_format, device)
    gt_boxes, gt_iou_areas = _boxes(_values(target, "boxes"), gt_sizes, box_format, device)
    det_scores, gt_crowd, gt_given_area, image_ids = scores_and_target_extras(
        preds, target, det_sizes, gt_sizes, require_scores, device
    )
    gt_areas = gt_given_area if "area" in target[0] else gt_iou_areas  # given by every image or none, and finite
    return DetectionBatch(
        num_images=len(det_sizes),
        iou_type="bbox",
        det_image=_image_index(det_sizes, device),
        det_scores=det_scores,
        det_labels=det_labels,
        det_boxes=det_boxes,
        det_areas=det_areas,
        gt_image=_image_index(gt_sizes, device),
        gt_labels=gt_labels,
        gt_boxes=gt_boxes,
        gt_iou_areas=gt_iou_areas,
        gt_areas=gt_areas,
        gt_crowd=gt_crowd,
        det_masks=None,
        gt_masks=None,
        image_ids=image_ids,
        gt_given_area=gt_given_area,
    )
