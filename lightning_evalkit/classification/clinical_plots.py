"""``.plot()`` of the clinical metrics: the ROC with the operating point marked, and the DeLong test's two ROCs.

Same contract as ``_metric_plot``: ``plot(val=None, ax=None)`` returns ``(figure, axes)``, built on the pyplot-free
builders of ``plotting``. The curves come from the metric's synced state (a collective under DDP: call ``plot`` on
every rank); ``val`` replaces only what ``compute()`` returns (the operating point, or the test's z and p).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lightning_evalkit import plotting
from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.classification.auc_intervals import delong_interval_from_counts
from lightning_evalkit.classification.curve_points import roc_arrays
from lightning_evalkit.classification.curves import ThresholdCounts, _totals
from lightning_evalkit.classification.roc import curve_counts
from lightning_evalkit.plotting.base import (
    MAX_CURVES,
    MarkedPoint,
    figure_and_axes,
    legend_below,
    thin,
    top_k,
    unit_axes,
    with_interval,
)
from lightning_evalkit.plotting.values import PlotOut, _out, plot_value_metric
from lightning_evalkit.statistics.binomial import binomial_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LEVEL = 0.95  # the level of the intervals drawn (the metrics themselves have none)


def _roc_and_auc(
    counts: ThresholdCounts, exact: bool
) -> tuple[np.ndarray, np.ndarray, float, tuple[float, float] | None]:
    """fpr, tpr, AUC and, for exact counts, DeLong's interval of the AUC (None where undefined or binned)."""
    fpr, tpr, auc = roc_arrays(counts)
    interval = None
    if exact and not math.isnan(auc):
        _, lower, upper = delong_interval_from_counts(counts, LEVEL)
        interval = None if bool(lower.isnan() | upper.isnan()) else (float(lower), float(upper))
    return fpr, tpr, auc, interval


def _point_at(counts: ThresholdCounts, threshold: float, criterion: str) -> MarkedPoint | None:
    """The ROC point at ``threshold`` (positive iff score >= threshold) with Wilson intervals of both rates."""
    n_pos, n_neg = _totals(counts)
    if math.isnan(threshold) or n_pos == 0 or n_neg == 0:
        return None
    # counts at the smallest recorded threshold >= t; past the largest (t = inf) nothing is positive
    index = int(torch.searchsorted(counts.thresholds, torch.tensor([threshold], dtype=torch.float64))[0])
    tp = int(counts.tp[index]) if index < counts.thresholds.numel() else 0
    tn = int(counts.tn[index]) if index < counts.thresholds.numel() else n_neg
    bounds = binomial_interval(torch.tensor([tp, tn]), torch.tensor([n_pos, n_neg]), LEVEL)
    sensitivity_ci, specificity_ci = ((float(bounds[0][i]), float(bounds[1][i])) for i in range(2))
    return MarkedPoint(criterion, threshold, tp / n_pos, tn / n_neg, sensitivity_ci, specificity_ci, LEVEL)


def _constraint_line(axes: Axes, maximise: str, minimum: float) -> None:
    """The feasible side of the constraint: FPR <= 1 - min specificity, or TPR >= min sensitivity."""
    if maximise == "sensitivity":
        label, line = f"specificity >= {minimum:g} (left of this line)", axes.axvline(1.0 - minimum)
    else:
        label, line = f"sensitivity >= {minimum:g} (above this line)", axes.axhline(minimum)
    line.set(color="tab:green", linestyle=":", linewidth=1.5, label=label)


def plot_operating_point_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """SensitivityAtSpecificity and SpecificityAtSensitivity: the ROC with the operating point and the constraint.

    Binary: the ROC curve (AUC, with DeLong's 95% interval in exact mode), the chosen point with its threshold and
    the 95% Wilson intervals of both rates as error bars, and the constraint as a dotted line. Multiclass and
    multilabel: the one-vs-rest ROC curves (the 10 classes with the most positives) each with its point marked.
    """
    value = metric.compute() if val is None else val
    counts = metric.curve_counts()
    if sum(int(c.tp[0] + c.fn[0] + c.fp[0] + c.tn[0]) if c.tp.numel() else 0 for c in counts) == 0:
        return plot_value_metric(metric, value[0], ax)  # nothing seen: no curve, only the (NaN) value
    maximise, minimum = (
        ("sensitivity", metric.min_specificity)
        if hasattr(metric, "min_specificity")
        else ("specificity", metric.min_sensitivity)
    )
    other = "specificity" if maximise == "sensitivity" else "sensitivity"
    criterion = "Chosen"  # the legend reads "Chosen point: threshold ..."; the title says how it was chosen
    title = f"{type(metric).__name__}: max {maximise} at {other} >= {minimum:g}"
    thresholds = to_numpy(value[1]).reshape(-1)
    if metric.task == "binary":
        fpr, tpr, auc, interval = _roc_and_auc(counts[0], not metric.binned)
        point = _point_at(counts[0], float(thresholds[0]), criterion)
        figure = plotting.plot_roc(
            fpr, tpr, auc, title=title, pos_label="1", ax=ax, auc_interval=interval, level=LEVEL, point=point
        )
        axes = ax if ax is not None else figure.axes[0]
        _constraint_line(axes, maximise, minimum)
        axes.legend(loc="lower right", fontsize="small")
        return _out(figure, ax)
    figure, axes = figure_and_axes(ax, 7.0, 8.0)
    _one_vs_rest_points(axes, counts, thresholds, criterion, title + ", one-vs-rest")
    _constraint_line(axes, maximise, minimum)
    legend_below(axes, columns=2)
    return _out(figure, ax)


