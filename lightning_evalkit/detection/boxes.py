"""Box formats, box areas and pairwise box IoU (plain and COCO crowd); mask IoU lives in ``masks.py``.

IoU is continuous (no "+1" pixel convention) and computed the way pycocotools computes it: the overlap width
is ``min(right edges) - max(left edges)``, zero when not positive, and the union is ``(area_a + area_b) -
overlap``. Crowd IoU divides the overlap by the first box's (the detection's) area instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")

__all__ = ["BOX_FORMATS", "box_area", "box_convert", "box_iou"]


def _to_xyxy(boxes: Tensor, box_format: str) -> Tensor:
    if box_format == "xyxy":
        return boxes
    if box_format == "xywh":
        # x + w, as pycocotools does, so IoUs are bit-identical for xywh input (in place on a copy: fewer ops)
        corners = boxes.clone()
        corners[..., 2:] += boxes[..., :2]
        return corners
    half = boxes[..., 2:] / 2
    return torch.cat([boxes[..., :2] - half, boxes[..., :2] + half], dim=-1)


def _from_xyxy(boxes: Tensor, box_format: str) -> Tensor:
    if box_format == "xyxy":
        return boxes
    wh = boxes[..., 2:] - boxes[..., :2]
    if box_format == "xywh":
        return torch.cat([boxes[..., :2], wh], dim=-1)
    return torch.cat([boxes[..., :2] + wh / 2, wh], dim=-1)


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes (..., 4) between the "xyxy", "xywh" (top-left corner) and "cxcywh" (centre) formats.

    Args:
        boxes: Tensor of shape (..., 4).
        in_fmt: Format of ``boxes``.
        out_fmt: Format to return.

    Returns:
        Tensor of the same shape and dtype in ``out_fmt``.

    Example:
        >>> import torch
        >>> box_convert(torch.tensor([[10.0, 20.0, 30.0, 60.0]]), "xyxy", "cxcywh")
        tensor([[20., 40., 20., 40.]])
    """
    check_choice("in_fmt", in_fmt, BOX_FORMATS)
    check_choice("out_fmt", out_fmt, BOX_FORMATS)
    if in_fmt == out_fmt:
        return boxes.clone()
    return _from_xyxy(_to_xyxy(boxes, in_fmt), out_fmt)


def box_area(boxes: Tensor, box_format: str = "xyxy") -> Tensor:
    """Area ``width * height`` of each box (..., 4), with width and height read in ``box_format``.

    For "xywh" and "cxcywh" the area is the product of the given width and height (as pycocotools computes
    it).

    Example:
        >>> import torch
        >>> box_area(torch.tensor([[0.0, 0.0, 4.0, 3.0]]))
        tensor([12.])
    """
    check_choice("box_format", box_format, BOX_FORMATS)
    if box_format == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def _overlap(a_xyxy: Tensor, b_xyxy: Tensor) -> Tensor:
    """Overlap area of boxes that broadcast against each other (zero where they do not overlap)."""
    width = torch.minimum(a_xyxy[..., 2], b_xyxy[..., 2]) - torch.maximum(a_xyxy[..., 0], b_xyxy[..., 0])
    height = torch.minimum(a_xyxy[..., 3], b_xyxy[..., 3]) - torch.maximum(a_xyxy[..., 1], b_xyxy[..., 1])
    return torch.where((width > 0) & (height > 0), width * height, torch.zeros_like(width))


def _iou_from_parts(overlap: Tensor, area_a: Tensor, area_b: Tensor, crowd: Tensor | None) -> Tensor:
    union = (area_a + area_b) - overlap
    if crowd is not None:
        union = torch.where(crowd, area_a.expand_as(union), union)
    # overlap > 0 implies union > 0; elsewhere the IoU is 0 (pycocotools skips the division there)
    safe = torch.where(overlap > 0, union, torch.ones_like(union))
    return torch.where(overlap > 0, overlap / safe, torch.zeros_like(overlap))


def _paired_box_iou(
    a_xyxy: Tensor, a_area: Tensor, b_xyxy: Tensor, b_area: Tensor, b_crowd: Tensor | None = None
) -> Tensor:
    """IoU of row i of ``a`` with row i of ``b`` (areas given, so the caller controls how they are
    rounded)."""
    return _iou_from_parts(_overlap(a_xyxy, b_xyxy), a_area, b_area, b_crowd)


def box_iou(boxes_a: Tensor, boxes_b: Tensor, box_format: str = "xyxy", iscrowd: Tensor | None = None) -> Tensor:
    """Pairwise IoU (N, M) between boxes_a (N, 4) and boxes_b (M, 4).

    Args:
        boxes_a: Boxes (N, 4), e.g. detections.
        boxes_b: Boxes (M, 4), e.g. ground truth.
        box_format: "xyxy", "xywh" or "cxcywh" for both.
        iscrowd: Optional bool (M,): where True, COCO's crowd IoU ``overlap / area(boxes_a[i])`` is used
            instead.

    Returns:
        Float tensor (N, M) in [0, 1].

    Example:
        >>> import torch
        >>> a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> b = torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 4.0, 4.0]])
        >>> box_iou(a, b)
        tensor([[0.3333, 0.2500]])
        >>> box_iou(a, b, iscrowd=torch.tensor([False, True]))
        tensor([[0.3333, 1.0000]])
    """
    area_a = box_area(boxes_a, box_format)
    area_b = box_area(boxes_b, box_format)
    a_xyxy = _to_xyxy(boxes_a, box_format)[:, None, :]
    b_xyxy = _to_xyxy(boxes_b, box_format)[None, :, :]
    crowd = None if iscrowd is None else iscrowd.bool()[None, :]
    return _iou_from_parts(_overlap(a_xyxy, b_xyxy), area_a[:, None], area_b[None, :], crowd)
