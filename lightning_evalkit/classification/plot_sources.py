"""What the classification metrics feed to the plots: curve counts and confusion counts, gathered once on every
rank, each with the builder that draws it (see :mod:`lightning_evalkit._core.report`).

The same sources serve EvalCallback and ``Metric.plot()``. Each plot is built, rendered and dropped before the
next one, and one that fails to build costs only that plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from lightning_evalkit import plotting
from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit._core.report import PlotSource, ReportOptions
from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.classification.auc_intervals import delong_interval_from_counts
from lightning_evalkit.classification.curve_points import (
    average_precision_from_counts,
    counts_on_uniform_grid,
    macro_roc,
    roc_arrays,
)
from lightning_evalkit.classification.curves import _class_positives, _curve_counts_compute, _per_class_aucs
from lightning_evalkit.classification.operating_points import operating_point_from_counts
from lightning_evalkit.plotting import ClassNames
from lightning_evalkit.plotting.base import MAX_CURVES, MarkedPoint, class_name, top_k

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVE_PLOTS = ("roc", "sensitivity_specificity", "precision_recall", "pr_curve_plugin")
MAX_PR_CURVE_CLASSES = 10  # PR-curve plugin entries per epoch: the classes with the most positives
# Up to this many classes every per-class curve is built and the macro-average ROC curve drawn. Above, only
# the plotted classes' curves are built (building all 1000 of 1000 classes cost more than all the drawing)
# and the macro-average AUC over every class is given in the title instead of its curve.
MAX_MACRO_CURVE_CLASSES = 100


class CurveSource(NamedTuple):
    """What the curve plots of one metric need: its task, the counts of ``classes`` (every class, or only the
    plotted ones with many classes), positives per class of every class, and the macro-average AUC over every
    class when only some curves are built."""

    task: str
    counts: list[Any]
    classes: list[int]
    support: np.ndarray
    macro_auc: float | None = None


def _counts_numpy(counts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, tp, fp, tn, fn) of one class as float64 arrays: one conversion, shared by every plot."""
    return tuple(to_numpy(c) for c in (counts.thresholds, counts.tp, counts.fp, counts.tn, counts.fn))  # type: ignore[return-value]


def _rates(numerator: np.ndarray, other: np.ndarray) -> np.ndarray:
    total = numerator + other
    return np.divide(numerator, total, out=np.full_like(total, np.nan), where=total > 0)


def marked_point(counts: Any, criterion: str = "youden", level: float | None = None) -> MarkedPoint | None:
    """The ``criterion`` point of one class's counts (``operating_point_from_counts``), None if undefined."""
    values = {key: float(value) for key, value in operating_point_from_counts(counts, criterion, level).items()}
    if np.isnan(values["sensitivity"]):
        return None
    intervals = {
        rate: (values[f"{rate}_ci_lower"], values[f"{rate}_ci_upper"]) if level is not None else None
        for rate in ("sensitivity", "specificity")
    }
    return MarkedPoint(
        criterion,
        values["threshold"],
        values["sensitivity"],
        values["specificity"],
        intervals["sensitivity"],
        intervals["specificity"],
        level,
    )


def auc_interval(counts: Any, level: float | None, exact: bool) -> tuple[float, float] | None:
    """DeLong's ``(lower, upper)`` of exact counts at ``level``; None when binned, without a level, or undefined."""
    if level is None or not exact:
        return None
    _, lower, upper = delong_interval_from_counts(counts, level)
    return None if bool(lower.isnan() | upper.isnan()) else (float(lower), float(upper))