def _one_vs_rest_points(
    axes: Axes, counts: list[ThresholdCounts], thresholds: np.ndarray, criterion: str, title: str
) -> None:
    """The one-vs-rest ROC curves as :func:`plotting.plot_roc_one_vs_rest` draws them (the MAX_CURVES classes with
    the most positives), each class's operating point marked in its curve's colour."""
    support = [float(c.tp[0] + c.fn[0]) if c.tp.numel() else 0.0 for c in counts]
    shown = sorted(top_k(support, MAX_CURVES).tolist())
    curves = [_roc_and_auc(counts[index], exact=False) for index in shown]
    plotting.plot_roc_one_vs_rest(
        [curve[0] for curve in curves],
        [curve[1] for curve in curves],
        [curve[2] for curve in curves],
        title=title,
        support=[support[index] for index in shown],
        ax=axes,
        class_indices=shown,
        num_classes=len(counts),
    )
    colours = {str(line.get_label()).split(" vs rest")[0]: line.get_color() for line in axes.get_lines()}
    for index in shown:
        point = _point_at(counts[index], float(thresholds[index]), criterion)
        if point is not None:
            x, y = 1 - point.specificity, point.sensitivity
            axes.plot([x], [y], "o", color=colours[str(index)], markersize=8, markeredgecolor="black")
    axes.plot([], [], "o", color="white", markeredgecolor="black", label="chosen point of each class")


def _delong_state(metric: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with metric.sync_context(dist_sync_fn=metric.dist_sync_fn, should_sync=not metric._is_synced):
        return metric._cat_state("scores"), metric._cat_state("baseline_scores"), metric._cat_state("target")


def _p_text(p_value: float) -> str:
    return "n/a" if math.isnan(p_value) else f"{p_value:.3g}"


def plot_delong_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """DeLongTest: binary, both ROC curves with their AUCs (DeLong 95% intervals) and z and p in the title;
    multiclass and multilabel, per class, both AUCs as bars with the class's p-value beside them."""
    z, p_value = metric.compute() if val is None else val
    scores, baseline, target = _delong_state(metric)
    if target.shape[0] == 0:
        return plot_value_metric(metric, p_value, ax)
    options = {"task": metric.task, "num_classes": metric.num_classes, "num_labels": metric.num_labels}
    models = [
        (name, curve_counts(values, target, input_format=metric.input_format, **options))
        for name, values in (("model", scores), ("baseline", baseline))
    ]
    z_, p_ = to_numpy(z).reshape(-1), to_numpy(p_value).reshape(-1)
    if metric.task == "binary":
        figure, axes = figure_and_axes(ax, 6.0, 6.4)
        _delong_rocs(axes, models, float(z_[0]), float(p_[0]))
    else:
        classes = len(models[0][1])
        figure, axes = figure_and_axes(ax, 7.0, min(2.0 + 0.6 * classes, 24.0))
        _delong_bars(axes, models, p_, metric.task)
    return _out(figure, ax)


def _delong_rocs(axes: Axes, models: list[tuple[str, list[ThresholdCounts]]], z: float, p_value: float) -> None:
    """Both models' ROC curves, each AUC with its DeLong interval in the legend, z and p in the title."""
    for (name, counts), colour in zip(models, ("tab:blue", "tab:orange"), strict=True):
        fpr, tpr, auc, interval = _roc_and_auc(counts[0], exact=True)
        fpr, tpr = thin(fpr, tpr)
        axes.plot(fpr, tpr, color=colour, linewidth=2, label=f"{name}: AUC {with_interval(auc, interval, LEVEL)}")
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="chance (AUC = 0.5)")
    title = f"Paired DeLong test of the AUCs\nz = {z:.3f}, two-sided p = {_p_text(p_value)}"
    unit_axes(axes, "False positive rate (positive class: 1)", "True positive rate (positive class: 1)", title)
    legend_below(axes, columns=1)


def _delong_bars(axes: Axes, models: list[tuple[str, list[ThresholdCounts]]], p_values: np.ndarray, task: str) -> None:
    """Per class, both models' AUCs as two bars, with "AUC vs AUC, p" written right of the axes."""
    aucs = [np.array([_roc_and_auc(c, exact=False)[2] for c in counts]) for _, counts in models]
    classes = len(aucs[0])
    positions = np.arange(classes)
    for offset, (name, _), values, colour in zip((-0.2, 0.2), models, aucs, ("tab:blue", "tab:orange"), strict=True):
        axes.barh(positions + offset, np.nan_to_num(values), height=0.38, color=colour, label=f"{name} AUC")
    column = axes.get_yaxis_transform()
    for index in range(classes):
        text = f"{aucs[0][index]:.3f} vs {aucs[1][index]:.3f}, p = {_p_text(float(p_values[index]))}"
        axes.text(1.02, float(index), text, transform=column, va="center", fontsize="small")
    axes.set_yticks(positions, [str(k) for k in range(classes)])
    axes.set_ylim(classes - 0.5, -0.5)
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel("AUC (one-vs-rest)" if task == "multiclass" else "AUC")
    axes.set_ylabel("class" if task == "multiclass" else "label")
    axes.set_title("Paired DeLong test per class\nmodel vs baseline AUC, two-sided p")
    axes.grid(True, axis="x", alpha=0.3)
    legend_below(axes, columns=2)
