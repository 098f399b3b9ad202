"""The per-image walk: validate and normalise a batch of per-image dicts one image at a time.

Per image, in plain Python: types, keys, dtypes and shapes, normalising the idioms torchmetrics users write
(empty ``torch.tensor([])`` for any key, integer boxes, integer 0/1 masks). Value checks (finite, box order,
non-negative areas) then run once on the concatenated batch and only look at single images to name the culprit
when one fails. Every input idiom and every error goes this way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_finite, check_tensor, format_shape
from lightning_evalkit.detection.boxes import _to_xyxy, box_area
from lightning_evalkit.detection.inputs.batch import (
    IOU_TYPE_KEYS,
    DetectionBatch,
    _image_id,
    _image_index,
    _misordered_boxes,
)
from lightning_evalkit.detection.masks import MaskInput, batch_masks
from lightning_evalkit.detection.rle import RleImage, check_rles


class _Image(NamedTuple):
    """One image's normalised tensors (None where the key is absent or not asked for)."""

    size: int  # number of boxes (or masks)
    labels: Tensor
    boxes: Tensor | None
    masks: MaskInput | None  # (N, H, W) bool, or checked COCO RLE dicts
    scores: Tensor | None
    iscrowd: Tensor | None
    area: Tensor | None
    image_id: int | None


def _where(side: str, index: int) -> str:
    return f"of image {index} in `{side}`"


def _is_empty_vector(tensor: Tensor) -> bool:
    """``torch.tensor([])``: how torchmetrics users write "nothing in this image" for any key."""
    return tensor.ndim == 1 and tensor.shape[0] == 0


def _parse_vector(name: str, value: Any, count: int, side: str, index: int, kind: str) -> Tensor:
    """A (count,) tensor of ``kind`` "integer" (bool allowed), "real" or "floating"; an empty one of any dtype."""
    where = _where(side, index)
    tensor = check_tensor(name, value, where)
    if tensor.ndim != 1 or tensor.shape[0] != count:
        raise ValueError(f"Expected `{name}` {where} to have shape ({count},), but got {format_shape(tensor.shape)}.")
    if count == 0:
        return tensor
    bad = {
        "integer": tensor.is_floating_point() or tensor.is_complex(),
        "real": tensor.is_complex() or tensor.dtype == torch.bool,
        "floating": not tensor.is_floating_point(),
    }[kind]
    if bad:
        expectation = {"integer": "an integer", "real": "a real", "floating": "a floating-point"}[kind]
        raise TypeError(f"Expected `{name}` {where} to have {expectation} dtype, but got {tensor.dtype}.")
    return tensor


def _parse_boxes(value: Any, side: str, index: int) -> Tensor:
    """Boxes (N, 4) of any real dtype (integer boxes too), or an empty ``torch.tensor([])``; float64 out."""
    where = _where(side, index)
    boxes = check_tensor("boxes", value, where)
    if _is_empty_vector(boxes):
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"Expected `boxes` {where} to have shape (N, 4), but got {format_shape(boxes.shape)}.")
    if boxes.is_complex() or boxes.dtype == torch.bool:
        raise TypeError(f"Expected `boxes` {where} to have a real dtype, but got {boxes.dtype}.")
    return boxes.to(torch.float64)


def _parse_masks(value: Any, side: str, index: int) -> MaskInput:
    """The one place mask input is read: (N, H, W) bool, or checked COCO RLE dicts, out.

    Accepts bool masks, integer or floating 0/1 masks (pycocotools' ``annToMask`` returns uint8), an empty
    ``torch.tensor([])`` (returned as (0, 0, 0); the caller gives it the other side's (H, W)), and a list of COCO
    RLE dicts ``{"size": [h, w], "counts": str | bytes | list of ints}`` as pycocotools' ``mask.encode`` and
    COCO JSON files hold them (decoded later, batch-wide, straight into runs: never densified).
    """
    where = _where(side, index)
    if isinstance(value, list | tuple):
        return check_rles(value, where)
    masks = check_tensor("masks", value, where)
    if _is_empty_vector(masks):
        return torch.zeros(0, 0, 0, dtype=torch.bool, device=masks.device)
    if masks.ndim != 3:
        raise ValueError(f"Expected `masks` {where} to have shape (N, H, W), but got {format_shape(masks.shape)}.")
    if masks.dtype == torch.bool:
        return masks
    if masks.is_complex():
        raise TypeError(f"Expected `masks` {where} to have a bool, integer or floating dtype, but got {masks.dtype}.")
    binary = masks != 0
    if masks.numel() and not bool((binary | (masks == 0)).all() and (masks[binary] == 1).all()):
        bad = masks[(masks != 0) & (masks != 1)]
        got = f"{bad[0].item():g}" if bad.numel() else "NaN"
        raise ValueError(f"Expected `masks` {where} to hold only 0 and 1, but got {got}.")
    return binary