def binary_figures(
    counts: Any,
    wanted: Sequence[str],
    pos_label: str | None = None,
    level: float | None = None,
    criterion: str = "youden",
    exact: bool = True,
    unit_range: bool = False,
) -> list[tuple[str, Any]]:
    """ROC with AUC (DeLong interval for exact counts with a ``level``) and the ``criterion`` point, sensitivity
    and specificity vs threshold with that point, and the PR curve of one class: ``[(plot, builder)]``."""
    thresholds, tp, fp, tn, fn = _counts_numpy(counts)
    point = marked_point(counts, criterion, level)
    builders: list[tuple[str, Any]] = []
    if "roc" in wanted:
        fpr, tpr, auc = roc_arrays(counts)
        interval = auc_interval(counts, level, exact)
        draw = partial(
            plotting.plot_roc, fpr, tpr, auc, pos_label=pos_label, auc_interval=interval, level=level, point=point
        )
        builders.append(("roc", draw))
    if "sensitivity_specificity" in wanted:
        rates = (thresholds, _rates(tp, fn), _rates(tn, fp))
        if unit_range:
            rates = _over_unit_range(*rates)
        draw = partial(plotting.plot_sensitivity_specificity, *rates, pos_label=pos_label, point=point)
        builders.append(("sensitivity_specificity", draw))
    if "precision_recall" in wanted:
        predicted = tp + fp
        precision = np.concatenate([np.divide(tp, predicted, out=np.ones_like(tp), where=predicted > 0), [1.0]])
        positives = tp[0] + fn[0] if tp.size else 0.0
        recall = np.concatenate([tp / positives if positives else np.full_like(tp, np.nan), [0.0]])
        total = positives + fp[0] + tn[0] if tp.size else 0.0
        prevalence = float(positives / total) if total else None
        ap = average_precision_from_counts(tp, fp, fn)
        draw = partial(plotting.plot_precision_recall, precision, recall, ap, prevalence, pos_label=pos_label)
        builders.append(("precision_recall", draw))
    return builders


