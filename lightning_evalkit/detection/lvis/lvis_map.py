"""LVIS mean average precision, functional: the ``_update`` / ``_compute`` pair that
:class:`~lightning_evalkit.detection.lvis.lvis_map_metric.LVISMeanAveragePrecision` runs, applied to one batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit._core.checks import check_choice, check_positive_int
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit.detection.boxes import BOX_FORMATS
from lightning_evalkit.detection.coco.accumulate import coco_accumulate
from lightning_evalkit.detection.coco.match import CocoRecords
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.lvis.federated import FederatedLabels, federated_selection, parse_federated
from lightning_evalkit.detection.lvis.match import lvis_match
from lightning_evalkit.detection.mean_ap import (
    AREA_NAMES,
    AREA_RANGES,
    DEFAULT_IOU_THRESHOLDS,
    DEFAULT_REC_THRESHOLDS,
    _mean_defined,
)

__all__ = ["lvis_mean_average_precision"]

FREQUENCIES = ("r", "c", "f")  # lvis-api's ``img_count_lbl``: rare, common, frequent
FREQUENCY_NAMES = ("rare", "common", "frequent")
LVIS_MAX_DETECTIONS = 300


def _lvis_check_args(
    box_format: str, iou_type: Any, category_frequencies: Any, max_detections: Any
) -> dict[int, str] | None:
    """Validate LVISMeanAveragePrecision's arguments; return the frequencies as {int id: "r" | "c" | "f"}."""
    check_choice("box_format", box_format, BOX_FORMATS)
    check_choice("iou_type", iou_type, ("bbox", "segm"))
    check_positive_int("max_detections", max_detections)
    if category_frequencies is None:
        return None
    if not isinstance(category_frequencies, Mapping):
        raise TypeError(
            "Expected `category_frequencies` to be None or a dict {category id: 'r' | 'c' | 'f'}, but got "
            f"{type(category_frequencies).__name__}."
        )
    checked = {}
    for category, frequency in category_frequencies.items():
        if isinstance(category, bool) or not isinstance(category, int | np.integer):
            raise TypeError(f"Expected the keys of `category_frequencies` to be int ids, but got {category!r}.")
        if frequency not in FREQUENCIES:
            raise ValueError(
                f"Expected `category_frequencies[{category}]` to be 'r', 'c' or 'f', but got {frequency!r}."
            )
        checked[int(category)] = str(frequency)
    return checked


def _categories(frequencies: dict[int, str] | None, device: torch.device) -> Tensor | None:
    return None if frequencies is None else torch.tensor(sorted(frequencies), dtype=torch.long, device=device)


def _check_target_labels(batch: DetectionBatch, categories: Tensor | None) -> None:
    """Refuse ground truth of a category without a frequency (lvis-api drops it, which hides a wrong id)."""
    if categories is None:
        return
    unknown = ~torch.isin(batch.gt_labels, categories)
    if bool(unknown.any()):
        first = int(torch.nonzero(unknown)[0, 0])
        raise ValueError(
            f"Expected `labels` of image {int(batch.gt_image[first])} in `target` to be categories of "
            f"`category_frequencies`, but got {int(batch.gt_labels[first])}."
        )


def _lvis_parse(
    preds: Any, target: Any, box_format: str, iou_type: str, categories: Tensor | None, device: Any = None
) -> tuple[DetectionBatch, FederatedLabels]:
    """Check a batch completely (boxes or masks, then the federated keys, then the labels); nothing kept yet."""
    batch = parse_detection_inputs(preds, target, box_format, (iou_type,), device=device)
    federated = parse_federated(target, batch.det_scores.device)
    _check_target_labels(batch, categories)
    return batch, federated


def _lvis_update(
    batch: DetectionBatch,
    federated: FederatedLabels,
    categories: Tensor | None,
    max_detections: int,
    det_areas: Tensor | None = None,
) -> dict[str, Tensor]:
    """Select (federated rules) and match a parsed batch; return the records to keep, by name.

    ``det_areas`` replace the detections' own areas in the area rules (lvis-api's ``area`` of a result).
    """
    device = batch.det_scores.device
    det_areas = batch.det_areas if det_areas is None else det_areas
    selection = federated_selection(batch, federated, categories, max_detections, det_areas)
    thresholds = torch.tensor(DEFAULT_IOU_THRESHOLDS, dtype=torch.float64, device=device)
    ranges = torch.tensor(AREA_RANGES, dtype=torch.float64, device=device)
    return lvis_match(batch, selection, thresholds, ranges, det_areas)._asdict()


