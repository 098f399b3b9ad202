"""Figure builders for classification and detection curves.

Each function takes values that are already computed (tensors, arrays or lists) and returns a
``matplotlib.figure.Figure`` attached to an Agg canvas. None of them touches ``matplotlib.pyplot``: no figure
is registered anywhere, so a figure is freed as soon as the caller drops it and a long training run cannot
leak figures. matplotlib is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._curves import downsample_indices, to_numpy

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ClassNames = Sequence[str] | Mapping[int, str] | None

__all__ = [
    "figure_to_rgb",
    "plot_confusion_matrix",
    "plot_detection_pr_curves",
    "plot_per_class_ap",
    "plot_precision_recall",
    "plot_roc",
    "plot_roc_one_vs_rest",
    "plot_sensitivity_specificity",
]

_MAX_POINTS = 1000  # points per drawn curve; exact-mode curves can hold one point per distinct score
_MAX_LEGEND_CLASSES = 10  # above this many classes, per-class curves are drawn thin and unlabelled


def _new_figure(width: float = 6.0, height: float = 5.0) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _class_name(class_names: ClassNames, index: int) -> str:
    if isinstance(class_names, Mapping):
        return str(class_names.get(index, index))
    if class_names is not None and 0 <= index < len(class_names):
        return str(class_names[index])
    return str(index)


def _thin(*arrays: np.ndarray) -> list[np.ndarray]:
    keep = downsample_indices(len(arrays[0]), _MAX_POINTS)
    return [array[keep] for array in arrays]


def _unit_axes(axes: Axes, xlabel: str, ylabel: str, title: str) -> None:
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)


def figure_to_rgb(figure: Figure) -> np.ndarray:
    """Render ``figure`` and return its pixels as an (H, W, 3) uint8 array, ready for ``add_image``.

    Example:
        >>> figure_to_rgb(plot_roc([0.0, 0.5, 1.0], [0.0, 0.8, 1.0])).shape
        (500, 600, 3)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def plot_roc(
    fpr: Any,
    tpr: Any,
    auc: float | None = None,
    youden: tuple[float, float, float] | None = None,
    title: str = "ROC curve",
) -> Figure:
    """Draw a binary ROC curve, with the AUC in the legend and the Youden-optimal point marked.

    Args:
        fpr: false positive rates, in the order of the curve.
        tpr: true positive rates.
        auc: area under the curve, shown in the legend.
        youden: ``(threshold, sensitivity, specificity)`` of the point that maximises Youden's J.
        title: the axes title.

    Returns:
        The figure.

    Example:
        >>> figure = plot_roc([0.0, 0.2, 1.0], [0.0, 0.9, 1.0], auc=0.85, youden=(0.5, 0.9, 0.8))
        >>> figure.axes[0].get_title()
        'ROC curve'
    """
    fpr_, tpr_ = _thin(to_numpy(fpr), to_numpy(tpr))
    figure = _new_figure()
    axes = figure.add_subplot()
    label = "ROC" if auc is None else f"ROC (AUC = {auc:.4f})"
    axes.plot(fpr_, tpr_, color="tab:blue", linewidth=2, label=label)
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="chance (AUC = 0.5)")
    if youden is not None:
        threshold, sensitivity, specificity = (float(v) for v in youden)
        axes.plot(
            [1 - specificity],
            [sensitivity],
            "o",
            color="tab:red",
            markersize=8,
            label=f"Youden: threshold {threshold:.3g}\nsens {sensitivity:.3f}, spec {specificity:.3f}",
        )
    _unit_axes(axes, "False positive rate (1 - specificity)", "True positive rate (sensitivity)", title)
    axes.legend(loc="lower right")
    return figure