def _mask_count(masks: MaskInput) -> int:
    return len(masks.counts) if isinstance(masks, RleImage) else masks.shape[0]


def _mask_size(masks: MaskInput) -> tuple[int, int]:
    return (masks.height, masks.width) if isinstance(masks, RleImage) else (masks.shape[1], masks.shape[2])


def _with_size(masks: MaskInput, size: tuple[int, int]) -> MaskInput:
    """An image without masks takes the other side's (H, W)."""
    if isinstance(masks, RleImage):
        return masks._replace(height=size[0], width=size[1])
    return masks.new_zeros((0, *size))


def _check_keys(item: Any, keys: Sequence[str], side: str, index: int) -> None:
    if not isinstance(item, dict):
        raise TypeError(f"Expected `{side}[{index}]` to be a dict, but got {type(item).__name__}.")
    for key in keys:
        if key not in item:
            raise ValueError(f"Expected `{side}[{index}]` to have key '{key}', but got keys {sorted(map(str, item))}.")


def _parse_image(item: Any, side: str, index: int, iou_types: Sequence[str], require_scores: bool) -> _Image:
    """Check one image's dict structurally and normalise it."""
    is_pred = side == "preds"
    keys = [IOU_TYPE_KEYS[t] for t in iou_types] + ["labels"] + (["scores"] if is_pred and require_scores else [])
    _check_keys(item, keys, side, index)
    boxes = _parse_boxes(item["boxes"], side, index) if "bbox" in iou_types else None
    masks = _parse_masks(item["masks"], side, index) if "segm" in iou_types else None
    count = boxes.shape[0] if boxes is not None else _mask_count(masks)  # type: ignore[arg-type]
    if boxes is not None and masks is not None and _mask_count(masks) != count:
        got = f"{len(masks.counts)} RLEs" if isinstance(masks, RleImage) else format_shape(masks.shape)
        raise ValueError(f"Expected `masks` {_where(side, index)} to have shape ({count}, H, W), but got {got}.")
    labels = _parse_vector("labels", item["labels"], count, side, index, "integer")
    scores = iscrowd = area = None
    if is_pred and require_scores:
        scores = _parse_vector("scores", item["scores"], count, side, index, "floating")
    if not is_pred and "iscrowd" in item:
        iscrowd = _parse_vector("iscrowd", item["iscrowd"], count, side, index, "integer") != 0
    if not is_pred and "area" in item:
        area = _parse_vector("area", item["area"], count, side, index, "real").to(torch.float64)
    image_id = _image_id(item["image_id"], index) if not is_pred and "image_id" in item else None
    return _Image(count, labels, boxes, masks, scores, iscrowd, area, image_id)


def _match_mask_sizes(pred: _Image, gt: _Image, index: int) -> tuple[_Image, _Image]:
    """Give an image without masks the (H, W) of the other side; else both sides must agree.

    An empty RLE list has no size (-1 x -1): with both sides empty, it takes the other side's.
    """
    pred_masks, gt_masks = pred.masks, gt.masks
    assert pred_masks is not None and gt_masks is not None
    if pred.size == 0 and min(_mask_size(gt_masks)) >= 0:
        pred_masks = _with_size(pred_masks, _mask_size(gt_masks))
    elif gt.size == 0:
        gt_masks = _with_size(gt_masks, _mask_size(pred_masks))
    if _mask_size(pred_masks) != _mask_size(gt_masks):
        raise ValueError(
            f"Expected `masks` of image {index} in `preds` and `target` to have the same (H, W), but got "
            f"{format_shape(_mask_size(pred_masks))} and {format_shape(_mask_size(gt_masks))}."
        )
    return pred._replace(masks=pred_masks), gt._replace(masks=gt_masks)


def _parse_images(
    preds: Any, target: Any, iou_types: Sequence[str], require_scores: bool
) -> tuple[list[_Image], list[_Image]]:
    for name, value in (("preds", preds), ("target", target)):
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            raise TypeError(f"Expected `{name}` to be a list of dicts, but got {type(value).__name__}.")
    if len(preds) != len(target):
        raise ValueError(
            f"Expected `preds` and `target` to have the same length, but got {len(preds)} and {len(target)}."
        )
    pred_images, gt_images = [], []
    for index, (pred_item, gt_item) in enumerate(zip(preds, target, strict=True)):
        pred = _parse_image(pred_item, "preds", index, iou_types, require_scores)
        gt = _parse_image(gt_item, "target", index, iou_types, require_scores)
        if "segm" in iou_types:
            pred, gt = _match_mask_sizes(pred, gt, index)
        pred_images.append(pred)
        gt_images.append(gt)
    has_id = [gt.image_id is not None for gt in gt_images]
    if any(has_id) and not all(has_id):
        raise ValueError(
            f"Expected `image_id` in every target of the batch once one has it, but image {has_id.index(False)} "
            "in `target` has none."
        )
    return pred_images, gt_images


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


