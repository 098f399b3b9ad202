"""What MeanAveragePrecision feeds to the plots: its extended-summary precision, one set per IoU type, each with
the builder that draws it (see :mod:`lightning_evalkit._core.report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from lightning_evalkit import plotting
from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit._core.report import PlotSource

DETECTION_PLOTS = ("detection_pr", "per_class_ap")
_IOU_TYPES = ("bbox", "segm")


def per_class_ap(precision: Any) -> np.ndarray:
    """Per-class AP over IoU thresholds and recall thresholds (area all, largest max-detections), -1 if none.

    Example:
        >>> per_class_ap(np.stack([np.full((2, 3, 4, 3), 0.5), np.full((2, 3, 4, 3), -1.0)], axis=2)).tolist()
        [0.5, -1.0]
    """
    values = to_numpy(precision)[:, :, :, 0, -1]
    out = np.full(values.shape[2], -1.0)
    for k in range(values.shape[2]):
        defined = values[:, :, k][values[:, :, k] > -1]
        if defined.size:
            out[k] = defined.mean()
    return out


def iou_type_views(result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """``[(tag prefix, result view)]``: the result itself, or with ``iou_type=("bbox", "segm")`` one view per type.

    Two types give torchmetrics' prefixed keys (``bbox_precision``, ``segm_precision``); each view has them
    unprefixed (with the shared ``classes``) and is drawn under the tag prefix ``"bbox_"`` or ``"segm_"``.

    Example:
        >>> import torch
        >>> result = {"bbox_precision": torch.zeros(1), "segm_precision": torch.ones(1), "classes": torch.arange(1)}
        >>> [(prefix, sorted(view)) for prefix, view in iou_type_views(result)]
        [('bbox_', ['classes', 'precision']), ('segm_', ['classes', 'precision'])]
    """
    if "precision" in result:
        return [("", result)]
    views: list[tuple[str, Mapping[str, Any]]] = []
    for iou_type in _IOU_TYPES:
        if f"{iou_type}_precision" in result:
            view = {key[len(iou_type) + 1 :]: value for key, value in result.items() if key.startswith(iou_type + "_")}
            view["classes"] = result.get("classes")
            views.append((f"{iou_type}_", view))
    return views


def detection_plot_sources(metric: Any, result: Mapping[str, Any], plots: Sequence[str]) -> list[PlotSource]:
    """PR curves at IoU 0.5 and 0.75 and the per-class AP bar chart of each IoU type of a computed result."""
    sources = []
    for prefix, view in iou_type_views(result):
        precision = to_numpy(view["precision"])
        labels = view.get("classes")
        classes = [int(c) for c in (to_numpy(labels).reshape(-1) if labels is not None else range(precision.shape[2]))]
        if "detection_pr" in plots:
            draw = partial(
                _detection_pr,
                precision,
                list(metric.rec_thresholds),
                list(metric.iou_thresholds),
                classes,
                int(list(metric.max_detection_thresholds)[-1]),
            )
            sources.append(PlotSource("detection_pr", prefix + "detection_pr", draw))
        if "per_class_ap" in plots:
            draw = partial(_per_class_ap, per_class_ap(precision), classes)
            sources.append(PlotSource("per_class_ap", prefix + "per_class_ap", draw))
    return sources


def _detection_pr(precision: Any, recs: list, ious: list, classes: list, max_det: int, class_names: Any) -> Any:
    return plotting.plot_detection_pr_curves(precision, recs, ious, classes, class_names, max_detections=max_det)


def _per_class_ap(ap: np.ndarray, classes: list[int], class_names: Any) -> Any:
    return plotting.plot_per_class_ap(ap, classes, class_names)


def no_extended_summary_message(name: str) -> str:
    """The warning for a detection metric whose PR and per-class AP plots cannot be drawn."""
    return (
        f"EvalCallback cannot draw 'detection_pr' and 'per_class_ap' for metrics[{name!r}]: they need the precision "
        "array of MeanAveragePrecision(extended_summary=True). Pass extended_summary=True, or leave these plots out "
        "of `plots=`."
    )
