"""DetectionConfusionMatrix: which class matched each ground truth, what was missed, what was background; equal
to faster-coco-eval's ``compute_confusion_matrix``, exact under DDP (one "sum" state of constant size)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit import plotting
from lightning_evalkit._core.cat_states import state_name
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.detection_confusion import _check_labels, _confusion_check_args, _confusion_update
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs

__all__ = ["DetectionConfusionMatrix"]


class DetectionConfusionMatrix(Metric):
    """Detection confusion matrix at one IoU and score threshold, equal to faster-coco-eval 1.8.0's
    ``PreviewResults(gt, dt, iou_tresh=iou_threshold, min_score=score_threshold).compute_confusion_matrix()``.

    Per image, the detections scoring at least ``score_threshold`` (all of them when it is 0) are matched greedily,
    in score order, to the ground truths with IoU >= ``iou_threshold``, COCO's way (crowd ground truth can absorb
    several detections; area range [0, 1e10]; no cut to a number of detections). By default matching is
    class-agnostic, as in faster-coco-eval (``useCats=False``), so a detection of the wrong class can match and the
    matrix shows the confusion; ``class_agnostic=False`` matches within each class (the matrix is then diagonal
    plus the misses and background).

    Args:
        num_classes: the labels lie in [0, num_classes).
        iou_threshold: the IoU a match needs (faster-coco-eval's ``iou_tresh``), in [0, 1].
        score_threshold: detections scoring below it are dropped (faster-coco-eval's ``min_score``), in [0, 1].
        box_format: "xyxy", "xywh" or "cxcywh".
        iou_type: "bbox" (boxes) or "segm" (masks under the key "masks").
        class_agnostic: match detections of any class to ground truth of any class (faster-coco-eval's default).
        kwargs: Passed to ``torchmetrics.Metric``.

    Inputs are torchmetrics' per-image dicts (preds ``boxes``, ``scores``, ``labels``; targets ``boxes``,
    ``labels``, optionally ``iscrowd`` and ``area``). ``compute()`` returns a (num_classes + 1, num_classes + 1)
    int64 tensor: ``[true class, predicted class]`` counts of matched ground truths; the last column the missed
    ground truths (false negatives) of each class, the last row the unmatched ("background", false positive)
    detections of each class. A crowd ground truth counts once, with the class of its highest-scoring matched
    detection (faster-coco-eval takes whichever its hash map lists last); an unmatched crowd is missed.

    Example:
        >>> import torch
        >>> metric = DetectionConfusionMatrix(num_classes=2, iou_threshold=0.5)
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), scores=torch.tensor([0.9, 0.8]),
        ...               labels=torch.tensor([1, 0]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60]]), labels=torch.tensor([0, 1]))]
        >>> metric.update(preds, target)
        >>> metric.compute().tolist()
        [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    _apply = keep_dtypes_apply

    def __init__(
        self,
        num_classes: int,
        iou_threshold: float = 0.5,
        score_threshold: float = 0.0,
        box_format: str = "xyxy",
        iou_type: str = "bbox",
        class_agnostic: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _confusion_check_args(num_classes, iou_threshold, score_threshold, box_format, iou_type)
        self.num_classes, self.box_format, self.iou_type = num_classes, box_format, iou_type
        self.iou_threshold, self.score_threshold = float(iou_threshold), float(score_threshold)
        self.class_agnostic = bool(class_agnostic)
        meaning = (num_classes, self.iou_threshold, self.score_threshold, iou_type, self.class_agnostic)
        self._counts_name = state_name("detection_confmat", *meaning)
        shape = (num_classes + 1, num_classes + 1)
        self.add_state(self._counts_name, default=torch.zeros(shape, dtype=torch.long), dist_reduce_fx="sum")

    @property
    def confmat(self) -> Tensor:
        """The accumulated counts (the state, under its argument-specific name)."""
        return getattr(self, self._counts_name)

    @single_threaded
    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Match a batch of images and add its counts (nothing changes if the batch is refused)."""
        batch = parse_detection_inputs(preds, target, self.box_format, (self.iou_type,), device=self.device)
        _check_labels(batch, self.num_classes)
        counts = _confusion_update(
            batch, self.num_classes, self.iou_threshold, self.score_threshold, self.class_agnostic
        )
        setattr(self, self._counts_name, self.confmat + counts)

    def compute(self) -> Tensor:
        """The (num_classes + 1, num_classes + 1) counts over every image seen (on every rank)."""
        return self.confmat.clone()

    def plot(self, val: Any = None, ax: Any = None, class_names: Any = None) -> tuple[Any, Any]:
        """The figure EvalCallback draws (``detection_confusion_matrix``) of ``val`` (default: ``compute()``)."""
        if ax is not None:
            raise ValueError("Expected `ax=None` (the figure sizes itself to the classes), but got axes.")
        counts = self.compute() if val is None else val
        figure = _draw(counts.detach().cpu().numpy(), self.iou_threshold, self.score_threshold, class_names)
        return figure, figure.axes[0]

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or leave out."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """A matrix is drawn, not logged."""
        return []

    def plot_kinds(self) -> dict[str, int]:
        """The detection confusion matrix."""
        return {"detection_confusion_matrix": 0}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The computed (synced) counts and the thresholds the title names."""
        if "detection_confusion_matrix" not in plots:
            return []
        draw = partial(_draw, value.detach().cpu().numpy(), self.iou_threshold, self.score_threshold)
        return [PlotSource("detection_confusion_matrix", "detection_confusion_matrix", draw)]


def _draw(counts: Any, iou_threshold: float, score_threshold: float, class_names: Any) -> Any:
    return plotting.plot_detection_confusion_matrix(counts, class_names, iou_threshold, score_threshold)
