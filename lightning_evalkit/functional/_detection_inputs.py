"""Validate torchmetrics-style detection inputs (lists of per-image dicts) and flatten them into batch
tensors.

Structural checks (types, keys, dtypes, shapes) run per image in plain Python; value checks (finite, box
order,
non-negative areas) run once on the concatenated batch and only walk the images to name the culprit when one
fails. Everything is checked before anything is returned, so a metric's state is never touched by bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from lightning_evalkit._checks import (
    check_finite,
    check_floating,
    check_integer,
    check_tensor,
    format_shape,
)
from lightning_evalkit.functional.boxes import _to_xyxy, box_area


class DetectionBatch(NamedTuple):
    """One batch of images flattened: detections and ground truths concatenated in image order."""

    num_images: int
    det_image: Tensor  # (N,) int64 image index within the batch
    det_scores: Tensor  # (N,) float64
    det_labels: Tensor  # (N,) int64
    det_boxes: Tensor | None  # (N, 4) float64 xyxy (bbox only)
    det_areas: Tensor  # (N,) float64 box area (bbox) or pixel count (segm)
    gt_image: Tensor  # (G,)
    gt_labels: Tensor  # (G,)
    gt_boxes: Tensor | None  # (G, 4) float64 xyxy (bbox only)
    gt_iou_areas: Tensor  # (G,) box area or pixel count, used in the IoU union
    gt_areas: Tensor  # (G,) the target's "area" when given, else gt_iou_areas; decides the area range
    gt_crowd: Tensor  # (G,) bool
    det_masks: list[Tensor] | None  # per image (D_i, H, W) bool (segm only)
    gt_masks: list[Tensor] | None
    image_ids: Tensor  # (num_images,) int64: the targets' "image_id", or 0 where the targets carry none


def _check_vector(name: str, value: Any, length: int, where: str) -> Tensor:
    tensor = check_tensor(name, value, where)
    if tensor.ndim != 1 or tensor.shape[0] != length:
        raise ValueError(f"Expected `{name}` {where} to have shape ({length},), but got {format_shape(tensor.shape)}.")
    return tensor


def _check_keys(item: Any, keys: Sequence[str], side: str, index: int) -> None:
    if not isinstance(item, dict):
        raise TypeError(f"Expected `{side}[{index}]` to be a dict, but got {type(item).__name__}.")
    for key in keys:
        if key not in item:
            raise ValueError(f"Expected `{side}[{index}]` to have key '{key}', but got keys {sorted(map(str, item))}.")


def _check_image(item: dict, side: str, index: int, iou_type: str) -> int:
    """Check one image's dict structurally; return its number of boxes (or masks)."""
    where = f"of image {index} in `{side}`"
    labels = check_tensor("labels", item["labels"], where)
    check_integer("labels", labels, where)
    if iou_type == "bbox":
        boxes = check_tensor("boxes", item["boxes"], where)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"Expected `boxes` {where} to have shape (N, 4), but got {format_shape(boxes.shape)}.")
        check_floating("boxes", boxes, where)
        count = boxes.shape[0]
    else:
        masks = check_tensor("masks", item["masks"], where)
        if masks.ndim != 3:
            raise ValueError(f"Expected `masks` {where} to have shape (N, H, W), but got {format_shape(masks.shape)}.")
        if masks.dtype != torch.bool:
            raise TypeError(f"Expected `masks` {where} to have dtype torch.bool, but got {masks.dtype}.")
        count = masks.shape[0]
    _check_vector("labels", labels, count, where)
    if side == "preds":
        check_floating("scores", _check_vector("scores", item["scores"], count, where), where)
    for key in ("iscrowd", "area") if side == "target" else ():
        if key in item:
            value = _check_vector(key, item[key], count, where)
            if value.is_complex() or (key == "iscrowd" and value.is_floating_point()):
                raise TypeError(f"Expected `{key}` {where} to have an integer dtype, but got {value.dtype}.")
    return count


