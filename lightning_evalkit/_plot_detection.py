"""Detection figures: COCO precision-recall curves per class, and per-class AP bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._curves import to_numpy
from lightning_evalkit._plot_base import MAX_CURVES, ClassNames, class_name, legend_below, new_figure, unit_axes

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _iou_index(iou_thresholds: Sequence[float], iou: float) -> int | None:
    matches = [i for i, t in enumerate(iou_thresholds) if abs(float(t) - iou) < 1e-6]
    return matches[0] if matches else None


def _named_classes(ap: np.ndarray, defined: list[int], limit: int) -> list[int]:
    """All defined classes when few; otherwise the best and the worst by AP, half the limit each."""
    if len(defined) <= limit:
        return defined
    ranked = sorted(defined, key=lambda k: (-ap[k], k))
    return ranked[: limit // 2] + ranked[len(ranked) - (limit - limit // 2) :]


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
    """Draw COCO precision-recall curves at the given IoU thresholds, per class (with its AP) and averaged.

    Above ten classes the five best and five worst classes by AP are drawn in colour and named, the others
    thin and grey; the mean curve always covers every class.

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
        >>> [axes.get_title() for axes in figure.axes], figure.axes[0].get_lines()[0].get_label()
        (['IoU = 0.50', 'IoU = 0.75'], '1 (AP = 0.500)')
    """
    values = to_numpy(precision)[:, :, :, 0, -1]
    recall = to_numpy(rec_thresholds)
    panels = [(iou, index) for iou in ious if (index := _iou_index(iou_thresholds, iou)) is not None]
    figure = new_figure(6.0 * max(len(panels), 1), 7.0)
    for panel, (iou, t) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), panel + 1)
        curves = values[t]  # (R, K)
        defined = [k for k in range(curves.shape[1]) if (curves[:, k] > -1).all()]
        ap = curves.mean(axis=0)  # COCO's AP at this IoU: the mean precision over the recall thresholds
        named = _named_classes(ap, defined, MAX_CURVES)
        for k in defined:
            if k not in named:
                axes.plot(recall, curves[:, k], color="0.7", linewidth=0.6, alpha=0.6)
        for k in named:
            label = f"{class_name(class_names, int(classes[k]))} (AP = {ap[k]:.3f})"
            axes.plot(recall, curves[:, k], linewidth=1.5, alpha=0.9, label=label)
        if defined:
            mean_curve = curves[:, defined].mean(axis=1)
            label = f"mean over {len(defined)} classes (AP = {float(mean_curve.mean()):.3f})"
            axes.plot(recall, mean_curve, color="black", linewidth=2.5, label=label)
        subtitle = f"IoU = {iou:.2f}"
        if len(named) < len(defined):
            subtitle += f"\n{len(named)} of {len(defined)} classes named: best and worst AP"
        unit_axes(axes, "Recall", "Precision", subtitle)
        legend_below(axes, columns=2, fontsize="small")
    detections = "" if max_detections is None else f", max {max_detections} detections"
    figure.suptitle(f"{title} (area all{detections})")
    return figure


def plot_per_class_ap(
    ap: Any,
    classes: Sequence[int],
    class_names: ClassNames = None,
    title: str = "AP per class (IoU 0.50:0.95)",
) -> Figure:
    """Draw per-class average precision as a horizontal bar chart, sized by the number of classes.

    The values are written in a column right of the axes, so neither the bars nor the mean line cross them.

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
    names = [class_name(class_names, int(c)) for c in classes]
    bar_inches = 0.32 if len(names) <= 40 else 0.22
    figure = new_figure(7.5, min(max(3.2, 1.6 + bar_inches * len(names)), 24.0))
    axes = figure.add_subplot()
    positions = np.arange(len(names))
    axes.barh(positions, np.where(defined, values, 0.0), color="tab:blue", height=0.7)
    fontsize = 9 if len(names) <= 40 else 7
    value_column = axes.get_yaxis_transform()  # x in axes fraction, y in data
    for position, value, ok in zip(positions, values, defined, strict=True):
        text = f"{value:.3f}" if ok else "n/a"
        axes.text(1.02, float(position), text, transform=value_column, va="center", fontsize=fontsize)
    if defined.any():
        mean_ap = float(values[defined].mean())
        axes.axvline(mean_ap, color="tab:red", linestyle="--")
        title = f"{title}\nmean over {int(defined.sum())} classes {mean_ap:.4f} (dashed line)"
    axes.set_yticks(positions, names, fontsize=fontsize)
    axes.set_ylim(len(names) - 0.5, -0.5)
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel("Average precision")
    axes.set_title(title)
    axes.grid(True, axis="x", alpha=0.3)
    return figure
