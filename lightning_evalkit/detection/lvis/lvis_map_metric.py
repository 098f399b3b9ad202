"""LVISMeanAveragePrecision: LVIS federated mean average precision and recall, lvis-api's numbers, exact under DDP.

A thin shell over :mod:`lightning_evalkit.detection.lvis.lvis_map`: ``update`` checks the whole batch, applies the
federated rules and matches it (per image, independent of every other image), and appends the compact records to
"cat" states; ``compute`` runs the functional ``_compute`` on the (synced) states.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit._core.cat_states import OrderedCatStateMetric
from lightning_evalkit._core.heap import release_free_memory
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, result_entries
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.lvis.federated import FederatedLabels
from lightning_evalkit.detection.lvis.lvis_map import (
    LVIS_MAX_DETECTIONS,
    _categories,
    _lvis_check_args,
    _lvis_compute,
    _lvis_parse,
    _lvis_update,
)

__all__ = ["LVISMeanAveragePrecision"]


class LVISMeanAveragePrecision(OrderedCatStateMetric):
    """LVIS federated mean average precision and recall (bbox or segm), equal to lvis-api 0.5.3 within 1e-6.

    The rules are lvis-api's ``LVISEval`` with its default parameters: per image only the ``max_detections``
    highest-scoring detections (over all categories) are kept; a detection is evaluated only where its category
    is a positive category of the image (one of its ground truths has it) or one of its ``neg_category_ids``;
    an unmatched detection of one of its ``not_exhaustive_category_ids`` is ignored, not a false positive;
    annotations and detections of area 0 are not evaluated; there is no crowd and no cut per (image, category).
    Matching is COCO's (10 IoU thresholds 0.50:0.05:0.95, 101 recall points, area ranges all / small / medium /
    large), run in batched tensor operations at update time. Every state is a "cat" tensor, so a DDP sync is one
    collective per state and N processes give the 1-process numbers.

    Args:
        box_format: "xyxy", "xywh" or "cxcywh" for the input boxes.
        iou_type: "bbox" (boxes) or "segm" (masks (N, H, W) under the key "masks", or lists of COCO RLE dicts).
        category_frequencies: {category id: "r" | "c" | "f"} (an LVIS file's ``categories``' ``frequency``): the
            declared categories, and the groups of ``map_rare`` / ``map_common`` / ``map_frequent``. Detections of
            other categories are not evaluated (as in lvis-api); ground truth of another category is refused. With
            None every label is a category and the three frequency keys are -1.
        max_detections: Detections kept per image, over all its categories (lvis-api's 300).
        kwargs: Passed to ``torchmetrics.Metric``.

    Inputs are torchmetrics' per-image dicts: preds ``boxes`` or ``masks``, ``scores``, ``labels``; targets
    ``boxes`` or ``masks``, ``labels``, and LVIS's ``neg_category_ids`` and ``not_exhaustive_category_ids`` (1-D
    integer tensors, ``torch.tensor([])`` when empty), optionally ``area`` (decides the area range and "area > 0";
    default the box or mask area) and ``image_id`` (breaks score ties across images as lvis-api does, by image
    id, so the result does not depend on the order images arrive in; without it, ties follow that order).
    ``iscrowd`` is not read: LVIS has no crowd.

    ``compute()`` returns map, map_50, map_75, map_small, map_medium, map_large, map_rare, map_common,
    map_frequent, mar_{max_detections} (mar_300), mar_small, mar_medium and mar_large: lvis-api's AP, AP50, AP75,
    APs, APm, APl, APr, APc, APf, AR@300, ARs@300, ARm@300, ARl@300, float32. Undefined values (no ground truth
    counted) are -1 and left out of means, as in lvis-api.

    Example:
        >>> import torch
        >>> metric = LVISMeanAveragePrecision(category_frequencies={1: "r", 2: "c", 3: "f"})
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 40, 40], [0, 50, 40, 90]]), scores=torch.tensor([0.9, 0.8]),
        ...               labels=torch.tensor([1, 3]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 40, 40]]), labels=torch.tensor([1]),
        ...                neg_category_ids=torch.tensor([3]), not_exhaustive_category_ids=torch.tensor([]))]
        >>> metric.update(preds, target)
        >>> result = metric.compute()
        >>> result["map_rare"].item(), result["map_frequent"].item(), result["mar_300"].item()
        (1.0, -1.0, 1.0)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        box_format: str = "xyxy",
        iou_type: str = "bbox",
        category_frequencies: Mapping[int, str] | None = None,
        max_detections: int = LVIS_MAX_DETECTIONS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.frequencies = _lvis_check_args(box_format, iou_type, category_frequencies, max_detections)
        self.box_format, self.iou_type, self.max_detections = box_format, iou_type, max_detections
        self._categories = _categories(self.frequencies, torch.device("cpu"))
        # the states' names, dtypes and trailing shapes: what an empty batch gives
        empty = _parse_empty(box_format, iou_type)
        self._add_cat_states(_lvis_update(*empty, self._categories, max_detections))

    @single_threaded
    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Select and match a batch of images; ``preds``/``target`` are lists of per-image dicts (see above)."""
        categories = None if self._categories is None else self._categories.to(self.device)
        batch, federated = _lvis_parse(preds, target, self.box_format, self.iou_type, categories, self.device)
        for name, value in _lvis_update(batch, federated, categories, self.max_detections).items():
            getattr(self, name).append(value)

    @single_threaded
    def compute(self) -> dict[str, Tensor]:
        """Accumulate every image seen (on every rank) into lvis-api's summary."""
        states = {name: self._joined_state(name) for name in self._templates}
        release_free_memory(sum(state.nbytes for state in states.values()))  # the pieces' pages (_core/heap.py)
        return _lvis_compute(states, self.frequencies, self.max_detections, torch.float32)

    _apply = keep_dtypes_apply

    # ---- what EvalCallback logs (lightning_evalkit._core.report.Reporting); no plots
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or warn about."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """Every key of the result; -1 (lvis-api's "undefined") is not logged."""
        return result_entries(name, value)

    def plot_kinds(self) -> dict[str, int]:
        """No plots."""
        return {}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """No plots."""
        return []


def _parse_empty(box_format: str, iou_type: str) -> tuple[Any, FederatedLabels]:
    """An empty batch and its (empty) federated labels: what the state templates are made from."""
    return _lvis_parse([], [], box_format, iou_type, None)
