"""Detection and segmentation metrics: COCO mean average precision, box IoU and semantic-segmentation mIoU.

Each class is a thin torchmetrics.Metric shell over :mod:`lightning_evalkit.functional.detection`: ``__init__``
checks arguments and declares "cat"/"sum" tensor states, ``update`` checks the whole batch before matching
it and appending the results, ``compute`` runs the functional ``_compute`` on the (synced) states.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._cat_states import CatStateMetric
from lightning_evalkit._checks import check_choice, check_positive_int
from lightning_evalkit.functional._coco_match import CocoRecords
from lightning_evalkit.functional._detection_inputs import check_detection_inputs
from lightning_evalkit.functional.boxes import BOX_FORMATS
from lightning_evalkit.functional.detection import (
    AREA_RANGES,
    _check_unit_floats,
    _iou_compute,
    _iou_update,
    _map_check_args,
    _map_compute,
    _map_update,
    _mean_iou_check,
    _mean_iou_compute,
    _mean_iou_update,
)

__all__ = ["IntersectionOverUnion", "MeanAveragePrecision", "MeanIoU"]


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"Expected `{name}` to be a bool, but got {type(value).__name__}.")


def _record_templates(prefix: str, num_thresholds: int) -> dict[str, Tensor]:
    num_areas = len(AREA_RANGES)
    empty = CocoRecords(
        det_scores=torch.zeros(0, dtype=torch.float64),
        det_labels=torch.zeros(0, dtype=torch.long),
        det_ranks=torch.zeros(0, dtype=torch.long),
        det_matched=torch.zeros(0, num_thresholds, num_areas, dtype=torch.bool),
        det_ignored=torch.zeros(0, num_thresholds, num_areas, dtype=torch.bool),
        gt_labels=torch.zeros(0, dtype=torch.long),
        gt_counted=torch.zeros(0, num_areas, dtype=torch.bool),
        det_image_ids=torch.zeros(0, dtype=torch.long),
    )
    return {prefix + name: value for name, value in empty._asdict().items()}


class MeanAveragePrecision(CatStateMetric):
    """COCO mean average precision and recall (bbox or segm), equal to pycocotools' COCOeval within 1e-6.

    A drop-in for ``torchmetrics.detection.MeanAveragePrecision`` without torchvision or pycocotools. Each
    ``update`` matches its images at once in batched tensor operations, by pycocotools' rules (crowd, area
    ranges from the target's ``area`` when given, per-(image, class) max detections, greedy matching and tie
    rules), and keeps compact per-detection records; ``compute`` is a stable sort and cumulative sums. Every
    state is a "cat" tensor, so a DDP sync is one collective per state and a rank without images syncs fine.

    Args:
        box_format: "xyxy", "xywh" or "cxcywh" for the input boxes.
        iou_type: "bbox" (boxes) or "segm" (bool masks (N, H, W) under the key "masks").
        iou_thresholds: IoU thresholds, default 0.50:0.05:0.95.
        rec_thresholds: Increasing recall thresholds, default 0:0.01:1 (101 points).
        max_detection_thresholds: Max detections per (image, class), any number of them; default [1, 10, 100].
            ``mar_k`` is reported for each; ``map`` and the area keys use the largest.
        class_metrics: Also return ``map_per_class`` and ``mar_{max}_per_class`` (else both are
            ``tensor([-1.])``).
        extended_summary: Also return pycocotools' arrays: ``precision`` (T, R, K, A, M), ``recall``
            (T, K, A, M) and ``scores`` (T, R, K, A, M), float64, K in the order of ``classes``,
            A = all/small/medium/large, -1 where undefined. With ``average="micro"`` K is 1.
        average: "macro" (mean over classes) or "micro" (all classes pooled into one, as torchmetrics does).
        kwargs: Passed to ``torchmetrics.Metric``.

    ``compute()`` returns map, map_50, map_75, map_small, map_medium, map_large, mar_{k} for each k,
    mar_small, mar_medium, mar_large, map_per_class, mar_{max}_per_class and classes (the sorted labels seen
    in preds or target). Undefined values (no counted ground truth) are -1 and left out of means, as in
    pycocotools. Score ties between images are broken as pycocotools breaks them, by image id: give each
    target an ``image_id`` (an int or one-element tensor, as COCO-style datasets do) and the result does not
    depend on the order images arrive in, so DDP with any sampler equals one process. Without ``image_id``
    ties follow the order the images were seen (after a DDP sync: rank by rank).

    Example:
        >>> import torch
        >>> metric = MeanAveragePrecision()
        >>> preds = [dict(boxes=torch.tensor([[258.0, 41.0, 606.0, 285.0]]), scores=torch.tensor([0.536]),
        ...               labels=torch.tensor([0]))]
        >>> target = [dict(boxes=torch.tensor([[214.0, 41.0, 562.0, 285.0]]), labels=torch.tensor([0]))]
        >>> metric.update(preds, target)
        >>> result = metric.compute()
        >>> round(result["map"].item(), 4), result["map_75"].item(), result["mar_1"].item() > 0.59
        (0.6, 1.0, True)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        box_format: str = "xyxy",
        iou_type: str = "bbox",
        iou_thresholds: list[float] | None = None,
        rec_thresholds: list[float] | None = None,
        max_detection_thresholds: list[int] | None = None,
        class_metrics: bool = False,
        extended_summary: bool = False,
        average: str = "macro",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.iou_thresholds, self.rec_thresholds, self.max_detection_thresholds = _map_check_args(
            box_format, iou_type, iou_thresholds, rec_thresholds, max_detection_thresholds, average
        )
        _check_bool("class_metrics", class_metrics)
        _check_bool("extended_summary", extended_summary)
        self.box_format, self.iou_type, self.average = box_format, iou_type, average
        self.class_metrics, self.extended_summary = class_metrics, extended_summary
        # micro averaging matches across classes; per-class numbers need the per-class matching kept beside it
        self._prefixes = ("", "class_") if average == "micro" and class_metrics else ("",)
        templates: dict[str, Tensor] = {}
        for prefix in self._prefixes:
            templates.update(_record_templates(prefix, len(self.iou_thresholds)))
        self._add_cat_states(templates)

    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Match a batch of images; ``preds``/``target`` are lists of per-image dicts like torchmetrics'."""
        check_detection_inputs(preds, target, self.iou_type)
        records = _map_update(
            preds,
            target,
            self.box_format,
            self.iou_type,
            self.iou_thresholds,
            self.max_detection_thresholds,
            self.average,
            self.class_metrics,
        )
        for prefix, record in zip(self._prefixes, records, strict=True):
            for name, value in record._asdict().items():
                getattr(self, prefix + name).append(value)

    def compute(self) -> dict[str, Tensor]:
        """Accumulate every image seen (on every rank) into the COCO summary."""
        records = [
            CocoRecords(*(self._cat_state(prefix + name) for name in CocoRecords._fields)) for prefix in self._prefixes
        ]
        return _map_compute(
            records,
            self.iou_thresholds,
            self.rec_thresholds,
            self.max_detection_thresholds,
            self.class_metrics,
            self.extended_summary,
            self.average,
        )

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw PR curves (extended_summary=True) or the values, without pyplot; returns ``(figure, axes)``."""
        from lightning_evalkit._metric_plot import plot_detection_metric

        return plot_detection_metric(self, val, ax)


class IntersectionOverUnion(CatStateMetric):
    """Box IoU of each ground truth with its greedily paired prediction, averaged over ground truths.

    Pairing, per (image, class): predictions are taken by score (highest first, ties in input order); each
    takes the still unpaired ground truth of its class with the largest IoU > 0 (ties: the later ground
    truth, as in COCO). So every ground truth has at most one prediction and vice versa; predictions of
    other classes never count. ``compute()`` returns:

    - ``iou``: the mean over all ground-truth boxes seen of their paired IoU, 0 for a ground truth left
      unpaired (a missed object counts 0; false positives do not lower it).
    - ``matched_fraction``: the fraction of ground-truth boxes whose paired IoU is >= ``iou_threshold``.
    - with ``class_metrics``: ``iou_per_class`` and ``matched_fraction_per_class`` (the same means over each
      class's ground truths) and ``classes`` (the ground-truth labels seen, sorted).

    Both are -1 when no ground truth was seen. ``iscrowd`` and ``area`` keys in ``target`` are ignored.

    Args:
        box_format: "xyxy", "xywh" or "cxcywh".
        iou_threshold: IoU a pairing needs to count as matched in ``matched_fraction``.
        class_metrics: Also return per-class values.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> metric = IntersectionOverUnion()
        >>> preds = [dict(boxes=torch.tensor([[296.55, 93.96, 314.97, 152.79]]), scores=torch.tensor([0.9]),
        ...               labels=torch.tensor([0]))]
        >>> target = [dict(boxes=torch.tensor([[300.0, 100.0, 315.0, 150.0], [0.0, 0.0, 5.0, 5.0]]),
        ...                labels=torch.tensor([0, 0]))]
        >>> metric.update(preds, target)
        >>> {key: round(value.item(), 4) for key, value in metric.compute().items()}
        {'iou': 0.3449, 'matched_fraction': 0.5}
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self, box_format: str = "xyxy", iou_threshold: float = 0.5, class_metrics: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        check_choice("box_format", box_format, BOX_FORMATS)
        self.iou_threshold = _check_unit_floats("iou_threshold", [iou_threshold], [])[0]
        _check_bool("class_metrics", class_metrics)
        self.box_format, self.class_metrics = box_format, class_metrics
        self._add_cat_states(
            {"gt_labels": torch.zeros(0, dtype=torch.long), "gt_iou": torch.zeros(0, dtype=torch.float64)}
        )

    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Pair a batch of images; preds need boxes, scores, labels and target boxes, labels."""
        check_detection_inputs(preds, target, "bbox")
        gt_labels, gt_iou = _iou_update(preds, target, self.box_format)
        getattr(self, "gt_labels").append(gt_labels)  # noqa: B009 (a list state; mypy sees a Tensor)
        getattr(self, "gt_iou").append(gt_iou)  # noqa: B009

    def compute(self) -> dict[str, Tensor]:
        """Means over all ground truths seen."""
        return _iou_compute(
            self._cat_state("gt_labels"), self._cat_state("gt_iou"), self.iou_threshold, self.class_metrics
        )

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit._metric_plot import plot_value_metric

        return plot_value_metric(self, val, ax)


class MeanIoU(Metric):
    """Semantic-segmentation mean IoU from class-index maps, with per-class counts summed over all data.

    For each class c, over every pixel of every update (pixels whose target is ``ignore_index`` skipped):
    intersection_c = #(pred == c and target == c), union_c = #(pred == c or target == c), and
    IoU_c = intersection_c / union_c. ``miou`` is the mean of IoU_c over the classes with union_c > 0 (a class
    absent from both preds and target is -1 in ``iou_per_class``, left out of the mean, with a warning).
    This is the dataset-level mIoU (as in mmsegmentation), not a mean of per-image IoUs.

    Args:
        num_classes: Number of classes; values of preds and target lie in [0, num_classes).
        ignore_index: Target value marking pixels to skip (e.g. 255).
        per_class: Also return ``iou_per_class`` (num_classes,).
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> metric = MeanIoU(num_classes=2)
        >>> metric.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> round(metric.compute()["miou"].item(), 4)
        0.5833
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    intersection: Tensor
    union: Tensor

    def __init__(
        self, num_classes: int, ignore_index: int | None = None, per_class: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        check_positive_int("num_classes", num_classes)
        if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
            raise TypeError(f"Expected `ignore_index` to be None or an int, but got {type(ignore_index).__name__}.")
        _check_bool("per_class", per_class)
        self.num_classes, self.ignore_index, self.per_class = num_classes, ignore_index, per_class
        self.add_state("intersection", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("union", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add the pixel counts of integer class maps ``preds`` and ``target`` of one shape."""
        _mean_iou_check(preds, target, self.num_classes, self.ignore_index)
        intersection, union = _mean_iou_update(preds, target, self.num_classes, self.ignore_index)
        self.intersection += intersection.to(self.intersection.device)
        self.union += union.to(self.union.device)

    def compute(self) -> dict[str, Tensor]:
        """IoU per class from the summed counts and their mean."""
        return _mean_iou_compute(self.intersection, self.union, self.per_class)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit._metric_plot import plot_value_metric

        return plot_value_metric(self, val, ax)
