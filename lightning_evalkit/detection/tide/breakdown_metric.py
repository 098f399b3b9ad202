"""DetectionErrorBreakdown: where the detection errors come from (TIDE), tidecv's numbers, exact under DDP.

A thin shell over :mod:`lightning_evalkit.detection.tide.breakdown`: ``update`` checks the whole batch, matches each
image and names the error of each detection (per image, independent of every other image), and appends the compact
records to "cat" states; ``compute`` runs the functional ``_compute`` on the (synced) states.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor

from lightning_evalkit import plotting
from lightning_evalkit._core.cat_states import OrderedCatStateMetric, as_list
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions
from lightning_evalkit._core.state_dtypes import keep_dtypes_apply
from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.tide.breakdown import (
    TIDE_MAX_DETECTIONS,
    _tide_check_args,
    _tide_compute,
    _tide_parse,
    _tide_update,
)
from lightning_evalkit.detection.tide.fixes import RESULT_KEYS

__all__ = ["DetectionErrorBreakdown"]

_ID_FLAGS = "tide_image_id_given"  # the state of per-image flags: did its target carry an image_id


class DetectionErrorBreakdown(OrderedCatStateMetric):
    """Where the detection errors come from: TIDE's dAP of each error type, equal to tidecv 1.0.1 within 1e-6.

    TIDE (Bolya et al., ECCV 2020) names why each detection that is not a true positive is wrong, and each ground
    truth that no detection finds, and reports for each kind of error the mAP gained by fixing every error of
    that kind (dAP). The rules are tidecv 1.0.1's ``TIDE(pos_threshold, background_threshold)`` on boxes, record
    for record:

    - per image, the ``max_detections`` highest-scoring detections (over all classes) are kept; each, by score,
      takes the free ground truth of its class with the highest IoU (the first on ties) when that IoU is at least
      ``pos_threshold``; an unmatched detection whose crowd IoU with a crowd target of its class is above
      ``pos_threshold`` is ignored (tidecv's ignore region) but still gets an error;
    - the first test that holds names the error of an unmatched detection: "background" when its image has no
      (non-crowd) ground truth; "localization" when its best IoU with a ground truth of its class is in
      [``background_threshold``, ``pos_threshold``]; "classification" when it has IoU >= ``pos_threshold`` with
      a ground truth of another class; "duplicate" when it has IoU >= ``pos_threshold`` with a matched ground
      truth of its class; "background" when every IoU is <= ``background_threshold``; else "both"; an unmatched
      ground truth is "missed" unless a localisation or classification error points at it;
    - fixing classification / localisation errors makes the best-scored one pointing at a free ground truth a
      true positive (of that ground truth's class) and removes the others; fixing duplicate, background or both
      removes them; fixing missed removes those ground truths from the count. Each is fixed alone, from the
      baseline, and the dAP is floored at 0 as tidecv floors it;
    - ``false_positive`` and ``false_negative`` are tidecv's special errors: the mAP with every false positive
      scored below every true positive, and with every unmatched ground truth removed (not floored).

    The mAP is tidecv's, not COCO's, at the one IoU ``pos_threshold``: 101 recall points, but every class with a
    detection or a ground truth counts, a class without ground truth with AP 0 (pycocotools leaves it out).
    Where tidecv reads the paper its own way (followed here; docs/detection.md has the list): localisation is
    tested before classification, with both threshold ends included and matched ground truths counted; the
    best-error choice is shared by classification and localisation errors, so fixing one kind can remove an error
    of it instead of recovering its ground truth; ground truths pointed at by such an error are never "missed";
    crowd regions ignore at crowd IoU strictly above ``pos_threshold`` (COCO: at or above) and ignored detections
    still get errors; IoU ties pick the first ground truth (COCO: the last).

    Args:
        box_format: "xyxy", "xywh" or "cxcywh" for the input boxes.
        pos_threshold: IoU of a true positive (tidecv's 0.5).
        background_threshold: IoU up to which a detection is background (tidecv's 0.1).
        max_detections: Detections kept per image, over all its classes (tidecv's ``Data(max_dets=100)``).
        kwargs: Passed to ``torchmetrics.Metric``.

    Inputs are torchmetrics' per-image dicts: preds ``boxes``, ``scores``, ``labels``; targets ``boxes``,
    ``labels`` and optionally ``iscrowd`` (tidecv's ignore regions, as its COCO loader makes them).

    ``compute()`` returns ``map`` and the dAPs ``classification``, ``localization``, ``both``, ``duplicate``,
    ``background``, ``missed``, ``false_positive``, ``false_negative``: fractions (tidecv prints 100 times
    these), float32; NaN where a mAP averages no class at all (tidecv divides by zero there). Score ties between
    images are broken by image id, as pycocotools does: give each target an ``image_id`` (an int or one-element
    tensor) and the result is tidecv's on the images in ascending id order, whatever order they arrive in (DDP with
    any sampler equals one process). Without ``image_id`` (kept as 0) ties follow the order the images were seen
    (after a DDP sync: rank by rank); a mix of images with and without ids is refused.

    Example:
        >>> import torch
        >>> metric = DetectionErrorBreakdown()
        >>> preds = [dict(boxes=torch.tensor([[0.0, 0, 40, 40], [2, 0, 42, 40], [0, 50, 40, 90]]),
        ...               scores=torch.tensor([0.9, 0.8, 0.7]), labels=torch.tensor([1, 1, 2]))]
        >>> target = [dict(boxes=torch.tensor([[0.0, 0, 40, 40], [0, 50, 40, 90]]), labels=torch.tensor([1, 1]))]
        >>> metric.update(preds, target)
        >>> result = metric.compute()
        >>> round(result["map"].item(), 4), round(result["classification"].item(), 4)  # tidecv: 25.25, 58.25
        (0.2525, 0.5825)
    """

    is_differentiable = False
    higher_is_better = None  # the mAP is higher-is-better, the dAPs lower-is-better
    full_state_update = False

    def __init__(
        self,
        box_format: str = "xyxy",
        pos_threshold: float = 0.5,
        background_threshold: float = 0.1,
        max_detections: int = TIDE_MAX_DETECTIONS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _tide_check_args(box_format, pos_threshold, background_threshold, max_detections)
        self.box_format, self.max_detections = box_format, max_detections
        self.pos_threshold, self.background_threshold = float(pos_threshold), float(background_threshold)
        # the states' names, dtypes and trailing shapes: what an empty batch gives
        self._add_cat_states(self._records(_tide_parse([], [], box_format), []))

    def _records(self, batch: Any, target: Sequence[dict]) -> dict[str, Tensor]:
        records = _tide_update(batch, self.pos_threshold, self.background_threshold, self.max_detections)
        # one flag per image: whether its target carried an image_id (the parser rejects a mix within a batch)
        given = bool(target) and "image_id" in target[0]
        records["tide_image_id_given"] = torch.full((batch.num_images,), given, dtype=torch.bool, device=self.device)
        return records

    @single_threaded
    def update(self, preds: Sequence[dict[str, Tensor]], target: Sequence[dict[str, Tensor]]) -> None:
        """Match a batch of images and name their errors; ``preds``/``target`` are lists of per-image dicts."""
        records = self._records(_tide_parse(preds, target, self.box_format, self.device), target)
        _check_ids_given([*as_list(getattr(self, _ID_FLAGS)), records["tide_image_id_given"]])
        for name, value in records.items():
            getattr(self, name).append(value)

    @single_threaded
    def compute(self) -> dict[str, Tensor]:
        """The mAP and each error's dAP over every image seen (on every rank)."""
        _check_ids_given(as_list(getattr(self, _ID_FLAGS)))
        return _tide_compute({name: self._cat_state(name) for name in self._templates})

    _apply = keep_dtypes_apply

    # ---- what EvalCallback logs and draws (lightning_evalkit._core.report.Reporting)
    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or warn about."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """``<name>/map`` and ``<name>/<error>`` for each dAP; NaN (no class at all) is undefined."""
        return [LoggedValue(f"{name}/{key}", float(value[key]), math.isnan(float(value[key]))) for key in RESULT_KEYS]

    def plot_kinds(self) -> dict[str, int]:
        """The error breakdown bar chart."""
        return {"error_breakdown": 0}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """The computed values, drawn by ``plotting.plot_error_breakdown``; nothing while every value is undefined."""
        if "error_breakdown" not in plots or math.isnan(float(value["map"])):
            return []
        values = {key: float(value[key]) for key in RESULT_KEYS}
        return [PlotSource("error_breakdown", "error_breakdown", partial(_error_breakdown, values, self.pos_threshold))]

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw the error breakdown (the callback's ``error_breakdown``) without pyplot; returns ``(figure, axes)``."""
        if ax is not None:
            raise ValueError("Expected `ax=None`: the error breakdown draws its own sized figure, but got axes.")
        values = self.compute() if val is None else val
        figure = _error_breakdown({key: float(values[key]) for key in RESULT_KEYS}, self.pos_threshold, None)
        return figure, figure.axes[0]


def _error_breakdown(values: dict[str, float], pos_threshold: float, class_names: Any) -> Any:
    return plotting.plot_error_breakdown(values, pos_threshold)


def _check_ids_given(flags: list[Tensor]) -> None:
    """Image ids order the images only when every image has one: refuse a mix of images with and without."""
    given = [bool(flag.any()) for flag in flags if flag.numel()]
    missing = [not bool(flag.all()) for flag in flags if flag.numel()]
    if any(given) and any(missing):
        raise ValueError(
            "Expected `image_id` in every target or in none (ids order score ties across images), but got images "
            "with an `image_id` and images without one (across updates, merged states or ranks)."
        )
