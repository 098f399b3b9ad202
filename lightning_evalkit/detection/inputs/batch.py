"""The flat ``DetectionBatch`` that every detection computation trusts, and the small helpers both parse paths
(the bulk path and the per-image walk) share.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit._core.checks import format_shape
from lightning_evalkit.detection.masks import BatchMasks

IOU_TYPE_KEYS = {"bbox": "boxes", "segm": "masks"}


class DetectionBatch(NamedTuple):
    """One batch of images flattened: detections and ground truths concatenated in image order.

    ``det_areas``, ``gt_iou_areas`` and ``gt_areas`` belong to ``iou_type``; :meth:`for_iou_type` gives the
    same batch seen by the other IoU type when both boxes and masks were parsed.
    """

    num_images: int
    iou_type: str  # "bbox" or "segm": what the areas below measure
    det_image: Tensor  # (N,) int64 image index within the batch
    det_scores: Tensor  # (N,) float64 (zeros when scores were not required)
    det_labels: Tensor  # (N,) int64
    det_boxes: Tensor | None  # (N, 4) float64 xyxy (when boxes were parsed)
    det_areas: Tensor  # (N,) float64 box area (bbox) or pixel count (segm)
    gt_image: Tensor  # (G,)
    gt_labels: Tensor  # (G,)
    gt_boxes: Tensor | None  # (G, 4) float64 xyxy (when boxes were parsed)
    gt_iou_areas: Tensor  # (G,) box area or pixel count, used in the IoU union
    gt_areas: Tensor  # (G,) the target's "area" when given, else gt_iou_areas; decides the area range
    gt_crowd: Tensor  # (G,) bool
    det_masks: BatchMasks | None  # dense masks as words per image, or RLE as runs (see detection/masks.py)
    gt_masks: BatchMasks | None
    image_ids: Tensor  # (num_images,) int64: the targets' "image_id", or 0 where the targets carry none
    gt_given_area: Tensor  # (G,) float64 the target's "area", NaN where the target has none

    def for_iou_type(self, iou_type: str) -> DetectionBatch:
        """The batch with the areas of ``iou_type`` (its boxes or masks must have been parsed)."""
        if iou_type == self.iou_type:
            return self
        # a batch holding both boxes and masks is parsed as "bbox": only the switch to "segm" is ever needed
        assert iou_type == "segm" and self.det_masks is not None and self.gt_masks is not None
        det_areas, gt_iou_areas = self.det_masks.areas.double(), self.gt_masks.areas.double()
        gt_areas = torch.where(torch.isnan(self.gt_given_area), gt_iou_areas, self.gt_given_area)
        return self._replace(iou_type=iou_type, det_areas=det_areas, gt_iou_areas=gt_iou_areas, gt_areas=gt_areas)


def concat_box_batches(batches: Sequence[DetectionBatch]) -> DetectionBatch:
    """Batches of boxes (no masks) as one: images in order, so matching it equals matching each batch."""
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    assert first.det_masks is None and first.gt_masks is None
    offsets = list(itertools.accumulate((b.num_images for b in batches[:-1]), initial=0))
    joined: dict[str, Any] = {"num_images": sum(b.num_images for b in batches), "iou_type": first.iou_type}
    for name in ("det_image", "gt_image"):
        joined[name] = _offset_cat([getattr(b, name) for b in batches], offsets)
    for name in DetectionBatch._fields:
        if name not in joined:
            values = [getattr(b, name) for b in batches]
            joined[name] = None if values[0] is None else torch.cat(values)
    return DetectionBatch(**joined)


def _offset_cat(indices: list[Tensor], offsets: list[int]) -> Tensor:
    """torch.cat of each ``indices[i] + offsets[i]`` (on the CPU written in place into the result: no temporaries)."""
    if indices[0].device.type != "cpu":
        return torch.cat([index + offset for index, offset in zip(indices, offsets, strict=True)])
    out = np.empty(sum(index.numel() for index in indices), dtype=np.int64)
    start = 0
    for index, offset in zip(indices, offsets, strict=True):
        np.add(index.numpy(), offset, out=out[start : start + index.numel()])
        start += index.numel()
    return torch.from_numpy(out)


_INT64 = (-(2**63), 2**63 - 1)


def _image_id(value: Any, index: int) -> int:
    """A target's ``image_id``: an int (not a bool) or a one-element integer tensor, within int64."""
    is_int_tensor = isinstance(value, Tensor) and not (
        value.is_floating_point() or value.is_complex() or value.dtype == torch.bool
    )
    if is_int_tensor and value.numel() == 1:
        value = value.item()  # an int (a uint64 tensor may hold one beyond int64)
    if isinstance(value, int) and not isinstance(value, bool):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(f"Expected `image_id` of image {index} in `target` to fit in int64, but got {value}.")
        return value
    got = (
        f"a tensor of shape {format_shape(value.shape)} and dtype {value.dtype}"
        if isinstance(value, Tensor)
        else (type(value).__name__)
    )
    raise TypeError(
        f"Expected `image_id` of image {index} in `target` to be an int or a one-element integer tensor, but got {got}."
    )


def _misordered_boxes(boxes: Tensor, box_format: str) -> Tensor:
    """(N,) bool: x2 < x1 or y2 < y1 for "xyxy", a negative width or height otherwise."""
    if box_format == "xyxy":
        return (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    return (boxes[:, 2] < 0) | (boxes[:, 3] < 0)


def _image_index(counts: list[int], device: torch.device) -> Tensor:
    if device.type == "cpu":  # numpy's repeat costs a fifth of torch's repeat_interleave at a batch's size
        return torch.from_numpy(np.repeat(np.arange(len(counts), dtype=np.int64), counts))
    sizes = torch.tensor(counts, dtype=torch.long, device=device)
    return torch.repeat_interleave(torch.arange(len(counts), device=device), sizes)
