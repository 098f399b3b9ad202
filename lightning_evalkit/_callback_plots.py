"""The callback's plotting path: from computed metric outputs to (tag, figure) pairs and PR-curve plugin data.

Each plot comes as a (name, builder) pair: the caller builds, renders, writes and drops one figure before the
next is built, and a plot that fails to build costs only that plot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit import plotting
from lightning_evalkit._curves import (
    average_precision_from_counts,
    counts_on_uniform_grid,
    macro_roc,
    to_numpy,
)
from lightning_evalkit.plotting import ClassNames

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


def _roc_points(counts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from lightning_evalkit.functional import roc_from_counts

    fpr, tpr, thresholds = roc_from_counts(counts)
    return to_numpy(fpr), to_numpy(tpr), to_numpy(thresholds)


def _auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    # Trapezoids over every distinct threshold: the exact AUC, ties counted as diagonal segments.
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)) if fpr.size > 1 else float("nan")


def _rates(numerator: np.ndarray, other: np.ndarray) -> np.ndarray:
    total = numerator + other
    return np.divide(numerator, total, out=np.full_like(total, np.nan), where=total > 0)


def binary_figures(counts: Any, wanted: Sequence[str]) -> FigureBuilders:
    """ROC with AUC and Youden point, sensitivity/specificity vs threshold, and the PR curve of one class."""
    from lightning_evalkit.functional import precision_recall_from_counts, youden_threshold

    builders: FigureBuilders = []
    fpr, tpr, thresholds = _roc_points(counts)
    youden: tuple[float, float, float] | None = None
    if not (np.isnan(fpr).any() or np.isnan(tpr).any()):
        threshold, sensitivity, specificity = youden_threshold(*(_tensor(a) for a in (fpr, tpr, thresholds)))
        youden = (float(threshold), float(sensitivity), float(specificity))
    if "roc" in wanted:
        builders.append(("roc", partial(plotting.plot_roc, fpr, tpr, _auc(fpr, tpr), youden)))
    tp, fp, tn, fn = (to_numpy(getattr(counts, name)) for name in ("tp", "fp", "tn", "fn"))
    if "sensitivity_specificity" in wanted:
        mark = None if youden is None else youden[0]
        builders.append(
            (
                "sensitivity_specificity",
                partial(
                    plotting.plot_sensitivity_specificity,
                    to_numpy(counts.thresholds),
                    _rates(tp, fn),
                    _rates(tn, fp),
                    mark,
                ),
            )
        )
    if "precision_recall" in wanted:
        precision, recall, _ = precision_recall_from_counts(counts)
        total = tp[0] + fp[0] + tn[0] + fn[0] if tp.size else 0.0
        prevalence = float((tp[0] + fn[0]) / total) if total else None
        ap = average_precision_from_counts(tp, fp, fn)
        builders.append(
            ("precision_recall", partial(plotting.plot_precision_recall, precision, recall, ap, prevalence))
        )
    return builders


def _tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array)


def one_vs_rest_figure(counts_per_class: Sequence[Any], class_names: ClassNames) -> Figure:
    """One ROC curve per class with the macro-average curve."""
    curves = [_roc_points(counts)[:2] for counts in counts_per_class]
    aucs = [_auc(fpr, tpr) for fpr, tpr in curves]
    grid, mean_tpr = macro_roc([c[0] for c in curves], [c[1] for c in curves])
    defined = [auc for auc in aucs if not np.isnan(auc)]
    mean_auc = float(np.mean(defined)) if defined else float("nan")
    return plotting.plot_roc_one_vs_rest(
        [c[0] for c in curves], [c[1] for c in curves], aucs, class_names, macro=(grid, mean_tpr, mean_auc)
    )


def pr_curve_plugin_data(
    counts_per_class: Sequence[Any], task: str, class_names: ClassNames
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Counts resampled for TensorBoard's PR-curve plugin: one entry for binary, one per class otherwise."""
    entries = []
    for index, counts in enumerate(counts_per_class):
        suffix = "" if task == "binary" else "/" + plotting._class_name(class_names, index)
        entries.append(
            (
                "pr_curve" + suffix,
                counts_on_uniform_grid(counts.thresholds, counts.tp, counts.fp, counts.tn, counts.fn),
            )
        )
    return entries


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


def plot_sources(
    items: Sequence[tuple[str, Any]], results: Mapping[str, Any], plots: Sequence[str], class_names: ClassNames
) -> dict[str, Any]:
    """Gather what the plots need: threshold counts, confusion counts, detection arrays (collectives).

    ``items`` are the callback's (name, metric) pairs, ``results`` their computed values, ``plots`` the wanted
    plot names. Every rank must call this (the counts are gathered), even though only rank 0 draws.
    """
    sources: dict[str, Any] = {}
    wants_curves = {"roc", "sensitivity_specificity", "precision_recall", "pr_curve_plugin"} & set(plots)
    curve: Any = next((m for _, m in items if callable(getattr(m, "curve_counts", None))), None)
    if curve is not None and wants_curves:
        task, counts = getattr(curve, "task", "binary"), curve.curve_counts()
        sources["curve"] = (task, counts)
        if "pr_curve_plugin" in plots:
            sources["pr_curve_plugin"] = pr_curve_plugin_data(counts, task, class_names)
    confusion_metrics: list[Any] = [m for _, m in items if callable(getattr(m, "confusion_counts", None))]
    # Prefer a ConfusionMatrix: Sensitivity/Specificity may use another threshold than the user expects.
    confusion_metrics.sort(key=lambda m: type(m).__name__ != "ConfusionMatrix")
    if confusion_metrics and "confusion_matrix" in plots:
        sources["confusion"] = confusion_metrics[0].confusion_counts()
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
        task, counts = sources["curve"]
        if task == "binary":
            builders += binary_figures(counts[0], plots)
        elif "roc" in plots:
            builders.append(("roc", partial(one_vs_rest_figure, counts, class_names)))
    if "confusion" in sources:
        builders.append(
            ("confusion_matrix", partial(plotting.plot_confusion_matrix, sources["confusion"], class_names))
        )
    if "detection" in sources:
        result, metric = sources["detection"]
        builders += detection_figures(result, metric, class_names, plots)
    return builders