def _over_unit_range(
    thresholds: np.ndarray, sensitivity: np.ndarray, specificity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rates of probability scores over all of [0, 1]: below the smallest score every sample is positive (the
    first recorded rates), above the largest none is (sensitivity 0, specificity 1)."""
    if thresholds.size == 0 or np.isnan(sensitivity).all() or np.isnan(specificity).all():
        return thresholds, sensitivity, specificity
    after = np.nextafter(thresholds[-1], np.inf)
    low = [0.0] if thresholds[0] > 0.0 else []
    high = [after, 1.0] if after < 1.0 else []
    return (
        np.concatenate([low, thresholds, high]),
        np.concatenate([sensitivity[:1] if low else [], sensitivity, [0.0] * len(high)]),
        np.concatenate([specificity[:1] if low else [], specificity, [1.0] * len(high)]),
    )


def one_vs_rest_figure(source: CurveSource, class_names: ClassNames, ax: Any = None) -> Figure:
    """ROC of the classes with the most positives (all of them up to ten) and the macro average over all.

    With every class's counts the macro-average curve is drawn; otherwise its AUC over every class is given.
    """
    curves = [roc_arrays(counts) for counts in source.counts]
    aucs = [auc for _, _, auc in curves]
    macro: tuple[Any, Any, float] | None = None
    if source.macro_auc is None:
        grid, mean_tpr = macro_roc([c[0] for c in curves], [c[1] for c in curves])
        defined = [auc for auc in aucs if not np.isnan(auc)]
        macro = (grid, mean_tpr, float(np.mean(defined)) if defined else float("nan"))
    return plotting.plot_roc_one_vs_rest(
        [c[0] for c in curves],
        [c[1] for c in curves],
        aucs,
        class_names,
        macro=macro,
        support=source.support[source.classes].tolist(),
        ax=ax,
        class_indices=source.classes,
        num_classes=len(source.support),
        macro_auc=source.macro_auc,
    )


def pr_curve_plugin_data(
    source: CurveSource, class_names: ClassNames, max_classes: int = MAX_PR_CURVE_CLASSES
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Counts resampled for TensorBoard's PR-curve plugin: one entry for binary, else one per class for the
    ``max_classes`` classes with the most positives (each a separate TensorBoard write, so capped)."""
    if source.task == "binary":
        return [("pr_curve", counts_on_uniform_grid(*_counts_numpy(source.counts[0])))]
    position = {c: i for i, c in enumerate(source.classes)}
    chosen = [c for c in top_k(source.support, max_classes).tolist() if c in position]
    return [
        ("pr_curve/" + class_name(class_names, c), counts_on_uniform_grid(*_counts_numpy(source.counts[position[c]])))
        for c in sorted(chosen)
    ]


@single_threaded
def curve_source(metric: Any, macro_auc: float | None = None) -> CurveSource:
    """The counts a curve metric's plots need (a collective under DDP: call on every rank).

    Up to ``MAX_MACRO_CURVE_CLASSES`` classes, every class's counts (``metric.curve_counts()``). Above, within
    one sync of the state: the positives of every class, the counts of the classes the plots draw (those with
    the most positives), each equal to its entry of the full list, and the macro-average AUC over every class
    (``macro_auc`` where the caller knows it). Runs on one intra-op thread: the counts are many small tensor
    operations, and with another process holding one of 2 cores torch's thread pool made them slow (10 classes:
    0.23 s on 2 threads, 0.007 s on one; see ``_core.threads``).
    """
    task, columns = metric.task, int(metric.columns)
    if task == "binary" or columns <= MAX_MACRO_CURVE_CLASSES:
        counts = metric.curve_counts()
        support = np.array([float(c.tp[0] + c.fn[0]) if c.tp.numel() else 0.0 for c in counts])  # positives
        return CurveSource(task, counts, list(range(len(counts))), support)
    with metric.sync_context(dist_sync_fn=metric.dist_sync_fn, should_sync=not metric._is_synced):
        state, grid = metric._curve_state(), metric._grid()
        support = _class_positives(state, task, columns, grid).double().numpy()
        shown = top_k(support, max(MAX_CURVES, MAX_PR_CURVE_CLASSES))
        counts = _curve_counts_compute(state, task, columns, grid, metric.input_format, torch.from_numpy(shown))
        if macro_auc is None:
            aucs = _per_class_aucs(state, task, columns, grid, metric.input_format)[0].numpy()
            macro_auc = float(np.nanmean(aucs)) if not np.isnan(aucs).all() else float("nan")
    return CurveSource(task, counts, shown.tolist(), support, macro_auc)


def curve_builders(
    source: CurveSource,
    plots: Sequence[str],
    options: ReportOptions,
    level: float | None,
    exact: bool,
    unit_range: bool = False,
) -> list[tuple[str, str, Any, str]]:
    """``[(plot, tag, builder(class_names), kind)]`` of a gathered :class:`CurveSource`."""
    out: list[tuple[str, str, Any, str]] = []
    if source.task == "binary":
        criterion = options.operating_point or "youden"
        for plot, draw in binary_figures(source.counts[0], plots, None, level, criterion, exact, unit_range):
            out.append((plot, plot, partial(_binary_draw, draw), "image"))
    elif "roc" in plots:
        out.append(("roc", "roc", partial(one_vs_rest_figure, source), "image"))
    return out


def _binary_draw(draw: Any, class_names: ClassNames, ax: Any = None) -> Figure:
    return draw(pos_label=class_name(class_names, 1), **({} if ax is None else {"ax": ax}))


def curve_plot_sources(
    metric: Any, plots: Sequence[str], options: ReportOptions, macro_auc: float | None = None
) -> list[PlotSource]:
    """The curve plots of ``metric`` among ``plots`` (a collective: call on every rank).

    ``options.confidence_level`` gives the AUC's DeLong interval and the marked point's Wilson bounds, at the
    metric's own ``confidence_level`` where it has one.
    """
    wanted = [plot for plot in plots if plot in CURVE_PLOTS]
    if not wanted:
        return []
    source = curve_source(metric, macro_auc)
    own_level = getattr(metric, "confidence_level", None)
    level = options.confidence_level and (own_level or options.confidence_level)
    sources = [
        PlotSource(plot, tag, build, kind)
        for plot, tag, build, kind in curve_builders(
            source, wanted, options, level, not metric.binned, unit_range=metric.input_format != "scores"
        )
    ]
    if "pr_curve_plugin" in wanted:
        sources += [
            PlotSource("pr_curve_plugin", tag, partial(_given, data), "pr_curve")
            for tag, data in pr_curve_plugin_data(source, options.class_names)
        ]
    return sources


def _given(data: Any, class_names: ClassNames) -> Any:
    return data


def per_class_plot_source(value: Any, name: str) -> PlotSource:
    """The sorted per-class bar chart of a computed per-class ``value`` (no collective: the value is synced)."""
    return PlotSource("per_class_values", "per_class_values", partial(_per_class_draw, to_numpy(value), name))


def _per_class_draw(values: np.ndarray, name: str, class_names: ClassNames) -> Figure:
    return plotting.plot_per_class_values(values, name, class_names)


def confusion_plot_source(counts: Any, threshold: float | None) -> PlotSource:
    """The confusion-matrix plot of gathered ``counts``; ``threshold`` (binary, multilabel) goes in the title."""
    return PlotSource("confusion_matrix", "confusion_matrix", partial(_confusion_draw, counts, threshold))


def _confusion_draw(counts: Any, threshold: float | None, class_names: ClassNames, ax: Any = None) -> Figure:
    return plotting.plot_confusion_matrix(counts, class_names, threshold=threshold, ax=ax)
