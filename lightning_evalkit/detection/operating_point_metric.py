"""DetectionOperatingPoint: precision, recall and F1 against the score threshold and the best-F1 threshold,
faster-coco-eval's ``extended_metrics``, exact under DDP ("cat" states of one record per detection)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit import plotting
from lightning_evalkit._core.cat_states import CatStateMetric
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, value_entries
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.detection_confusion import _check_labels
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.operating_point import (
    STATE_DTYPES,
    _class_curves,
    _operating_check_args,
    _operating_compute,
    _operating_update,
)

__all__ = ["DetectionOperatingPoint"]

SCALAR_KEYS = ("precision", "recall", "f1", "threshold")
PER_CLASS_KEYS = ("precision_per_class", "recall_per_class", "f1_per_class")


class DetectionOperatingPoint(CatStateMetric):
    """Precision, recall and F1 per class and overall at every score threshold, and the best-F1 threshold, equal
    to faster-coco-eval 1.8.0's ``COCOeval_faster.extended_metrics`` (its ``precision`` and ``recall``, overall
    and per class).

    A detection is a true positive when COCO's default matching (IoU 0.50:0.05:0.95, every area range, 100
    detections per image and class) matches it at any threshold; precision and recall are counted, not
    interpolated, per class at each threshold, and averaged over the classes with non-crowd ground truth; the
    best threshold is the lowest with the largest macro F1 (see :mod:`lightning_evalkit.detection.operating_point`
    for every rule, and where they follow faster-coco-eval rather than intuition: crowd matches are true
    positives, so recall can pass 1).

    Args:
        box_format: "xyxy", "xywh" or "cxcywh".
        iou_type: "bbox" (boxes) or "segm" (masks under the key "masks").
        num_classes: the length of the per-class results (at least this; larger when a label is larger).
        kwargs: Passed to ``torchmetrics.Metric``.

    ``compute()`` returns float64 tensors: ``precision``, ``recall``, ``f1`` (macro, at the best threshold; 0
    when no threshold has a class with ground truth, as in faster-coco-eval), ``threshold`` (the best, NaN then),
    ``precision_per_class``, ``recall_per_class``, ``f1_per_class`` (at the best threshold, NaN for a class
    without ground truth), ``thresholds`` (every distinct score, ascending), ``precision_curve``,
    ``recall_curve``, ``f1_curve`` (macro, at each of them) and ``classes``.

    Example:
        >>> import torch
        >>> metric = DetectionOperatingPoint()
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), scores=torch.tensor([0.75, 0.5]),
        ...               labels=torch.tensor([0, 0]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 10, 10]]), labels=torch.tensor([0]))]
        >>> metric.update(preds, target)
        >>> result = metric.compute()
        >>> result["threshold"].item(), result["f1"].item(), result["f1_curve"].tolist()
        (0.75, 1.0, [0.6666666666666666, 1.0])
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    _apply = keep_dtypes_apply

    def __init__(
        self, box_format: str = "xyxy", iou_type: str = "bbox", num_classes: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        _operating_check_args(box_format, iou_type)
        self.box_format, self.iou_type, self.num_classes = box_format, iou_type, num_classes
        self._add_cat_states({name: torch.zeros(0, dtype=dtype) for name, dtype in STATE_DTYPES.items()})

    @single_threaded
    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Match a batch of images and keep one record per detection (nothing changes if the batch is refused)."""
        batch = parse_detection_inputs(preds, target, self.box_format, (self.iou_type,), device=self.device)
        _check_labels(batch, None)  # labels index the per-class results
        for name, value in _operating_update(batch).items():
            getattr(self, name).append(value)

    def compute(self) -> dict[str, Tensor]:
        """The curves and the best-F1 operating point over every image seen (on every rank)."""
        return _operating_compute({name: self._cat_state(name) for name in STATE_DTYPES}, self.num_classes)

    def per_class_curves(self) -> dict[int, dict[str, Tensor]]:
        """Each class's own curve: {label: {"thresholds", "precision", "recall", "f1"}} at every distinct score of
        that class, ascending (a class's values change only there; above its highest score they are 0), for the
        classes with non-crowd ground truth. Over every process (a collective under DDP: call it on every rank).
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=not self._is_synced):
            return _class_curves({name: self._cat_state(name) for name in STATE_DTYPES})

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """The figure EvalCallback draws (``f1_confidence``) of ``val`` (default: ``compute()``)."""
        if ax is not None:
            raise ValueError("Expected `ax=None` (the figure lays itself out), but got axes.")
        value = self.compute() if val is None else val
        curves = {
            key: value[key].cpu().numpy() for key in ("thresholds", "f1_curve", "precision_curve", "recall_curve")
        }
        figure = _draw(curves, float(value["threshold"]), None)
        return figure, figure.axes[0]

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """The best-F1 point (``<name>_precision`` ...; ``<name>_threshold`` NaN, so not logged, when undefined)
        and its per-class values; the curves are drawn, not logged."""
        entries = [e for key in SCALAR_KEYS for e in value_entries(f"{name}_{key}", value[key])]
        labels = value["classes"]
        for key in PER_CLASS_KEYS:
            entries += value_entries(f"{name}_{key}", value[key], labels=labels)
        return entries

    def plot_kinds(self) -> dict[str, int]:
        """F1, precision and recall against confidence."""
        return {"f1_confidence": 0}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The computed (synced) macro curves and the best threshold."""
        if "f1_confidence" not in plots:
            return []
        curves = {
            key: value[key].cpu().numpy() for key in ("thresholds", "f1_curve", "precision_curve", "recall_curve")
        }
        draw = partial(_draw, curves, float(value["threshold"]))
        return [PlotSource("f1_confidence", "f1_confidence", draw)]


def _draw(curves: dict, threshold: float, class_names: Any) -> Any:
    return plotting.plot_f1_confidence(
        curves["thresholds"], curves["f1_curve"], curves["precision_curve"], curves["recall_curve"], threshold
    )
