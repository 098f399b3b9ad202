"""The usual segm batch, COCO RLE masks in hand, parsed with whole-batch operations (see
:func:`parse_rles_in_bulk`), as bulk.py parses the usual bbox batch.

Per image only the keys and the RLE lists are read (``check_rles``: C-level passes over the dicts); labels,
scores, crowd flags and areas are checked on their concatenations. A batch that is anywhere unusual (an error to
report, dense masks, an idiom to normalise per image) is left to the per-image walk, which gives the same batch
or names the culprit; so this path only decides faster, never differently.

Why (segm benchmark, 200 images of ~75 RLE masks in batches of 32, one thread): the walk's per-image checks and
normalisation cost about as much as decoding the masks once the decoding is compiled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lightning_evalkit.detection.inputs.batch import DetectionBatch, _image_index
from lightning_evalkit.detection.inputs.bulk import (
    _is_integer,
    _lengths,
    _require,
    _UnusualBatchError,
    _vector,
    scores_and_target_extras,
)
from lightning_evalkit.detection.inputs.walk import _where
from lightning_evalkit.detection.masks import batch_masks
from lightning_evalkit.detection.rle import RleImage, check_rles


def _rle_images(values: list[Any], sizes: list[int], side: str) -> list[RleImage]:
    """Each image's RLE list checked (as the walk checks it, with the same names for later messages)."""
    _require(all(isinstance(value, list | tuple) for value in values))
    images = [check_rles(value, _where(side, index)) for index, value in enumerate(values)]
    _require([len(image.counts) for image in images] == sizes)
    return images


def _shared_sizes(dets: list[RleImage], gts: list[RleImage]) -> tuple[list[RleImage], list[RleImage]]:
    """The walk's rule: an image side without masks takes the other side's (H, W); else both must agree."""
    for index, (det, gt) in enumerate(zip(dets, gts, strict=True)):
        if not det.counts and min(gt.height, gt.width) >= 0:
            dets[index] = det = det._replace(height=gt.height, width=gt.width)
        elif not gt.counts:
            gts[index] = gt = gt._replace(height=det.height, width=det.width)
        _require((det.height, det.width) == (gt.height, gt.width))
    return dets, gts


def parse_rles_in_bulk(
    preds: Any, target: Any, require_scores: bool, device: torch.device | None
) -> DetectionBatch | None:
    """The usual segm batch with RLE masks as :func:`parse_detection_inputs` gives it, or None for the walk."""
    if not (isinstance(preds, list | tuple) and isinstance(target, list | tuple)) or len(preds) != len(target):
        return None
    if not preds or not all(isinstance(item, dict) for item in (*preds, *target)):
        return None
    try:
        return _bulk_batch(preds, target, require_scores, device)
    except (_UnusualBatchError, KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError):
        return None


def _bulk_batch(
    preds: Sequence[dict], target: Sequence[dict], require_scores: bool, device: torch.device | None
) -> DetectionBatch:
    det_labels_in, gt_labels_in = [p["labels"] for p in preds], [g["labels"] for g in target]
    det_sizes, gt_sizes = _lengths(det_labels_in), _lengths(gt_labels_in)
    device = det_labels_in[0].device if device is None else device
    det_labels = _vector(det_labels_in, det_sizes, _is_integer, torch.long, device)
    gt_labels = _vector(gt_labels_in, gt_sizes, _is_integer, torch.long, device)
    det_images, gt_images = _shared_sizes(
        _rle_images([p["masks"] for p in preds], det_sizes, "preds"),
        _rle_images([g["masks"] for g in target], gt_sizes, "target"),
    )
    det_scores, gt_crowd, gt_given_area, image_ids = scores_and_target_extras(
        preds, target, det_sizes, gt_sizes, require_scores, device
    )
    det_masks, gt_masks = batch_masks(det_images, gt_images, device)
    det_areas, gt_iou_areas = det_masks.areas.double(), gt_masks.areas.double()
    return DetectionBatch(
        num_images=len(det_sizes),
        iou_type="segm",
        det_image=_image_index(det_sizes, device),
        det_scores=det_scores,
        det_labels=det_labels,
        det_boxes=None,
        det_areas=det_areas,
        gt_image=_image_index(gt_sizes, device),
        gt_labels=gt_labels,
        gt_boxes=None,
        gt_iou_areas=gt_iou_areas,
        gt_areas=torch.where(torch.isnan(gt_given_area), gt_iou_areas, gt_given_area),
        gt_crowd=gt_crowd,
        det_masks=det_masks,
        gt_masks=gt_masks,
        image_ids=image_ids,
        gt_given_area=gt_given_area,
    )
