"""``Metric.plot()`` of the detection metrics, built on the pyplot-free builders of ``plotting``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lightning_evalkit import plotting
from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.values import PlotOut, plot_value_metric

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_detection_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """MeanAveragePrecision: PR curves at IoU 0.50 and 0.75 with ``extended_summary=True``, else its values."""
    result = metric.compute() if val is None else val
    if not (isinstance(result, Mapping) and "precision" in result):
        return plot_value_metric(metric, result, ax)
    if ax is not None:
        raise ValueError("Expected `ax=None` for the PR curves (one panel per IoU threshold), but got axes.")
    classes = result.get("classes")
    figure = plotting.plot_detection_pr_curves(
        result["precision"],
        list(metric.rec_thresholds),
        list(metric.iou_thresholds),
        [int(c) for c in to_numpy(classes).reshape(-1)] if classes is not None else [],
        max_detections=int(list(metric.max_detection_thresholds)[-1]),
    )
    return figure, figure.axes[0]