def _frequency_columns(classes: Tensor, frequencies: dict[int, str] | None) -> list[Tensor]:
    """For rare, common and frequent: the indices into ``classes`` of the categories of that frequency."""
    labels = classes.tolist()
    return [
        torch.tensor(
            [k for k, label in enumerate(labels) if frequencies is not None and frequencies.get(label) == code],
            dtype=torch.long,
            device=classes.device,
        )
        for code in FREQUENCIES
    ]


def _lvis_summary(
    classes: Tensor, precision_mean: Tensor, recall: Tensor, frequencies: dict[int, str] | None, max_detections: int
) -> dict[str, Tensor]:
    """lvis-api's ``summarize``: the 13 values from the mean precision over the recall steps (T, K, A) and recall
    (T, K, A). lvis-api averages precision over (T, R, K); every defined (t, k) has all R steps."""
    out = {"map": _mean_defined(precision_mean[..., 0])}
    for key, iou in (("map_50", 0.5), ("map_75", 0.75)):
        rows = [i for i, t in enumerate(DEFAULT_IOU_THRESHOLDS) if t == iou]  # lvis-api compares exactly
        out[key] = _mean_defined(precision_mean[rows][..., 0])
    for area, name in enumerate(AREA_NAMES[1:], start=1):
        out[f"map_{name}"] = _mean_defined(precision_mean[..., area])
    for columns, name in zip(_frequency_columns(classes, frequencies), FREQUENCY_NAMES, strict=True):
        out[f"map_{name}"] = _mean_defined(precision_mean[:, columns, 0])
    out[f"mar_{max_detections}"] = _mean_defined(recall[..., 0])
    for area, name in enumerate(AREA_NAMES[1:], start=1):
        out[f"mar_{name}"] = _mean_defined(recall[..., area])
    return out


def _lvis_accumulate(states: Mapping[str, Tensor], max_detections: int) -> tuple[Tensor, Tensor, Tensor]:
    """classes (K,), the mean precision over the recall steps (T, K, A) and recall (T, K, A) of every image seen."""
    records = CocoRecords(*(states[name] for name in CocoRecords._fields))
    recs = torch.tensor(DEFAULT_REC_THRESHOLDS, dtype=torch.float64, device=records.det_scores.device)
    accumulated = coco_accumulate(
        records.det_scores,
        records.det_labels,
        records.det_ranks,
        records.det_matched,
        records.det_ignored,
        records.gt_labels,
        records.gt_counted,
        recs,
        [max_detections],
        records.det_image_ids,
        every_max_det=False,
        precision_array=False,
    )
    return accumulated.classes, accumulated.precision_mean, accumulated.recall[..., 0]


def _lvis_compute(
    states: Mapping[str, Tensor], frequencies: dict[int, str] | None, max_detections: int, dtype: torch.dtype
) -> dict[str, Tensor]:
    """Accumulate the records of every image seen and summarise them (keys: see LVISMeanAveragePrecision)."""
    classes, precision_mean, recall = _lvis_accumulate(states, max_detections)
    if not bool((recall > -1).any()):
        rank_zero_warn("No ground truth was counted: every LVIS average precision and recall is -1.", stacklevel=3)
    return {
        key: value.to(dtype)
        for key, value in _lvis_summary(classes, precision_mean, recall, frequencies, max_detections).items()
    }


def lvis_mean_average_precision(
    preds: Sequence[dict],
    target: Sequence[dict],
    box_format: str = "xyxy",
    iou_type: str = "bbox",
    category_frequencies: Mapping[int, str] | None = None,
    max_detections: int = LVIS_MAX_DETECTIONS,
) -> dict[str, Tensor]:
    """LVIS federated mean average precision and recall of one set of images (lvis-api 0.5.3's to 1e-6).

    The functional twin of :class:`lightning_evalkit.LVISMeanAveragePrecision`: same arguments, inputs and keys.

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 40, 40], [50, 50, 90, 90], [0, 50, 40, 90]]),
        ...               scores=torch.tensor([0.9, 0.8, 0.7]), labels=torch.tensor([1, 1, 2]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 40, 40]]), labels=torch.tensor([1]),
        ...                neg_category_ids=torch.tensor([]), not_exhaustive_category_ids=torch.tensor([1]))]
        >>> result = lvis_mean_average_precision(preds, target, category_frequencies={1: "r", 2: "f"})
        >>> result["map"].item(), result["map_rare"].item(), result["map_frequent"].item()
        (1.0, 1.0, -1.0)
    """
    frequencies = _lvis_check_args(box_format, iou_type, category_frequencies, max_detections)
    categories = _categories(frequencies, torch.device("cpu"))
    batch, federated = _lvis_parse(preds, target, box_format, iou_type, categories)
    if categories is not None:
        categories = categories.to(batch.det_scores.device)
    states = _lvis_update(batch, federated, categories, max_detections)
    return _lvis_compute(states, frequencies, max_detections, torch.float32)
