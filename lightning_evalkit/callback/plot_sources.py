"""The callback's plotting path: from computed metric outputs to (tag, figure) pairs and PR-curve plugin data.

Each plot comes as a (name, builder) pair: the caller builds, renders, writes and drops one figure before the
next is built, and a plot that fails to build costs only that plot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from lightning_evalkit import plotting
from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.classification.auc_intervals import delong_interval_from_counts
from lightning_evalkit.classification.curve_points import (
    average_precision_from_counts,
    counts_on_uniform_grid,
    macro_roc,
    roc_points,
    to_numpy,
    trapezoid_auc,
)
from lightning_evalkit.classification.curves import _class_positives, _curve_counts_compute, _per_class_aucs
from lightning_evalkit.classification.operating_points import operating_point_from_counts
from lightning_evalkit.plotting import ClassNames
from lightning_evalkit.plotting.base import MAX_CURVES, MarkedPoint, class_name, top_k

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# What `EvalCallback(plots=[...])` accepts; `plots=True` means all of them.
PLOT_NAMES = (
    "roc",
    "sensitivity_specificity",
    "precision_recall",
    "confusion_matrix",
    "pr_curve_plugin",
    "detection_pr",
    "per_class_ap",
)

FigureBuilders = list[tuple[str, Callable[[], "Figure"]]]


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
    return (
        to_numpy(counts.thresholds),
        to_numpy(counts.tp),
        to_numpy(counts.fp),
        to_numpy(counts.tn),
        to_numpy(counts.fn),
    )


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
) -> FigureBuilders:
    """ROC with AUC (DeLong interval for exact counts with a ``level``) and the ``criterion`` point, sensitivity
    and specificity vs threshold with that point, and the PR curve of one class."""
    thresholds, tp, fp, tn, fn = _counts_numpy(counts)
    fpr, tpr, _ = roc_points(thresholds, tp, fp, tn, fn)
    point = marked_point(counts, criterion, level)
    builders: FigureBuilders = []
    if "roc" in wanted:
        auc = trapezoid_auc(fpr, tpr)
        interval = auc_interval(counts, level, exact)
        draw = partial(
            plotting.plot_roc, fpr, tpr, auc, pos_label=pos_label, auc_interval=interval, level=level, point=point
        )
        builders.append(("roc", draw))
    if "sensitivity_specificity" in wanted:
        rates = (thresholds, _rates(tp, fn), _rates(tn, fp))
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
        builders.append(
            (
                "precision_recall",
                partial(plotting.plot_precision_recall, precision, recall, ap, prevalence, pos_label=pos_label),
            )
        )
    return builders


def one_vs_rest_figure(source: CurveSource, class_names: ClassNames) -> Figure:
    """ROC of the classes with the most positives (all of them up to ten) and the macro average over all.

    With every class's counts the macro-average curve is drawn; otherwise its AUC over every class is given.
    """
    curves = [roc_points(*_counts_numpy(counts))[:2] for counts in source.counts]
    aucs = [trapezoid_auc(fpr, tpr) for fpr, tpr in curves]
    num_classes = len(source.support)
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
        class_indices=source.classes,
        num_classes=num_classes,
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
        (
            "pr_curve/" + class_name(class_names, c),
            counts_on_uniform_grid(*_counts_numpy(source.counts[position[c]])),
        )
        for c in sorted(chosen)
    ]


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


def detection_figures(
    result: Mapping[str, Any], metric: Any, class_names: ClassNames, wanted: Sequence[str]
) -> FigureBuilders:
    """PR curves at IoU 0.5 and 0.75 and the per-class AP bar chart from a MeanAveragePrecision result."""
    precision = to_numpy(result["precision"])
    labels = result.get("classes")
    classes = [int(c) for c in (to_numpy(labels).reshape(-1) if labels is not None else range(precision.shape[2]))]
    builders: FigureBuilders = []
    if "detection_pr" in wanted:
        draw = partial(
            plotting.plot_detection_pr_curves,
            precision,
            list(metric.rec_thresholds),
            list(metric.iou_thresholds),
            classes,
            class_names,
            max_detections=int(list(metric.max_detection_thresholds)[-1]),
        )
        builders.append(("detection_pr", draw))
    if "per_class_ap" in wanted:
        builders.append(
            (
                "per_class_ap",
                partial(plotting.plot_per_class_ap, per_class_ap(precision), classes, class_names),
            )
        )
    return builders


@single_threaded
def curve_source(metric: Any, result: Any = None) -> CurveSource:
    """The counts a curve metric's plots need (a collective under DDP: call on every rank).

    Up to ``MAX_MACRO_CURVE_CLASSES`` classes, every class's counts (``metric.curve_counts()``). Above, within
    one sync of the state: the positives of every class, the counts of the classes the plots draw (those with
    the most positives), each equal to its entry of the full list, and the macro-average AUC over every class,
    taken from ``result`` (the metric's computed value) where it holds it. Runs on one intra-op thread: the
    counts are many small tensor operations, and with another process holding one of 2 cores torch's thread
    pool made them slow (10 classes: 0.23 s on 2 threads, 0.007 s on one; see ``_threads``).
    """
    task = getattr(metric, "task", "binary")
    columns = int(getattr(metric, "columns", 1))
    if task == "binary" or columns <= MAX_MACRO_CURVE_CLASSES or not hasattr(metric, "_curve_state"):
        counts = metric.curve_counts()
        support = np.array([float(c.tp[0] + c.fn[0]) if c.tp.numel() else 0.0 for c in counts])  # positives
        return CurveSource(task, counts, list(range(len(counts))), support)
    macro_auc = _macro_auc_of(metric, result)
    with metric.sync_context(dist_sync_fn=metric.dist_sync_fn, should_sync=not metric._is_synced):
        state, grid = metric._curve_state(), metric._grid()
        support = _class_positives(state, task, columns, grid).double().numpy()
        shown = top_k(support, max(MAX_CURVES, MAX_PR_CURVE_CLASSES))
        counts = _curve_counts_compute(state, task, columns, grid, metric.input_format, torch.from_numpy(shown))
        if macro_auc is None:
            aucs = _per_class_aucs(state, task, columns, grid, metric.input_format)[0].numpy()
            macro_auc = float(np.nanmean(aucs)) if not np.isnan(aucs).all() else float("nan")
    return CurveSource(task, counts, shown.tolist(), support, macro_auc)


def _macro_auc_of(metric: Any, result: Any) -> float | None:
    """The macro-average AUC over every class that an AUROC's computed ``result`` holds, else None."""
    if result is None or type(metric).__name__ != "AUROC" or getattr(metric, "max_fpr", None) is not None:
        return None
    values = to_numpy(result).reshape(-1)
    if metric.average == "macro" and values.size == 1:
        return float(values[0])
    if metric.average == "none" and values.size > 1:
        return float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")
    return None


def plot_sources(
    items: Sequence[tuple[str, Any]],
    results: Mapping[str, Any],
    plots: Sequence[str],
    class_names: ClassNames,
    confidence_level: float | None = None,
    operating_point: str | None = None,
) -> dict[str, Any]:
    """Gather what the plots need: threshold counts, confusion counts, detection arrays (collectives).

    ``items`` are the callback's (name, metric) pairs, ``results`` their computed values, ``plots`` the wanted
    plot names, ``confidence_level`` and ``operating_point`` the callback's. Every rank must call this (the
    counts are gathered), even though only rank 0 draws; the intervals and the operating point are computed
    later, on rank 0, from the gathered counts (no further collective).
    """
    sources: dict[str, Any] = {}
    wants_curves = {"roc", "sensitivity_specificity", "precision_recall", "pr_curve_plugin"} & set(plots)
    found = next(((n, m) for n, m in items if callable(getattr(m, "curve_counts", None))), None)
    if found is not None and wants_curves:
        name, curve = found
        sources["curve"] = curve_source(curve, results.get(name))
        # the metric's own level wins, as for the logged bounds (`_confidence_intervals`)
        level = confidence_level and (getattr(curve, "confidence_level", None) or confidence_level)
        exact = not getattr(curve, "binned", False)
        sources["curve_options"] = {"level": level, "criterion": operating_point or "youden", "exact": exact}
        if "pr_curve_plugin" in plots:
            sources["pr_curve_plugin"] = pr_curve_plugin_data(sources["curve"], class_names)
    confusion_metrics: list[Any] = [m for _, m in items if callable(getattr(m, "confusion_counts", None))]
    # Prefer a ConfusionMatrix: Sensitivity/Specificity may use another threshold than the user expects.
    confusion_metrics.sort(key=lambda m: type(m).__name__ != "ConfusionMatrix")
    if confusion_metrics and "confusion_matrix" in plots:
        chosen = confusion_metrics[0]
        # The threshold decides binary and multilabel counts (multiclass takes the arg-max), so the title says it.
        threshold = getattr(chosen, "threshold", None) if getattr(chosen, "task", None) != "multiclass" else None
        sources["confusion"] = chosen.confusion_counts()
        sources["confusion_threshold"] = None if threshold is None else float(threshold)
    metrics = dict(items)
    for name, result in results.items():
        if isinstance(result, Mapping) and "precision" in result:
            sources["detection"] = (result, metrics[name])
            break
    return sources


def figure_builders(sources: Mapping[str, Any], plots: Sequence[str], class_names: ClassNames) -> FigureBuilders:
    """(tag, builder) pairs for every wanted plot that ``sources`` (from :func:`plot_sources`) can draw."""
    builders: FigureBuilders = []
    if "curve" in sources:
        source: CurveSource = sources["curve"]
        if source.task == "binary":
            options = sources.get("curve_options", {})
            builders += binary_figures(source.counts[0], plots, class_name(class_names, 1), **options)
        elif "roc" in plots:
            builders.append(("roc", partial(one_vs_rest_figure, source, class_names)))
    if "confusion" in sources:
        threshold = sources.get("confusion_threshold")
        draw = partial(plotting.plot_confusion_matrix, sources["confusion"], class_names, threshold=threshold)
        builders.append(("confusion_matrix", draw))
    if "detection" in sources:
        result, metric = sources["detection"]
        builders += detection_figures(result, metric, class_names, plots)
    return builders
