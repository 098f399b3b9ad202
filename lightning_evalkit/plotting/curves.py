"""Figure builders for classification curves: ROC, sensitivity and specificity, precision-recall, one-vs-rest.

Each function takes values that are already computed (tensors, arrays or lists) and returns a
``matplotlib.figure.Figure`` attached to an Agg canvas. None of them touches ``matplotlib.pyplot``: no figure
is registered anywhere, so a figure is freed as soon as the caller drops it and a long training run cannot
leak figures. matplotlib is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.base import (
    MAX_CURVES,
    ClassNames,
    MarkedPoint,
    error_span,
    frame,
    given_or_framed,
    legend_below,
    point_label,
    thin,
    top_k,
    unit_axes,
    unit_margins,
    with_interval,
)
from lightning_evalkit.plotting.base import class_name as _class_name

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "figure_to_rgb",
    "plot_precision_recall",
    "plot_roc",
    "plot_roc_one_vs_rest",
    "plot_sensitivity_specificity",
]


def figure_to_rgb(figure: Figure) -> np.ndarray:
    """Render ``figure`` and return its pixels as an (H, W, 3) uint8 array, ready for ``add_image``.

    Example:
        >>> figure_to_rgb(plot_roc([0.0, 0.5, 1.0], [0.0, 0.8, 1.0])).shape
        (564, 562, 3)
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    # Unhinted glyphs look the same at these sizes and draw about a quarter faster (text is most of the time).
    with matplotlib.rc_context({"text.hinting": "no_hinting"}):
        canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _positive(pos_label: str | None) -> str:
    return "" if pos_label is None else f" (positive class: {pos_label})"


def plot_roc(
    fpr: Any,
    tpr: Any,
    auc: float | None = None,
    youden: tuple[float, float, float] | None = None,
    title: str = "ROC curve",
    pos_label: str | None = None,
    ax: Axes | None = None,
    auc_interval: tuple[float, float] | None = None,
    level: float | None = None,
    point: MarkedPoint | None = None,
) -> Figure:
    """Draw a binary ROC curve, with the AUC (and its interval) in the legend and an operating point marked.

    Args:
        fpr: false positive rates, in the order of the curve.
        tpr: true positive rates.
        auc: area under the curve, shown in the legend.
        youden: ``(threshold, sensitivity, specificity)`` of the point that maximises Youden's J (shorthand for
            ``point``).
        title: the axes title.
        pos_label: name of the positive class, written on both axes as scikit-learn's ``RocCurveDisplay`` does.
        ax: axes to draw into; by default a new figure.
        auc_interval: ``(lower, upper)`` confidence bounds of the AUC, shown in the legend with ``level``.
        level: the confidence level of ``auc_interval``.
        point: the operating point to mark, with error bars where it carries intervals.

    Returns:
        The figure.

    Example:
        >>> figure = plot_roc([0.0, 0.2, 1.0], [0.0, 0.9, 1.0], auc=0.85, auc_interval=(0.7, 1.0), level=0.95)
        >>> figure.axes[0].get_lines()[0].get_label()
        'ROC: AUC 0.850 (95% CI 0.700-1.000)'
    """
    fpr_, tpr_ = thin(to_numpy(fpr), to_numpy(tpr))
    figure, axes, framed = given_or_framed(ax)
    if auc is None:
        label = "ROC"
    elif auc_interval is not None and level is not None:
        label = f"ROC: AUC {with_interval(auc, auc_interval, level)}"
    else:
        label = f"ROC (AUC = {auc:.4f})"
    axes.plot(fpr_, tpr_, color="tab:blue", linewidth=2, label=label)
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="chance (AUC = 0.5)")
    if point is None and youden is not None:
        threshold, sensitivity, specificity = (float(v) for v in youden)
        point = MarkedPoint("youden", threshold, sensitivity, specificity)
    if point is not None:
        x = 1.0 - point.specificity
        fpr_interval = (
            None if point.specificity_ci is None else (1 - point.specificity_ci[1], 1 - point.specificity_ci[0])
        )
        axes.errorbar(
            [x],
            [point.sensitivity],
            xerr=error_span(x, fpr_interval),
            yerr=error_span(point.sensitivity, point.sensitivity_ci),
            fmt="o",
            color="tab:red",
            markersize=8,
            capsize=4,
            label=point_label(point),
        )
    positive = _positive(pos_label)
    unit_axes(axes, "False positive rate" + positive, "True positive rate" + positive, title)
    axes.legend(loc="lower right", fontsize="small" if point is not None and point.level is not None else None)
    if framed:
        frame(figure, [axes], 4.6, 4.6, unit_margins(title))
    return figure