def plot_sensitivity_specificity(
    thresholds: Any,
    sensitivity: Any,
    specificity: Any,
    youden_threshold: float | None = None,
    title: str = "Sensitivity and specificity vs threshold",
) -> Figure:
    """Draw sensitivity and specificity against the decision threshold (positive iff score >= threshold).

    Args:
        thresholds: thresholds, ascending.
        sensitivity: sensitivity at each threshold.
        specificity: specificity at each threshold.
        youden_threshold: threshold to mark with a vertical line.
        title: the axes title.

    Returns:
        The figure.

    Example:
        >>> figure = plot_sensitivity_specificity([0.1, 0.5, 0.9], [1.0, 0.8, 0.2], [0.1, 0.7, 1.0], 0.5)
        >>> [line.get_label() for line in figure.axes[0].get_lines()][:2]
        ['sensitivity', 'specificity']
    """
    thresholds_, sensitivity_, specificity_ = _thin(to_numpy(thresholds), to_numpy(sensitivity), to_numpy(specificity))
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(thresholds_, sensitivity_, color="tab:blue", linewidth=2, label="sensitivity", drawstyle="steps-post")
    axes.plot(
        thresholds_,
        specificity_,
        color="tab:orange",
        linewidth=2,
        label="specificity",
        drawstyle="steps-post",
    )
    if youden_threshold is not None:
        axes.axvline(float(youden_threshold), color="tab:red", linestyle="--", label=f"Youden {youden_threshold:.3g}")
    _unit_axes(axes, "Threshold (positive iff score >= threshold)", "Rate", title)
    axes.set_xlim(min(0.0, float(thresholds_.min(initial=0.0))), max(1.0, float(thresholds_.max(initial=1.0))))
    axes.legend(loc="center right")
    return figure


def plot_precision_recall(
    precision: Any,
    recall: Any,
    average_precision: float | None = None,
    prevalence: float | None = None,
    title: str = "Precision-recall curve",
) -> Figure:
    """Draw a precision-recall curve, with the average precision in the legend and the chance level.

    Args:
        precision: precision at each point of the curve.
        recall: recall at each point.
        average_precision: shown in the legend.
        prevalence: fraction of positives; a classifier guessing at random has this precision.
        title: the axes title.

    Returns:
        The figure.

    Example:
        >>> figure = plot_precision_recall([0.5, 0.8, 1.0], [1.0, 0.5, 0.0], average_precision=0.9)
        >>> len(figure.axes[0].get_lines())
        1
    """
    precision_, recall_ = _thin(to_numpy(precision), to_numpy(recall))
    figure = _new_figure()
    axes = figure.add_subplot()
    label = "PR curve" if average_precision is None else f"PR curve (AP = {average_precision:.4f})"
    axes.plot(recall_, precision_, color="tab:blue", linewidth=2, label=label, drawstyle="steps-post")
    if prevalence is not None:
        axes.axhline(float(prevalence), color="gray", linestyle="--", label=f"chance (prevalence {prevalence:.3f})")
    _unit_axes(axes, "Recall (sensitivity)", "Precision (positive predictive value)", title)
    axes.legend(loc="lower left")
    return figure


