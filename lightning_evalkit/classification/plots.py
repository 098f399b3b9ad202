"""``Metric.plot()`` of the classification metrics: what each draws, on the pyplot-free builders of ``plotting``.

torchmetrics' ``Metric.plot(val=None, ax=None)`` returns ``(figure, axes)``; these functions keep that
contract. ``val`` defaults to ``metric.compute()``; ``ax`` draws into given axes (a figure of several panels,
such as the multilabel confusion matrix or the detection PR curves, needs ``ax=None``). No function here
touches pyplot, so a plot leaves no global state behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit import plotting
from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit._core.report import ReportOptions
from lightning_evalkit.classification.curve_points import macro_roc
from lightning_evalkit.plotting.values import PlotOut, _out, plot_value_metric

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_curve_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """ROC and AUROC: the ROC curve from the metric's counts (one-vs-rest per class, with the macro average).

    ROC takes ``val`` as its own ``compute()`` output; AUROC given a ``val`` draws that value as a bar, as
    torchmetrics plots a scalar.
    """
    if val is not None and type(metric).__name__ == "AUROC":
        return plot_value_metric(metric, val, ax)
    if val is None:  # the ROC plot source EvalCallback draws
        (source,) = metric.plot_sources(None, ["roc"], ReportOptions())
        return _out(source.build(None, ax=ax), ax)
    # a given curve: the area of its points
    pairs = [(val[0], val[1])] if metric.task == "binary" else list(zip(val[0], val[1], strict=True))
    curves = [(to_numpy(f), to_numpy(t), _area(to_numpy(f), to_numpy(t))) for f, t in pairs]
    aucs = [auc for _, _, auc in curves]
    if metric.task == "binary":
        figure = plotting.plot_roc(curves[0][0], curves[0][1], aucs[0], pos_label="1", ax=ax)
        return _out(figure, ax)
    grid, mean_tpr = macro_roc([f for f, _, _ in curves], [t for _, t, _ in curves])
    defined = [a for a in aucs if not np.isnan(a)]
    macro = (grid, mean_tpr, float(np.mean(defined)) if defined else float("nan"))
    figure = plotting.plot_roc_one_vs_rest(
        [f for f, _, _ in curves], [t for _, t, _ in curves], aucs, macro=macro, ax=ax
    )
    return _out(figure, ax)


def plot_confusion_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """ConfusionMatrix: the matrix of counts (``val`` if given), with the threshold for binary and multilabel."""
    if val is None:  # the confusion-matrix plot source EvalCallback draws
        (source,) = metric.plot_sources(None, ["confusion_matrix"], ReportOptions())
        return _out(source.build(None, ax=ax), ax)
    threshold = None if metric.task == "multiclass" else float(metric.threshold)
    return _out(plotting.plot_confusion_matrix(val, threshold=threshold, ax=ax), ax)


def _area(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Trapezoidal area under given curve points; NaN where the curve is undefined."""
    if fpr.size < 2 or np.isnan(fpr).any() or np.isnan(tpr).any():
        return float("nan")
    return float(np.trapezoid(tpr, fpr))