def _check_mask_sizes(preds: Sequence[dict], target: Sequence[dict]) -> None:
    for index, (pred, gt) in enumerate(zip(preds, target, strict=True)):
        if pred["masks"].shape[1:] != gt["masks"].shape[1:]:
            raise ValueError(
                f"Expected `masks` of image {index} in `preds` and `target` to have the same (H, W), but got "
                f"{format_shape(pred['masks'].shape[1:])} and {format_shape(gt['masks'].shape[1:])}."
            )


def check_detection_inputs(preds: Any, target: Any, iou_type: str = "bbox") -> None:
    """Structurally check ``preds`` and ``target`` (lists of per-image dicts); raise on the first problem."""
    for name, value in (("preds", preds), ("target", target)):
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            raise TypeError(f"Expected `{name}` to be a list of dicts, but got {type(value).__name__}.")
    if len(preds) != len(target):
        raise ValueError(
            f"Expected `preds` and `target` to have the same length, but got {len(preds)} and {len(target)}."
        )
    shape_key = "boxes" if iou_type == "bbox" else "masks"
    for index, (pred, gt) in enumerate(zip(preds, target, strict=True)):
        _check_keys(pred, (shape_key, "scores", "labels"), "preds", index)
        _check_keys(gt, (shape_key, "labels"), "target", index)
        _check_image(pred, "preds", index, iou_type)
        _check_image(gt, "target", index, iou_type)
    _check_image_ids(target)
    if iou_type == "segm":
        _check_mask_sizes(preds, target)


def _image_id(value: Any, index: int) -> int:
    is_int_tensor = isinstance(value, Tensor) and not (value.is_floating_point() or value.is_complex())
    if is_int_tensor and value.numel() == 1:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    got = (
        f"a tensor of shape {format_shape(value.shape)} and dtype {value.dtype}"
        if isinstance(value, Tensor)
        else (type(value).__name__)
    )
    raise TypeError(
        f"Expected `image_id` of image {index} in `target` to be an int or a one-element integer tensor, but got {got}."
    )


def _check_image_ids(target: Sequence[dict]) -> None:
    """``image_id`` is optional; once one target of a batch has it, every target must."""
    has_id = ["image_id" in item for item in target]
    if any(has_id) and not all(has_id):
        raise ValueError(
            f"Expected `image_id` in every target of the batch once one has it, but image {has_id.index(False)} "
            "in `target` has none."
        )
    for index, item in enumerate(target):
        if "image_id" in item:
            _image_id(item["image_id"], index)


def _find_bad(side: str, items: Sequence[dict], key: str, check: Callable[[Tensor, str], None]) -> None:
    """Slow path: re-run ``check`` image by image so the message names the first bad image."""
    for index, item in enumerate(items):
        if key in item:
            check(item[key], f"of image {index} in `{side}`")