def plot_sensitivity_specificity(
    thresholds: Any,
    sensitivity: Any,
    specificity: Any,
    youden_threshold: float | None = None,
    title: str = "Sensitivity and specificity vs threshold",
    pos_label: str | None = None,
    point: MarkedPoint | None = None,
) -> Figure:
    """Draw sensitivity and specificity against the decision threshold (positive iff score >= threshold).

    The legend sits below the axes, so it never covers a curve.

    Args:
        thresholds: thresholds, ascending.
        sensitivity: sensitivity at each threshold.
        specificity: specificity at each threshold.
        youden_threshold: threshold to mark with a vertical line (shorthand for a ``point`` without rates).
        title: the axes title.
        pos_label: name of the positive class, added to the title.
        point: the operating point: a vertical line at its threshold, its two rates marked on the curves (with
            error bars where it carries intervals) and written in the legend.

    Returns:
        The figure.

    Example:
        >>> figure = plot_sensitivity_specificity([0.1, 0.5, 0.9], [1.0, 0.8, 0.2], [0.1, 0.7, 1.0], 0.5)
        >>> [line.get_label() for line in figure.axes[0].get_lines()][:2]
        ['sensitivity', 'specificity']
    """
    thresholds_, sensitivity_, specificity_ = thin(to_numpy(thresholds), to_numpy(sensitivity), to_numpy(specificity))
    figure, axes, _ = given_or_framed(None)
    for values, colour, name in (
        (sensitivity_, "tab:blue", "sensitivity"),
        (specificity_, "tab:orange", "specificity"),
    ):
        axes.plot(thresholds_, values, color=colour, linewidth=2, label=name, drawstyle="steps-post")
    if point is not None and np.isfinite(point.threshold):
        axes.axvline(point.threshold, color="tab:red", linestyle="--", label=point_label(point))
        for value, interval, colour, marker in (
            (point.sensitivity, point.sensitivity_ci, "tab:blue", "o"),
            (point.specificity, point.specificity_ci, "tab:orange", "s"),
        ):
            # on the line itself (where the rates are read); two marker shapes keep close rates apart
            axes.errorbar(
                [point.threshold],
                [value],
                yerr=error_span(value, interval),
                fmt=marker,
                color=colour,
                markeredgecolor="tab:red",
                markersize=7,
                capsize=4,
            )
    elif youden_threshold is not None:
        axes.axvline(
            float(youden_threshold), color="tab:red", linestyle="--", label=f"Youden threshold {youden_threshold:.3g}"
        )
    if pos_label is not None:  # on a line of its own: beside the long title it ran past the figure's edge
        title += "\n" + _positive(pos_label).strip()
    unit_axes(axes, "Threshold (positive iff score >= threshold)", "Rate", title)
    axes.set_xlim(min(0.0, float(thresholds_.min(initial=0.0))), max(1.0, float(thresholds_.max(initial=1.0))))
    axes.set_ylim(-0.02, 1.04)  # a rate of 1 drawn inside the frame, not along it
    legend_width, legend_height = legend_below(axes, columns=3 if point is None else 2)
    frame(figure, [axes], 4.8, 3.8, unit_margins(title, legend_height), legend_width)
    return figure


def plot_precision_recall(
    precision: Any,
    recall: Any,
    average_precision: float | None = None,
    prevalence: float | None = None,
    title: str = "Precision-recall curve",
    pos_label: str | None = None,
) -> Figure:
    """Draw a precision-recall curve, with the average precision in the legend and the chance level.

    Args:
        precision: precision at each point of the curve.
        recall: recall at each point.
        average_precision: shown in the legend.
        prevalence: fraction of positives; a classifier guessing at random has this precision.
        title: the axes title.
        pos_label: name of the positive class, added to the title.

    Returns:
        The figure.

    Example:
        >>> figure = plot_precision_recall([0.5, 0.8, 1.0], [1.0, 0.5, 0.0], average_precision=0.9)
        >>> len(figure.axes[0].get_lines())
        1
    """
    precision_, recall_ = thin(to_numpy(precision), to_numpy(recall))
    figure, axes, _ = given_or_framed(None)
    label = "PR curve" if average_precision is None else f"PR curve (AP = {average_precision:.4f})"
    axes.plot(recall_, precision_, color="tab:blue", linewidth=2, label=label, drawstyle="steps-post")
    if prevalence is not None:
        axes.axhline(float(prevalence), color="gray", linestyle="--", label=f"chance (prevalence {prevalence:.3f})")
    title += _positive(pos_label)
    unit_axes(axes, "Recall (sensitivity)", "Precision (positive predictive value)", title)
    axes.legend(loc="lower left")
    frame(figure, [axes], 4.6, 4.6, unit_margins(title))
    return figure


