"""MeanAveragePrecision: COCO mean average precision and recall, pycocotools' numbers, exact under DDP.

Each class is a thin torchmetrics.Metric shell over :mod:`lightning_evalkit.detection.mean_ap`: ``__init__``
checks arguments and declares "cat"/"sum" tensor states, ``update`` checks the whole batch before matching
it and appending the results, ``compute`` runs the functional ``_compute`` on the (synced) states.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._core.cat_states import OrderedCatStateMetric
from lightning_evalkit._core.heap import release_free_memory
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, result_entries
from lightning_evalkit._core.state_dtypes import check_bool, keep_dtypes_apply
from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.coco.json_io import coco_to_tm, tm_to_coco
from lightning_evalkit.detection.inputs.batch import DetectionBatch, concat_box_batches
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import (
    _iou_types,
    _map_check_args,
    _map_compute,
    _map_update,
    _warn_many_detections,
)
from lightning_evalkit.detection.plot_sources import (
    DETECTION_PLOTS,
    detection_plot_sources,
    no_extended_summary_message,
)

__all__ = ["MeanAveragePrecision"]

# matching a few hundred images at once costs about what one batch of 32 does (fixed cost per call)
_PENDING_IMAGES = 512
_PENDING_DETS = 65536


class MeanAveragePrecision(OrderedCatStateMetric):
    """COCO mean average precision and recall (bbox or segm), equal to pycocotools' COCOeval within 1e-6.

    A drop-in for ``torchmetrics.detection.MeanAveragePrecision`` without torchvision or pycocotools. Each
    ``update`` checks its images and matches them in batched tensor operations, by pycocotools' rules (crowd,
    area ranges from the target's ``area`` when given, per-(image, class) max detections, greedy matching and
    tie rules), and keeps compact per-detection records; ``compute`` is a stable sort and cumulative sums.
    bbox batches are matched a few hundred images at a time (and whenever the states are read: compute, sync,
    forward, state_dict, copies, ``.to``), which gives exactly the records of matching each update. Every
    state is a "cat" tensor, so a DDP sync is one collective per state and a rank without images syncs fine.

    Args:
        box_format: "xyxy", "xywh" or "cxcywh" for the input boxes.
        iou_type: "bbox" (boxes), "segm" (masks (N, H, W) under the key "masks": bool, or integer/float 0/1
            such as pycocotools' ``annToMask`` returns) or ``("bbox", "segm")``: both in one metric, every key
            then prefixed ``bbox_``/``segm_`` as torchmetrics does (``classes`` is shared).
        iou_thresholds: IoU thresholds, default 0.50:0.05:0.95. ``map_50``/``map_75`` read the threshold
            within 1e-9 of 0.5/0.75 (so ``np.arange(0.5, 1.0, 0.05).tolist()`` works); -1 when there is none.
        rec_thresholds: Increasing recall thresholds, default 0:0.01:1 (101 points).
        max_detection_thresholds: Max detections per (image, class), any number of them; default [1, 10, 100].
            ``mar_k`` is reported for each; ``map`` and the area keys use the largest.
        class_metrics: Also return ``map_per_class`` and ``mar_{max}_per_class`` (else both are -1).
        extended_summary: Also return pycocotools' arrays: ``precision`` (T, R, K, A, M), ``recall``
            (T, K, A, M) and ``scores`` (T, R, K, A, M), float64, K in the order of ``classes``,
            A = all/small/medium/large, -1 where undefined (with ``average="micro"`` K is 1), and
            torchmetrics' ``ious``: {(image index, class): float32 IoU matrix (detections by score, cut to the
            largest max-detections; ground truths in input order)} for every image and class seen (class 0
            only with micro). Image indices count images in the order they were updated; after a DDP sync,
            rank by rank (torchmetrics interleaves ranks); after ``merge_state``, this metric's images and then
            the incoming ones. Where an image has no detection or no ground truth of a class the matrix is
            empty (torchmetrics gives ``[]``).
        average: "macro" (mean over classes) or "micro" (all classes pooled into one, as torchmetrics does).
        backend: "pycocotools" or "faster_coco_eval", accepted for torchmetrics compatibility; it changes
            nothing (the evaluation here equals both).
        kwargs: Passed to ``torchmetrics.Metric``.

    ``compute()`` returns map, map_50, map_75, map_small, map_medium, map_large, mar_{k} for each k,
    mar_small, mar_medium, mar_large, map_per_class, mar_{max}_per_class and classes (the sorted labels seen
    in preds or target, int32). Undefined values (no counted ground truth) are -1 and left out of means, as in
    pycocotools; with nothing seen at all (no update, images without boxes, every rank empty) every value is
    -1 and ``classes`` is empty. Shapes are torchmetrics': a one-element result is 0-d (one class gives
    ``map_per_class`` and ``classes`` of shape ()), K classes give (K,); the functional twin returns the same.
    Like torchmetrics, ``update`` warns when an image has more detections than the largest max-detections;
    set the attribute ``warn_on_many_detections = False`` to silence it. Score ties between images are
    broken as pycocotools breaks them, by image id: give each target an ``image_id`` (an int or one-element
    tensor, as COCO-style datasets do) and the result does not depend on the order images arrive in, so DDP
    with any sampler equals one process. Without ``image_id`` ties follow the order the images were seen
    (after a DDP sync: rank by rank). Casting the metric (``set_dtype``, ``.half()``, Lightning's
    "16-true") moves its states but keeps their dtypes; half-precision inputs give the float32 answer.

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
    warn_on_many_detections: bool = True
    coco_to_tm = staticmethod(coco_to_tm)  # COCO JSON files -> preds, target (lightning_evalkit.coco)

    def tm_to_coco(self, preds: Sequence[dict], target: Sequence[dict], name: str = "tm_map_input") -> None:
        """Write ``preds``/``target`` as COCO JSON (this metric's box format and iou_type); see coco.tm_to_coco."""
        tm_to_coco(preds, target, name, self.iou_type, self.box_format)

    def __init__(
        self,
        box_format: str = "xyxy",
        iou_type: str | tuple[str, ...] = "bbox",
        iou_thresholds: list[float] | None = None,
        rec_thresholds: list[float] | None = None,
        max_detection_thresholds: list[int] | None = None,
        class_metrics: bool = False,
        extended_summary: bool = False,
        average: str = "macro",
        backend: str = "pycocotools",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.iou_thresholds, self.rec_thresholds, self.max_detection_thresholds = _map_check_args(
            box_format, iou_type, iou_thresholds, rec_thresholds, max_detection_thresholds, average, backend
        )
        check_bool("class_metrics", class_metrics)
        check_bool("extended_summary", extended_summary)
        self.box_format, self.iou_type, self.average, self.backend = box_format, iou_type, average, backend
        self._iou_type_tuple = _iou_types(iou_type)
        self.class_metrics, self.extended_summary = class_metrics, extended_summary
        # the states' names, dtypes and trailing shapes: what matching an empty batch returns
        empty = parse_detection_inputs([], [], box_format, self._iou_type_tuple)
        self._add_cat_states(self._update_states(empty))
        # checked bbox batches wait here and are matched together (see _match_pending); masks and the
        # extended summary (which counts images per update) are matched at once
        self._pending: list[DetectionBatch] = []
        self._pending_limit = _PENDING_IMAGES if self._iou_type_tuple == ("bbox",) and not extended_summary else 0

    def __getattribute__(self, name: str) -> Any:
        # every read of a state (compute, sync, forward, state_dict, merge_state, .to(), copies) matches the
        # pending batches first, so a state is never seen without them
        fields = object.__getattribute__(self, "__dict__")
        if fields.get("_pending") and name in fields["_templates"]:
            object.__getattribute__(self, "_match_pending")()
        return object.__getattribute__(self, name)

    @single_threaded  # also when a DDP sync reads the states before compute() starts
    def _match_pending(self) -> None:
        """Match the waiting batches as one (matching is per image, so this equals matching each in turn)."""
        batches = self.__dict__["_pending"]
        self.__dict__["_pending"] = []
        if batches:
            for name, value in self._update_states(concat_box_batches(batches)).items():
                getattr(self, name).append(value)

    def _update_states(self, batch: DetectionBatch) -> dict[str, Tensor]:
        return _map_update(
            batch,
            self._iou_type_tuple,
            self.iou_thresholds,
            self.max_detection_thresholds,
            self.average,
            self.class_metrics,
            self.extended_summary,
        )

    @single_threaded
    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Match a batch of images; ``preds``/``target`` are lists of per-image dicts like torchmetrics'."""
        batch = parse_detection_inputs(preds, target, self.box_format, self._iou_type_tuple, device=self.device)
        if self.warn_on_many_detections:
            _warn_many_detections(batch, self.max_detection_thresholds[-1], owner=self)
        self._pending.append(batch)
        pending_images = sum(b.num_images for b in self._pending)
        if pending_images >= self._pending_limit or sum(b.det_labels.numel() for b in self._pending) >= _PENDING_DETS:
            self._match_pending()

    def reset(self) -> None:
        """Forget every image seen, including batches not yet matched."""
        self.__dict__["_pending"] = []
        super().reset()

    def merge_state(self, incoming_state: dict[str, Any] | Metric) -> None:
        """Add another metric's images (or its ``metric_state``) after this metric's own.

        The result equals one metric updated with this metric's batches and then the other's: the incoming
        images' ``ious`` indices continue after this metric's, and score ties without ``image_id`` keep that
        order. (torchmetrics would put the incoming records first.) States may be lists or synced tensors.
        """
        super().merge_state(incoming_state)  # in order: OrderedCatStateMetric

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        self._match_pending()  # loaded persistent states replace everything seen so far, pending batches too
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @single_threaded
    def compute(self) -> dict[str, Tensor]:
        """Accumulate every image seen (on every rank) into the COCO summary."""
        states = {name: self._joined_state(name) for name in self._templates}
        release_free_memory(sum(state.nbytes for state in states.values()))  # the pieces' pages (_core/heap.py)
        return self._summary(states)

    def _summary(self, states: dict[str, Tensor]) -> dict[str, Tensor]:
        """The result of records ``states`` (this metric's or a resample's: ImageBootstrapInterval)."""
        return _map_compute(
            states,
            self._iou_type_tuple,
            self.iou_thresholds,
            self.rec_thresholds,
            self.max_detection_thresholds,
            self.class_metrics,
            self.extended_summary,
            self.average,
        )

    _apply = keep_dtypes_apply

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Say that the PR and per-class AP plots need ``extended_summary=True`` when they are wanted without."""
        if set(DETECTION_PLOTS) & set(options.plots) and not self.extended_summary:
            return [no_extended_summary_message(name)]
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Every scalar key of the result (-1, pycocotools' "undefined", is not logged), per class by label."""
        return result_entries(name, value)

    def plot_kinds(self) -> dict[str, int]:
        """The detection PR curves and per-class AP, which read the extended summary's precision."""
        return dict.fromkeys(DETECTION_PLOTS, 0) if self.extended_summary else {}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The precision of each IoU type of the computed ``value``."""
        return detection_plot_sources(self, value, plots)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw PR curves (extended_summary=True) or the values, without pyplot; returns ``(figure, axes)``."""
        from lightning_evalkit.detection.plots import plot_detection_metric

        return plot_detection_metric(self, val, ax)