def _check_values(side: str, images: list[_Image], values: Tensor, key: str, box_format: str) -> None:
    """Value checks on a concatenated tensor; look at single images only when one fails."""

    def find_bad(check: Callable[[Tensor, str], None]) -> None:
        for index, image in enumerate(images):
            value = getattr(image, key)
            if value is not None:
                check(value, _where(side, index))

    if values.is_floating_point() and not bool(torch.isfinite(values).all()):
        find_bad(lambda v, w: check_finite(key, v.to(torch.float64), w))
    if key == "boxes" and values.numel() and bool(_misordered_boxes(values, box_format).any()):
        find_bad(lambda v, w: _check_box_order(v, box_format, w))
    if key == "area" and bool((values < 0).any()):
        find_bad(_check_non_negative)


def _cat(tensors: list[Tensor], dtype: torch.dtype, device: torch.device, trailing: tuple[int, ...] = ()) -> Tensor:
    if not tensors:
        return torch.zeros((0, *trailing), dtype=dtype, device=device)
    return torch.cat([t.to(device=device, dtype=dtype) for t in tensors])


def _parse_walk(
    preds: Any,
    target: Any,
    box_format: str,
    iou_types: Sequence[str],
    require_scores: bool,
    device: torch.device | None,
) -> DetectionBatch:
    """:func:`parse_detection_inputs` one image at a time: every input idiom, and the culprit of every error."""
    pred_images, gt_images = _parse_images(preds, target, iou_types, require_scores)
    if device is None:
        device = pred_images[0].labels.device if pred_images else torch.device("cpu")
    det_scores = _cat([p.scores for p in pred_images if p.scores is not None], torch.float64, device)
    if not require_scores:
        det_scores = torch.zeros(sum(p.size for p in pred_images), dtype=torch.float64, device=device)
    _check_values("preds", pred_images, det_scores, "scores", box_format)
    det_boxes = gt_boxes = det_masks = gt_masks = None
    if "bbox" in iou_types:
        det_raw = _cat([p.boxes for p in pred_images if p.boxes is not None], torch.float64, device, (4,))
        gt_raw = _cat([g.boxes for g in gt_images if g.boxes is not None], torch.float64, device, (4,))
        _check_values("preds", pred_images, det_raw, "boxes", box_format)
        _check_values("target", gt_images, gt_raw, "boxes", box_format)
        det_boxes, gt_boxes = _to_xyxy(det_raw, box_format), _to_xyxy(gt_raw, box_format)
    if "segm" in iou_types:
        det_masks, gt_masks = batch_masks(
            [p.masks for p in pred_images if p.masks is not None],
            [g.masks for g in gt_images if g.masks is not None],
            device,
        )
    iou_type = "bbox" if "bbox" in iou_types else "segm"
    if iou_type == "bbox":  # pycocotools' box area: the given width times height for "xywh"/"cxcywh"
        det_areas, gt_iou_areas = box_area(det_raw, box_format), box_area(gt_raw, box_format)
    else:
        assert det_masks is not None and gt_masks is not None
        det_areas, gt_iou_areas = det_masks.areas.double(), gt_masks.areas.double()
    given = [g.area for g in gt_images if g.area is not None]
    _check_values("target", gt_images, _cat(given, torch.float64, device), "area", box_format)
    absent = [g.area if g.area is not None else torch.full((g.size,), torch.nan) for g in gt_images]
    gt_given_area = _cat(absent, torch.float64, device)
    crowd = [g.iscrowd if g.iscrowd is not None else torch.zeros(g.size, dtype=torch.bool) for g in gt_images]
    has_ids = bool(gt_images) and gt_images[0].image_id is not None
    return DetectionBatch(
        num_images=len(pred_images),
        iou_type=iou_type,
        det_image=_image_index([p.size for p in pred_images], device),
        det_scores=det_scores,
        det_labels=_cat([p.labels for p in pred_images], torch.long, device),
        det_boxes=det_boxes,
        det_areas=det_areas,
        gt_image=_image_index([g.size for g in gt_images], device),
        gt_labels=_cat([g.labels for g in gt_images], torch.long, device),
        gt_boxes=gt_boxes,
        gt_iou_areas=gt_iou_areas,
        gt_areas=torch.where(torch.isnan(gt_given_area), gt_iou_areas, gt_given_area),
        gt_crowd=_cat(crowd, torch.bool, device),
        det_masks=det_masks,
        gt_masks=gt_masks,
        image_ids=torch.tensor([g.image_id if has_ids else 0 for g in gt_images], dtype=torch.long, device=device),
        gt_given_area=gt_given_area,
    )
