"""The one entry to detection input parsing: the bulk paths for a usual bbox batch or segm batch of RLE masks, the
per-image walk otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.bulk import parse_boxes_in_bulk
from lightning_evalkit.detection.inputs.bulk_masks import parse_rles_in_bulk
from lightning_evalkit.detection.inputs.walk import _parse_walk


def parse_detection_inputs(
    preds: Any,
    target: Any,
    box_format: str = "xyxy",
    iou_types: Sequence[str] = ("bbox",),
    require_scores: bool = True,
    device: torch.device | None = None,
) -> DetectionBatch:
    """Validate ``preds``/``target`` (lists of per-image dicts) and normalise them into one DetectionBatch.

    Raises the first problem found (TypeError for types and dtypes, ValueError otherwise), before returning
    anything. The areas are the boxes' when "bbox" is among ``iou_types``, else the masks'; see
    :meth:`DetectionBatch.for_iou_type`. A usual bbox batch, or segm batch of RLE masks, is parsed in bulk
    (whole-batch checks on the concatenated tensors); anything else, including every batch with an error, takes
    the per-image walk.
    """
    if tuple(iou_types) == ("bbox",):
        batch = parse_boxes_in_bulk(preds, target, box_format, require_scores, device)
        if batch is not None:
            return batch
    if tuple(iou_types) == ("segm",):
        batch = parse_rles_in_bulk(preds, target, require_scores, device)
        if batch is not None:
            return batch
    return _parse_walk(preds, target, box_format, iou_types, require_scores, device)
