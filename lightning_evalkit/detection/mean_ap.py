"""COCO mean average precision, functional: the same ``_update`` / ``_compute`` pair that
:class:`~lightning_evalkit.detection.mean_ap_metric.MeanAveragePrecision` runs, applied to one batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics.utilities.data import _squeeze_if_scalar

from lightning_evalkit._core.checks import check_choice
from lightning_evalkit._core.rank_warnings import rank_zero_warn, warn_once
from lightning_evalkit.detection.boxes import BOX_FORMATS
from lightning_evalkit.detection.coco.accumulate import CocoAccumulation, coco_accumulate
from lightning_evalkit.detection.coco.ious import iou_blocks, ious_from_blocks
from lightning_evalkit.detection.coco.match import (
    CocoRecords,
    coco_match,
)
from lightning_evalkit.detection.coco.pairs import _class_indices
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs

__all__ = ["mean_average_precision"]

# pycocotools' defaults, built the way it builds them (np.linspace), so thresholds are bit-identical
DEFAULT_IOU_THRESHOLDS: list[float] = np.linspace(0.5, 0.95, 10).tolist()
DEFAULT_REC_THRESHOLDS: list[float] = np.linspace(0.0, 1.0, 101).tolist()
DEFAULT_MAX_DETECTIONS: list[int] = [1, 10, 100]
AREA_RANGES = ((0.0, 1e10), (0.0, 32.0**2), (32.0**2, 96.0**2), (96.0**2, 1e10))
AREA_NAMES = ("all", "small", "medium", "large")
BACKENDS = ("pycocotools", "faster_coco_eval")
# map_50/map_75 read the IoU threshold within this distance of 0.5/0.75 (np.arange(0.5, 1.0, 0.05) holds
# 0.7500000000000002); pycocotools compares exactly
THRESHOLD_TOLERANCE = 1e-9


def _check_unit_floats(name: str, values: Any, default: list[float]) -> list[float]:
    if values is None:
        return list(default)
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) == 0:
        raise ValueError(f"Expected `{name}` to be None or a non-empty list of floats, but got {values!r}.")
    if any(isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) for v in values):
        raise TypeError(f"Expected `{name}` to be None or a non-empty list of floats, but got {list(values)!r}.")
    floats = [float(v) for v in values]
    if any(not 0.0 <= v <= 1.0 for v in floats):
        raise ValueError(f"Expected `{name}` to lie in [0, 1], but got {floats}.")
    return floats


def _map_check_args(
    box_format: str,
    iou_type: Any,
    iou_thresholds: Any,
    rec_thresholds: Any,
    max_detection_thresholds: Any,
    average: str,
    backend: str = "pycocotools",
) -> tuple[list[float], list[float], list[int]]:
    """Validate MeanAveragePrecision arguments; return (iou thresholds, recall thresholds, sorted max
    dets)."""
    check_choice("box_format", box_format, BOX_FORMATS)
    for one_type in _iou_types(iou_type):
        check_choice("iou_type", one_type, ("bbox", "segm"))
    check_choice("average", average, ("macro", "micro"))
    check_choice("backend", backend, BACKENDS)
    ious = _check_unit_floats("iou_thresholds", iou_thresholds, DEFAULT_IOU_THRESHOLDS)
    recs = _check_unit_floats("rec_thresholds", rec_thresholds, DEFAULT_REC_THRESHOLDS)
    if any(b < a for a, b in itertools.pairwise(recs)):
        raise ValueError(f"Expected `rec_thresholds` to be sorted in increasing order, but got {recs}.")
    max_dets = DEFAULT_MAX_DETECTIONS if max_detection_thresholds is None else max_detection_thresholds
    if (
        not isinstance(max_dets, Sequence)
        or len(max_dets) == 0
        or any(isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1 for m in max_dets)
    ):
        raise ValueError(
            f"Expected `max_detection_thresholds` to be None or a non-empty list of ints >= 1, but got "
            f"{max_detection_thresholds!r}."
        )
    return ious, recs, sorted(int(m) for m in max_dets)


def _iou_types(iou_type: Any) -> tuple[str, ...]:
    """``iou_type`` as a tuple: "bbox", "segm" or both, as torchmetrics accepts."""
    if isinstance(iou_type, tuple | list) and 0 < len(iou_type) <= 2 and len(set(iou_type)) == len(iou_type):
        return tuple(iou_type)
    if isinstance(iou_type, str):
        return (iou_type,)
    raise ValueError(f"Expected `iou_type` to be 'bbox', 'segm' or a tuple of both, but got {iou_type!r}.")


def _warn_many_detections(batch: DetectionBatch, max_det: int, owner: Any = None) -> None:
    """torchmetrics' warning, word for word, when an image has more detections than the largest max-detections.

    Said on rank 0 only, and once per ``owner`` (the metric whose every update would repeat it).
    """
    if batch.det_image.numel() and int(torch.bincount(batch.det_image).max()) > max_det:
        warn = rank_zero_warn if owner is None else partial(warn_once, owner, "many-detections")
        warn(
            f"Encountered more than {max_det} detections in a single image. This means that certain detections with"
            " the lowest scores will be ignored, that may have an undesirable impact on performance. Please consider"
            " adjusting the `max_detection_threshold` to suit your use case. To disable this warning, set attribute"
            " class `warn_on_many_detections=False`, after initializing the metric.",
            UserWarning,
        )


def _record_sets(iou_types: Sequence[str], average: str, class_metrics: bool) -> list[tuple[str, str, bool]]:
    """(iou type, state-name prefix, pooled) of each set of records kept.

    Two IoU types get torchmetrics' key prefixes "bbox_"/"segm_"; micro averaging matches every class pooled
    into one, and per-class numbers then need the per-class matching kept beside it ("class_").
    """
    sets = []
    for iou_type in iou_types:
        prefix = "" if len(iou_types) == 1 else f"{iou_type}_"
        sets.append((iou_type, prefix, average == "micro"))
        if average == "micro" and class_metrics:
            sets.append((iou_type, prefix + "class_", False))
    return sets


def _map_update(
    batch: DetectionBatch,
    iou_types: Sequence[str],
    iou_thresholds: list[float],
    max_detection_thresholds: list[int],
    average: str,
    class_metrics: bool,
    extended_summary: bool = False,
) -> dict[str, Tensor]:
    """Match a parsed batch; return the states to keep, by name (see :func:`_record_sets` for the prefixes)."""
    device = batch.det_scores.device
    thresholds = torch.tensor(iou_thresholds, dtype=torch.float64, device=device)
    ranges = torch.tensor(AREA_RANGES, dtype=torch.float64, device=device)
    max_det = max_detection_thresholds[-1]
    states: dict[str, Tensor] = {}
    for iou_type, prefix, pooled in _record_sets(iou_types, average, class_metrics):
        typed = batch.for_iou_type(iou_type)
        one_class = (torch.zeros_like(batch.det_labels), torch.zeros_like(batch.gt_labels)) if pooled else None
        records = coco_match(typed, thresholds, ranges, max_det, iou_type, match_labels=one_class)
        states.update({prefix + name: value for name, value in records._asdict().items()})
        if extended_summary and not prefix.endswith("class_"):
            states.update({prefix + name: value for name, value in iou_blocks(typed, max_det, pooled).items()})
    return states


def _mean_defined(values: Tensor) -> Tensor:
    """Mean over the entries > -1 (pycocotools' rule); -1 when there are none."""
    defined = values[values > -1]
    return defined.mean() if defined.numel() else values.new_tensor(-1.0)


def _mean_defined_per_class(values: Tensor) -> Tensor:
    """:func:`_mean_defined` over every dimension but the last (the classes); -1 when no class was seen."""
    if values.shape[-1] == 0:
        return values.new_tensor([-1.0])
    flat = values.reshape(-1, values.shape[-1])
    defined = flat > -1
    count = defined.sum(0)
    total = torch.where(defined, flat, 0.0).sum(0)
    return torch.where(count > 0, total / count.clamp(min=1), -1.0)


def _coco_summary(
    precision_mean: Tensor, recall: Tensor, iou_thresholds: list[float], max_dets: list[int]
) -> dict[str, Tensor]:
    """The 12 COCO stats (mar_k for every max-detections k) from the mean precision over the recall steps
    (T, K, A) at the largest max-detections and recall (T, K, A, M).

    pycocotools averages precision over (T, R, K); every defined (t, k) has all R steps, so that is the mean
    over the defined (t, k) of their means over the steps.
    """
    out = {"map": _mean_defined(precision_mean[..., 0])}
    for key, iou in (("map_50", 0.5), ("map_75", 0.75)):
        rows = [i for i, t in enumerate(iou_thresholds) if abs(t - iou) <= THRESHOLD_TOLERANCE]
        out[key] = _mean_defined(precision_mean[rows][..., 0])
    for area, name in enumerate(AREA_NAMES[1:], start=1):
        out[f"map_{name}"] = _mean_defined(precision_mean[..., area])
    for m, max_det in enumerate(max_dets):
        out[f"mar_{max_det}"] = _mean_defined(recall[:, :, 0, m])
    for area, name in enumerate(AREA_NAMES[1:], start=1):
        out[f"mar_{name}"] = _mean_defined(recall[:, :, area, -1])
    return out


def _accumulate(
    records: CocoRecords, rec_thresholds: list[float], max_dets: list[int], micro: bool, extended: bool = True
) -> CocoAccumulation:
    """See :func:`coco_accumulate` (``extended``: every array of the extended summary); micro pools every class
    into one."""
    det_labels, gt_labels = records.det_labels, records.gt_labels
    if micro:
        det_labels, gt_labels = torch.zeros_like(det_labels), torch.zeros_like(gt_labels)
    recs = torch.tensor(rec_thresholds, dtype=torch.float64, device=det_labels.device)
    return coco_accumulate(
        records.det_scores,
        det_labels,
        records.det_ranks,
        records.det_matched,
        records.det_ignored,
        gt_labels,
        records.gt_counted,
        recs,
        max_dets,
        records.det_image_ids,
        every_max_det=extended,
        precision_array=extended,
    )


def _type_summary(
    main: CocoRecords,
    per_class: CocoRecords,
    iou_thresholds: list[float],
    rec_thresholds: list[float],
    max_dets: list[int],
    class_metrics: bool,
    extended_summary: bool,
    average: str,
) -> tuple[Tensor, dict[str, Any]]:
    """The classes seen and the summary of one IoU type (keys without prefix).

    Without ``extended_summary`` no precision array is built: the stats read the mean precision only.
    """
    micro = average == "micro"
    accumulated = _accumulate(main, rec_thresholds, max_dets, micro, extended_summary)
    classes, recall = accumulated.classes, accumulated.recall
    if not bool((recall > -1).any()):
        rank_zero_warn("No ground truth was counted: every mean average precision and recall is -1.", stacklevel=4)
    summary = _coco_summary(accumulated.precision_mean, recall, iou_thresholds, max_dets)
    result = {key: value.float() for key, value in summary.items()}
    per_class_key = f"mar_{max_dets[-1]}_per_class"
    result["map_per_class"] = result[per_class_key] = torch.tensor([-1.0], device=recall.device)
    if micro:
        classes = _class_indices(main.det_labels, main.gt_labels)[0]
    if class_metrics:
        by_class = _accumulate(per_class, rec_thresholds, max_dets, False, False) if micro else accumulated
        result["map_per_class"] = _mean_defined_per_class(by_class.precision_mean[..., 0]).float()
        result[per_class_key] = _mean_defined_per_class(by_class.recall[:, :, 0, -1]).float()
    if extended_summary:
        assert accumulated.precision is not None and accumulated.scores is not None
        result.update(precision=accumulated.precision, recall=recall, scores=accumulated.scores)
    return classes, result


def _map_compute(
    states: dict[str, Tensor],
    iou_types: Sequence[str],
    iou_thresholds: list[float],
    rec_thresholds: list[float],
    max_dets: list[int],
    class_metrics: bool,
    extended_summary: bool,
    average: str,
) -> dict[str, Tensor]:
    """Accumulate the states of all images and summarise them (see MeanAveragePrecision for the keys)."""
    result: dict[str, Any] = {}
    classes = torch.zeros(0, dtype=torch.long)
    for _, prefix, _ in _record_sets(iou_types, average, class_metrics):
        if prefix.endswith("class_"):
            continue
        main = CocoRecords(*(states[prefix + name] for name in CocoRecords._fields))
        per_class = main
        if average == "micro" and class_metrics:
            per_class = CocoRecords(*(states[prefix + "class_" + name] for name in CocoRecords._fields))
        classes, summary = _type_summary(
            main, per_class, iou_thresholds, rec_thresholds, max_dets, class_metrics, extended_summary, average
        )
        if extended_summary:
            ious_classes = [0] if average == "micro" and classes.numel() else classes.tolist()
            updates, blocks, values = (states[prefix + name] for name in ("iou_updates", "iou_blocks", "iou_values"))
            summary["ious"] = ious_from_blocks(updates, blocks, values, ious_classes)
        result.update({prefix + key: value for key, value in summary.items()})
    result["classes"] = classes.int()
    return _squeeze_if_scalar(result)


def mean_average_precision(
    preds: Sequence[dict],
    target: Sequence[dict],
    box_format: str = "xyxy",
    iou_type: str | tuple[str, ...] = "bbox",
    iou_thresholds: list[float] | None = None,
    rec_thresholds: list[float] | None = None,
    max_detection_thresholds: list[int] | None = None,
    class_metrics: bool = False,
    extended_summary: bool = False,
    average: str = "macro",
    backend: str = "pycocotools",
    warn_on_many_detections: bool = True,
) -> dict[str, Tensor]:
    """COCO mean average precision and recall of one set of images (pycocotools' numbers to 1e-6).

    The functional twin of :class:`lightning_evalkit.MeanAveragePrecision`; arguments, inputs, returned keys
    and shapes are the same (``warn_on_many_detections`` is the class's attribute of that name).

    Example:
        >>> import torch
        >>> preds = [dict(boxes=torch.tensor([[258.0, 41.0, 606.0, 285.0]]), scores=torch.tensor([0.536]),
        ...               labels=torch.tensor([0]))]
        >>> target = [dict(boxes=torch.tensor([[214.0, 41.0, 562.0, 285.0]]), labels=torch.tensor([0]))]
        >>> result = mean_average_precision(preds, target)
        >>> round(result["map"].item(), 4), result["map_50"].item(), result["map_small"].item()
        (0.6, 1.0, -1.0)
    """
    ious, recs, max_dets = _map_check_args(
        box_format, iou_type, iou_thresholds, rec_thresholds, max_detection_thresholds, average, backend
    )
    iou_types = _iou_types(iou_type)
    batch = parse_detection_inputs(preds, target, box_format, iou_types)
    if warn_on_many_detections:
        _warn_many_detections(batch, max_dets[-1])
    states = _map_update(batch, iou_types, ious, max_dets, average, class_metrics, extended_summary)
    return _map_compute(states, iou_types, ious, recs, max_dets, class_metrics, extended_summary, average)