def _misordered_boxes(boxes: Tensor, box_format: str) -> Tensor:
    """(N,) bool: x2 < x1 or y2 < y1 for "xyxy", a negative width or height otherwise."""
    if box_format == "xyxy":
        return (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    return (boxes[:, 2] < 0) | (boxes[:, 3] < 0)


def _check_box_order(boxes: Tensor, box_format: str, where: str) -> None:
    bad = _misordered_boxes(boxes, box_format)
    if box_format == "xyxy":
        expectation = "x2 >= x1 and y2 >= y1 (box_format='xyxy')"
    else:
        expectation = f"a non-negative width and height (box_format='{box_format}')"
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        got = [round(float(v), 4) for v in boxes[row].tolist()]
        raise ValueError(f"Expected `boxes` {where} to have {expectation}, but got box {row} = {got}.")


def _check_non_negative(values: Tensor, where: str) -> None:
    if bool((values < 0).any()):
        raise ValueError(f"Expected `area` {where} to be >= 0, but got {float(values.min()):g}.")


def _cat(items: Sequence[dict], key: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    if not items:
        return torch.zeros(0, dtype=dtype, device=device)
    return torch.cat([item[key].to(device=device, dtype=dtype) for item in items])


def _cat_boxes(items: Sequence[dict], device: torch.device) -> Tensor:
    if not items:
        return torch.zeros(0, 4, dtype=torch.float64, device=device)
    return torch.cat([item["boxes"].to(device=device, dtype=torch.float64) for item in items])


def _check_values(side: str, items: Sequence[dict], values: Tensor, key: str, box_format: str) -> None:
    """Value checks on a concatenated tensor; walk the images only when one fails."""
    if values.is_floating_point() and not bool(torch.isfinite(values).all()):
        _find_bad(side, items, key, lambda v, w: check_finite(key, v, w))
    if key == "boxes" and values.numel() and bool(_misordered_boxes(values, box_format).any()):
        _find_bad(side, items, key, lambda v, w: _check_box_order(v, box_format, w))
    if key == "area" and bool((values < 0).any()):
        _find_bad(side, items, key, lambda v, w: _check_non_negative(v, w))


def _image_index(counts: list[int], device: torch.device) -> Tensor:
    sizes = torch.tensor(counts, dtype=torch.long, device=device)
    return torch.repeat_interleave(torch.arange(len(counts), device=device), sizes)


def flatten_detection_inputs(
    preds: Sequence[dict], target: Sequence[dict], iou_type: str, box_format: str, device: torch.device
) -> DetectionBatch:
    """Check values and concatenate a structurally checked batch into flat float64/int64 tensors."""
    det_scores = _cat(preds, "scores", torch.float64, device)
    _check_values("preds", preds, det_scores, "scores", box_format)
    det_boxes = gt_boxes = det_masks = gt_masks = None
    if iou_type == "bbox":
        det_raw, gt_raw = _cat_boxes(preds, device), _cat_boxes(target, device)
        _check_values("preds", preds, det_raw, "boxes", box_format)
        _check_values("target", target, gt_raw, "boxes", box_format)
        det_boxes, gt_boxes = _to_xyxy(det_raw, box_format), _to_xyxy(gt_raw, box_format)
        det_areas, gt_iou_areas = box_area(det_raw, box_format), box_area(gt_raw, box_format)
    else:
        det_masks = [item["masks"].to(device) for item in preds]
        gt_masks = [item["masks"].to(device) for item in target]
        det_areas = torch.cat([m.flatten(1).sum(1) for m in det_masks]).double() if preds else det_scores
        gt_iou_areas = torch.cat([m.flatten(1).sum(1) for m in gt_masks]).double() if target else det_scores
    gt_counts = [int(item["labels"].shape[0]) for item in target]
    gt_areas = gt_iou_areas
    if any("area" in item for item in target):
        given = [item["area"].to(device, torch.float64) if "area" in item else None for item in target]
        gt_areas = torch.cat(
            [g if g is not None else a for g, a in zip(given, gt_iou_areas.split(gt_counts), strict=True)]
        )
        _check_values("target", target, gt_areas, "area", box_format)
    crowd = [item.get("iscrowd", torch.zeros(n, dtype=torch.bool)) for item, n in zip(target, gt_counts, strict=True)]
    return DetectionBatch(
        num_images=len(preds),
        det_image=_image_index([int(item["labels"].shape[0]) for item in preds], device),
        det_scores=det_scores,
        det_labels=_cat(preds, "labels", torch.long, device),
        det_boxes=det_boxes,
        det_areas=det_areas,
        gt_image=_image_index(gt_counts, device),
        gt_labels=_cat(target, "labels", torch.long, device),
        gt_boxes=gt_boxes,
        gt_iou_areas=gt_iou_areas,
        gt_areas=gt_areas,
        gt_crowd=torch.cat([c.to(device) != 0 for c in crowd]) if crowd else torch.zeros(0, dtype=torch.bool),
        det_masks=det_masks,
        gt_masks=gt_masks,
        image_ids=torch.tensor(
            [_image_id(item["image_id"], i) if "image_id" in item else 0 for i, item in enumerate(target)],
            dtype=torch.long,
            device=device,
        ),
    )
