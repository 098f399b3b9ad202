"""The box IoU family as metrics: torchmetrics' IntersectionOverUnion, GeneralizedIntersectionOverUnion,
DistanceIntersectionOverUnion and CompleteIntersectionOverUnion (same definitions, same numbers, no torchvision),
and MatchedIntersectionOverUnion, our one-to-one matched IoU with its ``matched_fraction``.

Each is a thin shell over :mod:`lightning_evalkit.detection.intersection` (or the matched pairing in
:mod:`lightning_evalkit.detection.mean_ap`) with "cat" tensor states, so DDP syncs them exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.cat_states import CatStateMetric
from lightning_evalkit._core.checks import check_choice
from lightning_evalkit._core.state_dtypes import check_bool, keep_dtypes_apply
from lightning_evalkit.detection.boxes import BOX_FORMATS
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.intersection import _family_compute, _family_update, _iou_compute, _iou_update
from lightning_evalkit.detection.mean_ap import _check_unit_floats

__all__ = [
    "CompleteIntersectionOverUnion",
    "DistanceIntersectionOverUnion",
    "GeneralizedIntersectionOverUnion",
    "IntersectionOverUnion",
    "MatchedIntersectionOverUnion",
]


class IntersectionOverUnion(CatStateMetric):
    """torchmetrics' ``IntersectionOverUnion``: the mean box IoU over every prediction/ground-truth pair.

    Per image, every pair of a prediction and a ground truth with the same label (any pair with
    ``respect_labels=False``) gives one value; with ``iou_threshold``, pairs below it are left out. An image
    where one side has no box gives torchmetrics' zeros: one per box of the other side (a square of them
    without ``respect_labels``). ``compute()`` returns ``iou``, the mean of all values kept (0 when none), and
    with ``class_metrics`` ``iou/cl_{k}`` for every label k seen in preds or target: the mean over the values
    of ground truths of class k (of predictions of class k in images without ground truth, where torchmetrics
    fails), 0 when none. ``scores`` are not needed. For a one-to-one matched IoU see
    :class:`MatchedIntersectionOverUnion`.

    Args:
        box_format: "xyxy", "xywh" or "cxcywh".
        iou_threshold: Leave out pairs whose value is below it (None: keep every pair).
        class_metrics: Also return ``{name}/cl_{k}`` per class.
        respect_labels: Pair only predictions and ground truths of the same label.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> metric = IntersectionOverUnion()
        >>> preds = [dict(boxes=torch.tensor([[296.55, 93.96, 314.97, 152.79]]), labels=torch.tensor([0]))]
        >>> target = [dict(boxes=torch.tensor([[300.0, 100.0, 315.0, 150.0], [0.0, 0.0, 5.0, 5.0]]),
        ...                labels=torch.tensor([0, 0]))]
        >>> metric.update(preds, target)
        >>> metric.compute()
        {'iou': tensor(0.3449)}
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    _kind = "iou"

    def __init__(
        self,
        box_format: str = "xyxy",
        iou_threshold: float | None = None,
        class_metrics: bool = False,
        respect_labels: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_choice("box_format", box_format, BOX_FORMATS)
        if iou_threshold is not None:
            if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, int | float):
                raise TypeError(
                    f"Expected `iou_threshold` to be None or a float, but got {type(iou_threshold).__name__}."
                )
            iou_threshold = float(iou_threshold)
        check_bool("class_metrics", class_metrics)
        check_bool("respect_labels", respect_labels)
        self.box_format, self.iou_threshold = box_format, iou_threshold
        self.class_metrics, self.respect_labels = class_metrics, respect_labels
        self._add_cat_states(
            {
                "values": torch.zeros(0, dtype=torch.float64),
                "value_classes": torch.zeros(0, dtype=torch.long),
                "labels_seen": torch.zeros(0, dtype=torch.long),
            }
        )

    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Add a batch of images; preds need boxes and labels (scores are ignored), target boxes and labels."""
        batch = parse_detection_inputs(preds, target, self.box_format, require_scores=False, device=self.device)
        states = _family_update(batch, self._kind, self.iou_threshold, self.respect_labels)
        for name, value in zip(("values", "value_classes", "labels_seen"), states, strict=True):
            getattr(self, name).append(value)

    def compute(self) -> dict[str, Tensor]:
        """The mean over every value kept, on every rank."""
        values, classes, seen = (self._cat_state(name) for name in ("values", "value_classes", "labels_seen"))
        return _family_compute(self._kind, values, classes, seen, self.class_metrics)

    _apply = keep_dtypes_apply

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit.plotting.values import plot_value_metric

        return plot_value_metric(self, val, ax)


class GeneralizedIntersectionOverUnion(IntersectionOverUnion):
    """torchmetrics' ``GeneralizedIntersectionOverUnion``: :class:`IntersectionOverUnion` with the generalized
    IoU, IoU - (C - union) / C (C: the smallest enclosing box), in [-1, 1]; keys ``giou`` and ``giou/cl_{k}``.

    Example:
        >>> import torch
        >>> metric = GeneralizedIntersectionOverUnion()
        >>> metric.update([dict(boxes=torch.tensor([[0.0, 0.0, 1.0, 1.0]]), labels=torch.tensor([0]))],
        ...               [dict(boxes=torch.tensor([[2.0, 0.0, 3.0, 1.0]]), labels=torch.tensor([0]))])
        >>> metric.compute()
        {'giou': tensor(-0.3333)}
    """

    higher_is_better = True
    _kind = "giou"


class DistanceIntersectionOverUnion(IntersectionOverUnion):
    """torchmetrics' ``DistanceIntersectionOverUnion``: the distance IoU, IoU - d^2 / (c^2 + 1e-7) (d: the
    centres' distance, c: the enclosing box's diagonal); keys ``diou`` and ``diou/cl_{k}``.

    Example:
        >>> import torch
        >>> metric = DistanceIntersectionOverUnion()
        >>> metric.update([dict(boxes=torch.tensor([[0.0, 0.0, 2.0, 2.0]]), labels=torch.tensor([0]))],
        ...               [dict(boxes=torch.tensor([[1.0, 0.0, 3.0, 2.0]]), labels=torch.tensor([0]))])
        >>> metric.compute()
        {'diou': tensor(0.2564)}
    """

    _kind = "diou"


class CompleteIntersectionOverUnion(IntersectionOverUnion):
    """torchmetrics' ``CompleteIntersectionOverUnion``: the complete IoU, DIoU - alpha v with the aspect-ratio
    term v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2, alpha = v / (1 - IoU + v + 1e-7); keys ``ciou`` and
    ``ciou/cl_{k}``.

    Example:
        >>> import torch
        >>> metric = CompleteIntersectionOverUnion()
        >>> metric.update([dict(boxes=torch.tensor([[0.0, 0.0, 2.0, 2.0]]), labels=torch.tensor([0]))],
        ...               [dict(boxes=torch.tensor([[1.0, 0.0, 3.0, 3.0]]), labels=torch.tensor([0]))])
        >>> metric.compute()
        {'ciou': tensor(0.1802)}
    """

    _kind = "ciou"


class MatchedIntersectionOverUnion(CatStateMetric):
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

    Both are -1 when no ground truth was seen. ``iscrowd`` and ``area`` keys in ``target`` are
    ignored. This is not torchmetrics' IoU (see :class:`IntersectionOverUnion`): a prediction counts once, for
    the ground truth it is paired with.

    Args:
        box_format: "xyxy", "xywh" or "cxcywh".
        iou_threshold: IoU a pairing needs to count as matched in ``matched_fraction``.
        class_metrics: Also return per-class values.
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> metric = MatchedIntersectionOverUnion()
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
        check_bool("class_metrics", class_metrics)
        self.box_format, self.class_metrics = box_format, class_metrics
        self._add_cat_states(
            {"gt_labels": torch.zeros(0, dtype=torch.long), "gt_iou": torch.zeros(0, dtype=torch.float64)}
        )

    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Pair a batch of images; preds need boxes, scores, labels and target boxes, labels."""
        gt_labels, gt_iou = _iou_update(parse_detection_inputs(preds, target, self.box_format, device=self.device))
        getattr(self, "gt_labels").append(gt_labels)  # noqa: B009 (a list state; mypy sees a Tensor)
        getattr(self, "gt_iou").append(gt_iou)  # noqa: B009

    def compute(self) -> dict[str, Tensor]:
        """Means over all ground truths seen."""
        return _iou_compute(
            self._cat_state("gt_labels"), self._cat_state("gt_iou"), self.iou_threshold, self.class_metrics
        )

    _apply = keep_dtypes_apply

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit.plotting.values import plot_value_metric

        return plot_value_metric(self, val, ax)