def plot_roc_one_vs_rest(
    fprs: Sequence[Any],
    tprs: Sequence[Any],
    aucs: Sequence[float],
    class_names: ClassNames = None,
    macro: tuple[Any, Any, float] | None = None,
    title: str = "One-vs-rest ROC curves",
    support: Sequence[float] | None = None,
    micro: tuple[Any, Any, float] | None = None,
    max_classes: int = MAX_CURVES,
    ax: Axes | None = None,
    class_indices: Sequence[int] | None = None,
    num_classes: int | None = None,
    macro_auc: float | None = None,
) -> Figure:
    """Draw one ROC curve per class (that class against the rest), with the macro- and micro-average curves.

    With more than ``max_classes`` classes only the ``max_classes`` with the most positives (``support``) are
    drawn and named, and the title says so; the macro and micro curves still cover every class.

    Args:
        fprs: per class, the false positive rates of its curve.
        tprs: per class, the true positive rates.
        aucs: per class, the AUC (NaN where undefined).
        class_names: names of the classes; defaults to their indices.
        macro: ``(fpr, tpr, auc)`` of the macro-average curve.
        title: the axes title.
        support: per class, its number of positive samples; picks the classes drawn when there are many.
        micro: ``(fpr, tpr, auc)`` of the micro-average curve (every sample-class pair pooled).
        max_classes: the most per-class curves drawn.
        ax: axes to draw into; by default a new figure.
        class_indices: the class index of each given curve, when the curves are of some classes only
            (default: 0, 1, ...).
        num_classes: how many classes there are in all (default: one per curve).
        macro_auc: the macro-average AUC over all ``num_classes`` classes, written in the title; for when its
            curve is not given (``macro=None``) because not every class's curve was built.

    Returns:
        The figure.

    Example:
        >>> figure = plot_roc_one_vs_rest([[0, 0, 1], [0, 1]], [[0, 1, 1], [0, 1]], [1.0, 0.5], ["a", "b"])
        >>> [line.get_label() for line in figure.axes[0].get_lines()][:2]
        ['a vs rest (AUC = 1.0000)', 'b vs rest (AUC = 0.5000)']
    """
    indices = list(range(len(fprs))) if class_indices is None else [int(i) for i in class_indices]
    total = len(fprs) if num_classes is None else num_classes
    shown = top_k(support if support is not None else np.zeros(len(fprs)), max_classes)
    if len(fprs) <= max_classes:
        shown = np.sort(shown)
    figure, axes, framed = given_or_framed(ax)
    for position in shown.tolist():
        fpr_, tpr_ = thin(to_numpy(fprs[position]), to_numpy(tprs[position]))
        count = "" if support is None else f", n = {int(support[position])}"
        label = f"{_class_name(class_names, indices[position])} vs rest (AUC = {float(aucs[position]):.4f}{count})"
        axes.plot(fpr_, tpr_, linewidth=1.5, alpha=0.9, label=label)
    for average, name, style in ((macro, "macro", "-"), (micro, "micro", ":")):
        if average is not None:
            fpr_, tpr_ = thin(to_numpy(average[0]), to_numpy(average[1]))
            label = f"{name} average over all {total} classes (AUC = {float(average[2]):.4f})"
            axes.plot(fpr_, tpr_, color="black", linewidth=2.5, linestyle=style, label=label)
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="chance (AUC = 0.5)")
    if len(shown) < total:
        title = f"{title}\n{len(shown)} of {total} classes shown: those with the most positives"
    if macro is None and macro_auc is not None:
        title += f"\nmacro-average AUC over all {total} classes: {macro_auc:.4f}"
    unit_axes(axes, "False positive rate", "True positive rate", title)
    legend_width, legend_height = legend_below(axes, columns=1 if len(shown) <= 4 else 2, small=True)
    if framed:
        frame(figure, [axes], 4.6, 4.6, unit_margins(title, legend_height), legend_width)
    return figure
