"""Where the detection errors come from (TIDE), functional: the ``_update`` / ``_compute`` pair that
:class:`~lightning_evalkit.detection.tide.breakdown_metric.DetectionErrorBreakdown` runs, applied to one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice, check_positive_int
from lightning_evalkit.detection.boxes import BOX_FORMATS
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.tide.fixes import RESULT_KEYS, tide_breakdown
from lightning_evalkit.detection.tide.image_errors import DET_COLUMNS, GT_COLUMNS, ImageBoxes, image_errors

__all__ = ["detection_error_breakdown"]

TIDE_MAX_DETECTIONS = 100  # tidecv's Data(max_dets=100)


def _tide_check_args(box_format: Any, pos_threshold: Any, background_threshold: Any, max_detections: Any) -> None:
    """Refuse arguments tidecv's rules cannot use, saying what was expected and what was got."""
    check_choice("box_format", box_format, BOX_FORMATS)
    for name, value in (("pos_threshold", pos_threshold), ("background_threshold", background_threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"Expected `{name}` to be a number in [0, 1], but got {value!r}.")
    if not pos_threshold > 0:
        raise ValueError(f"Expected `pos_threshold` to be above 0, but got {pos_threshold!r}.")
    if background_threshold > pos_threshold:
        raise ValueError(
            f"Expected `background_threshold` ({background_threshold!r}) to be at most `pos_threshold` "
            f"({pos_threshold!r})."
        )
    check_positive_int("max_detections", max_detections)


def _tide_update(
    batch: DetectionBatch, pos_threshold: float, background_threshold: float, max_detections: int
) -> dict[str, Tensor]:
    """The records of every image of a parsed batch, in image order (see ``image_errors``)."""
    device = batch.det_scores.device
    det_image, gt_image = batch.det_image.cpu().numpy(), batch.gt_image.cpu().numpy()
    det_boxes, gt_boxes = _boxes(batch.det_boxes), _boxes(batch.gt_boxes)
    det_scores, det_labels = batch.det_scores.cpu().numpy(), batch.det_labels.cpu().numpy()
    gt_labels, gt_crowd = batch.gt_labels.cpu().numpy(), batch.gt_crowd.cpu().numpy()
    scores, dets, gts = [np.zeros(0)], [np.zeros((0, len(DET_COLUMNS)), np.int64)], [np.zeros((0, 3), np.int64)]
    image_ids, batch_ids = [np.zeros(0, np.int64)], batch.image_ids.cpu().numpy()
    det_starts = np.searchsorted(det_image, np.arange(batch.num_images + 1))
    gt_starts = np.searchsorted(gt_image, np.arange(batch.num_images + 1))
    for image in range(batch.num_images):
        d, g = slice(det_starts[image], det_starts[image + 1]), slice(gt_starts[image], gt_starts[image + 1])
        boxes = ImageBoxes(det_boxes[d], det_scores[d], det_labels[d], gt_boxes[g], gt_labels[g], gt_crowd[g])
        image_scores, image_dets, image_gts = image_errors(boxes, pos_threshold, background_threshold, max_detections)
        scores.append(image_scores)
        dets.append(image_dets)
        gts.append(image_gts)
        image_ids.append(np.full(len(image_scores), batch_ids[image], dtype=np.int64))
    return {
        "tide_scores": torch.from_numpy(np.concatenate(scores)).to(device),
        "tide_detections": torch.from_numpy(np.concatenate(dets)).to(device),
        "tide_ground_truths": torch.from_numpy(np.concatenate(gts)).to(device),
        "tide_image_ids": torch.from_numpy(np.concatenate(image_ids)).to(device),
    }


def _boxes(boxes: Tensor | None) -> np.ndarray:
    return np.zeros((0, 4)) if boxes is None else boxes.cpu().numpy().astype(np.float64)


def _tide_compute(states: dict[str, Tensor], dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """The breakdown of every record seen: ``map`` and the dAP of each error, NaN where undefined."""
    scores = states["tide_scores"].cpu().numpy()
    dets = states["tide_detections"].cpu().numpy().reshape(-1, len(DET_COLUMNS))
    gts = states["tide_ground_truths"].cpu().numpy().reshape(-1, len(GT_COLUMNS))
    # images in ascending image id (stable; all 0 without ids): score ties across images broken as pycocotools does
    by_image = np.argsort(states["tide_image_ids"].cpu().numpy(), kind="stable")
    scores, dets = scores[by_image], dets[by_image]
    values = tide_breakdown(scores, dets, gts)
    device = states["tide_scores"].device
    return {key: torch.tensor(values[key], dtype=dtype, device=device) for key in RESULT_KEYS}


def _tide_parse(preds: Sequence[dict], target: Sequence[dict], box_format: str, device: Any = None) -> DetectionBatch:
    """One checked bbox batch (detections need scores; crowd targets are tidecv's ignore regions)."""
    return parse_detection_inputs(preds, target, box_format, ("bbox",), device=device)


def detection_error_breakdown(
    preds: Sequence[dict],
    target: Sequence[dict],
    box_format: str = "xyxy",
    pos_threshold: float = 0.5,
    background_threshold: float = 0.1,
    max_detections: int = TIDE_MAX_DETECTIONS,
) -> dict[str, Tensor]:
    """Where the errors of one set of images come from: tidecv 1.0.1's mAP and dAPs, as fractions.

    The functional twin of :class:`lightning_evalkit.DetectionErrorBreakdown`: same arguments, inputs and keys.

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 40, 40], [60, 60, 90, 90]]), scores=torch.tensor([0.9, 0.8]),
        ...               labels=torch.tensor([1, 1]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 40, 40]]), labels=torch.tensor([1]))]
        >>> result = detection_error_breakdown(preds, target)
        >>> result["map"].item(), result["background"].item(), result["missed"].item()
        (1.0, 0.0, 0.0)
    """
    _tide_check_args(box_format, pos_threshold, background_threshold, max_detections)
    batch = _tide_parse(preds, target, box_format)
    return _tide_compute(_tide_update(batch, pos_threshold, background_threshold, max_detections))