def _draw_matrix(axes: Axes, matrix: np.ndarray, labels: list[str], title: str, annotate: bool) -> Any:
    # Colour by the row-normalised value (recall per true class) so unbalanced classes stay readable.
    row_sums = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, row_sums, out=np.zeros_like(matrix, dtype=np.float64), where=row_sums > 0)
    image = axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(labels))
    axes.set_xticks(ticks, labels, rotation=45 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    axes.set_yticks(ticks, labels)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("True")
    axes.set_title(title)
    if annotate:
        for (row, col), count in np.ndenumerate(matrix):
            colour = "white" if normalised[row, col] > 0.5 else "black"
            axes.text(col, row, f"{int(count)}", ha="center", va="center", color=colour, fontsize=9)
    return image


def plot_confusion_matrix(matrix: Any, class_names: ClassNames = None, title: str = "Confusion matrix") -> Figure:
    """Draw a confusion matrix as a heat map (rows true, columns predicted) with the counts written in.

    Args:
        matrix: (C, C) counts for binary or multiclass, or (L, 2, 2) for multilabel (one panel per label).
        class_names: names of the classes (labels for multilabel); defaults to their indices.
        title: the figure title.

    Returns:
        The figure. Colours show each row's share (recall per true class); text shows the counts.

    Example:
        >>> figure = plot_confusion_matrix([[50, 3], [4, 43]], class_names=["benign", "malignant"])
        >>> figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()
        ('Predicted', 'True')
    """
    counts = to_numpy(matrix)
    if counts.ndim == 3:
        return _plot_multilabel_confusion(counts, class_names, title)
    num_classes = counts.shape[0]
    size = min(4.0 + 0.45 * num_classes, 16.0)
    figure = _new_figure(size + 1.0, size)
    axes = figure.add_subplot()
    labels = [_class_name(class_names, i) for i in range(num_classes)]
    image = _draw_matrix(axes, counts, labels, f"{title} (n = {int(counts.sum())})", annotate=num_classes <= 30)
    figure.colorbar(image, ax=axes, label="share of the true class")
    return figure


def _plot_multilabel_confusion(counts: np.ndarray, class_names: ClassNames, title: str) -> Figure:
    num_labels = counts.shape[0]
    columns = min(num_labels, 4)
    rows = -(-num_labels // columns)
    figure = _new_figure(3.2 * columns, 3.0 * rows + 0.5)
    for label in range(num_labels):
        axes = figure.add_subplot(rows, columns, label + 1)
        _draw_matrix(axes, counts[label], ["0", "1"], _class_name(class_names, label), annotate=True)
    figure.suptitle(f"{title} per label (rows: true, columns: predicted)")
    return figure


def plot_roc_one_vs_rest(
    fprs: Sequence[Any],
    tprs: Sequence[Any],
    aucs: Sequence[float],
    class_names: ClassNames = None,
    macro: tuple[Any, Any, float] | None = None,
    title: str = "One-vs-rest ROC curves",
) -> Figure:
    """Draw one ROC curve per class (one-vs-rest) and the macro-average curve.

    Args:
        fprs: per class, the false positive rates of its curve.
        tprs: per class, the true positive rates.
        aucs: per class, the AUC (NaN where undefined).
        class_names: names of the classes; defaults to their indices.
        macro: ``(fpr, tpr, auc)`` of the macro-average curve.
        title: the axes title.

    Returns:
        The figure. Above ten classes the per-class curves are thin and only the macro curve is labelled.

    Example:
        >>> figure = plot_roc_one_vs_rest([[0, 0, 1], [0, 1]], [[0, 1, 1], [0, 1]], [1.0, 0.5], ["a", "b"])
        >>> len(figure.axes[0].get_lines())
        3
    """
    figure = _new_figure(7.0, 6.0)
    axes = figure.add_subplot()
    many = len(fprs) > _MAX_LEGEND_CLASSES
    for index, (fpr, tpr, auc) in enumerate(zip(fprs, tprs, aucs, strict=True)):
        fpr_, tpr_ = _thin(to_numpy(fpr), to_numpy(tpr))
        label = None if many else f"{_class_name(class_names, index)} (AUC = {float(auc):.4f})"
        axes.plot(fpr_, tpr_, linewidth=0.8 if many else 1.5, alpha=0.5 if many else 0.9, label=label)
    if macro is not None:
        fpr_, tpr_ = _thin(to_numpy(macro[0]), to_numpy(macro[1]))
        label = f"macro average (mean AUC = {float(macro[2]):.4f})"
        axes.plot(fpr_, tpr_, color="black", linewidth=2.5, linestyle="-", label=label)
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="chance")
    _unit_axes(axes, "False positive rate", "True positive rate", title)
    axes.legend(loc="lower right", fontsize="small")
    return figure


def _iou_index(iou_thresholds: Sequence[float], iou: float) -> int | None:
    matches = [i for i, t in enumerate(iou_thresholds) if abs(float(t) - iou) < 1e-6]
    return matches[0] if matches else None


def plot_detection_pr_curves(
    precision: Any,
    rec_thresholds: Sequence[float],
    iou_thresholds: Sequence[float],
    classes: Sequence[int],
    class_names: ClassNames = None,
    ious: Sequence[float] = (0.5, 0.75),
    max_detections: int | None = None,
    title: str = "Detection precision-recall",
) -> Figure:
    """Draw COCO precision-recall curves at the given IoU thresholds, per class and averaged over classes.

    Args:
        precision: (T, R, K, A, M) precision as pycocotools' ``eval["precision"]`` holds it (-1 where
            undefined); the curves use area range "all" and the largest max-detections value.
        rec_thresholds: the R recall thresholds.
        iou_thresholds: the T IoU thresholds.
        classes: the K class labels, in the order of the K axis.
        class_names: names for the labels (a sequence indexed by label, or a mapping label -> name).
        ious: one panel per IoU threshold found in ``iou_thresholds``.
        max_detections: the largest max-detections value, named in the title.
        title: the figure title.

    Returns:
        The figure.

    Example:
        >>> precision = np.full((2, 3, 1, 4, 3), 0.5)
        >>> figure = plot_detection_pr_curves(precision, [0.0, 0.5, 1.0], [0.5, 0.75], classes=[1])
        >>> [axes.get_title() for axes in figure.axes]
        ['IoU = 0.50', 'IoU = 0.75']
    """
    values = to_numpy(precision)[:, :, :, 0, -1]
    recall = to_numpy(rec_thresholds)
    panels = [(iou, index) for iou in ious if (index := _iou_index(iou_thresholds, iou)) is not None]
    figure = _new_figure(6.0 * max(len(panels), 1), 5.5)
    many = len(classes) > _MAX_LEGEND_CLASSES
    for panel, (iou, t) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), panel + 1)
        curves = values[t]  # (R, K)
        defined = [k for k in range(curves.shape[1]) if (curves[:, k] > -1).all()]
        for k in defined:
            label = None if many else _class_name(class_names, int(classes[k]))
            axes.plot(recall, curves[:, k], linewidth=0.8 if many else 1.5, alpha=0.5 if many else 0.9, label=label)
        if defined:
            mean_curve = curves[:, defined].mean(axis=1)
            ap = float(mean_curve.mean())
            axes.plot(recall, mean_curve, color="black", linewidth=2.5, label=f"mean over classes (AP = {ap:.4f})")
        _unit_axes(axes, "Recall", "Precision", f"IoU = {iou:.2f}")
        axes.legend(loc="lower left", fontsize="small")
    detections = "" if max_detections is None else f", max {max_detections} detections"
    figure.suptitle(f"{title} (area all{detections})")
    return figure


