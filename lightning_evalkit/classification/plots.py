"""``Metric.plot()`` for every metric: what each one draws, built on the pyplot-free builders of ``plotting``.

torchmetrics' ``Metric.plot(val=None, ax=None)`` returns ``(figure, axes)``; these functions keep that
contract. ``val`` defaults to ``metric.compute()``; ``ax`` draws into given axes (a figure of several panels,
such as the multilabel confusion matrix or the detection PR curves, needs ``ax=None``). No function here
touches pyplot, so a plot leaves no global state behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit import plotting
from lightning_evalkit.classification.curve_points import macro_roc, roc_points, to_numpy, trapezoid_auc
from lightning_evalkit.plotting.base import figure_and_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PlotOut = tuple["Figure", "Axes"]
_NOT_SCALARS = ("classes", "precision", "recall", "scores", "ious")


def _out(figure: Figure, ax: Axes | None) -> PlotOut:
    return figure, ax if ax is not None else figure.axes[0]


def _labelled_values(name: str, value: Any) -> list[tuple[str, float]]:
    """(label, value) for a scalar, a per-class vector (``name/i``) or a dict of those."""
    if isinstance(value, Mapping):
        classes = value.get("classes")
        out: list[tuple[str, float]] = []
        for key, item in value.items():
            if key in _NOT_SCALARS or not hasattr(item, "ndim") or item.ndim > 1:
                continue
            if item.ndim == 1 and classes is not None and classes.numel() == item.numel():
                out += [(f"{key}/{int(c)}", float(v)) for c, v in zip(classes.tolist(), item.tolist(), strict=True)]
            else:
                out += _labelled_values(key, item)
        return out
    values = to_numpy(value).reshape(-1)
    if np.ndim(to_numpy(value)) == 0:
        return [(name, float(values[0]))]
    return [(f"{name}/{index}", float(v)) for index, v in enumerate(values)]


def plot_values(values: list[tuple[str, float]], title: str, ax: Axes | None = None) -> Figure:
    """Horizontal bars of named values in [0, 1], each written beside its bar; -1 or NaN shown as "n/a".

    Example:
        >>> figure = plot_values([("sensitivity", 0.75)], "Sensitivity")
        >>> figure.axes[0].texts[0].get_text()
        '0.7500'
    """
    figure, axes = figure_and_axes(ax, 6.5, min(1.6 + 0.35 * len(values), 20.0))
    numbers = np.array([v for _, v in values], dtype=np.float64)
    defined = np.isfinite(numbers) & (numbers > -1)
    positions = np.arange(len(values))
    axes.barh(positions, np.where(defined, numbers, 0.0), color="tab:blue", height=0.7)
    column = axes.get_yaxis_transform()
    for position, number, ok in zip(positions, numbers, defined, strict=True):
        axes.text(1.02, float(position), f"{number:.4f}" if ok else "n/a", transform=column, va="center")
    axes.set_yticks(positions, [label for label, _ in values])
    axes.set_ylim(len(values) - 0.5, -0.5)
    axes.set_xlim(0.0, max(1.0, float(numbers[defined].max(initial=0.0))))
    axes.set_title(title)
    axes.grid(True, axis="x", alpha=0.3)
    return figure


def plot_value_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """Sensitivity, Specificity, IoU metrics, and any metric given a scalar ``val``: its value(s) as bars."""
    value = metric.compute() if val is None else val
    name = type(metric).__name__
    return _out(plot_values(_labelled_values(name, value), name, ax), ax)


def plot_curve_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """ROC and AUROC: the ROC curve from the metric's counts (one-vs-rest per class, with the macro average).

    ROC takes ``val`` as its own ``compute()`` output; AUROC given a ``val`` draws that value as a bar, as
    torchmetrics plots a scalar.
    """
    if val is not None and type(metric).__name__ == "AUROC":
        return plot_value_metric(metric, val, ax)
    if val is None:
        counts = metric.curve_counts()
        curves = [roc_points(c.thresholds, c.tp, c.fp, c.tn, c.fn)[:2] for c in counts]
    else:
        pairs = [(val[0], val[1])] if metric.task == "binary" else list(zip(val[0], val[1], strict=True))
        curves = [(to_numpy(f), to_numpy(t)) for f, t in pairs]
    aucs = [trapezoid_auc(f, t) for f, t in curves]
    if metric.task == "binary":
        figure = plotting.plot_roc(curves[0][0], curves[0][1], aucs[0], pos_label="1", ax=ax)
        return _out(figure, ax)
    grid, mean_tpr = macro_roc([f for f, _ in curves], [t for _, t in curves])
    defined = [a for a in aucs if not np.isnan(a)]
    macro = (grid, mean_tpr, float(np.mean(defined)) if defined else float("nan"))
    support = None if val is not None else [float(c.tp[0] + c.fn[0]) if c.tp.numel() else 0.0 for c in counts]
    figure = plotting.plot_roc_one_vs_rest(
        [f for f, _ in curves], [t for _, t in curves], aucs, macro=macro, support=support, ax=ax
    )
    return _out(figure, ax)


def plot_confusion_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """ConfusionMatrix: the matrix of counts (``val`` if given), with the threshold for binary and multilabel."""
    matrix = metric.confusion_counts() if val is None else val
    threshold = None if metric.task == "multiclass" else float(metric.threshold)
    return _out(plotting.plot_confusion_matrix(matrix, threshold=threshold, ax=ax), ax)


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