def plot_per_class_ap(
    ap: Any,
    classes: Sequence[int],
    class_names: ClassNames = None,
    title: str = "AP per class (IoU 0.50:0.95)",
) -> Figure:
    """Draw per-class average precision as a horizontal bar chart with the values written in.

    Args:
        ap: one AP per class; -1 or NaN marks a class without ground truth (drawn as "n/a").
        classes: the class labels, in the order of ``ap``.
        class_names: names for the labels (a sequence indexed by label, or a mapping label -> name).
        title: the axes title.

    Returns:
        The figure.

    Example:
        >>> figure = plot_per_class_ap([0.5, -1.0], classes=[0, 1], class_names=["circle", "square"])
        >>> [label.get_text() for label in figure.axes[0].get_yticklabels()]
        ['circle', 'square']
    """
    values = to_numpy(ap)
    defined = np.isfinite(values) & (values > -1)
    names = [_class_name(class_names, int(c)) for c in classes]
    figure = _new_figure(7.0, min(1.5 + 0.35 * len(names), 20.0))
    axes = figure.add_subplot()
    positions = np.arange(len(names))
    axes.barh(positions, np.where(defined, values, 0.0), color="tab:blue")
    for position, value, ok in zip(positions, values, defined, strict=True):
        axes.text(
            value + 0.01 if ok else 0.01, float(position), f"{value:.3f}" if ok else "n/a", va="center", fontsize=9
        )
    if defined.any():
        mean_ap = float(values[defined].mean())
        axes.axvline(mean_ap, color="tab:red", linestyle="--", label=f"mean AP = {mean_ap:.4f}")
        axes.legend(loc="lower right")
    axes.set_yticks(positions, names)
    axes.invert_yaxis()
    axes.set_xlim(0.0, 1.1)
    axes.set_xlabel("Average precision")
    axes.set_title(title)
    axes.grid(True, axis="x", alpha=0.3)
    return figure
