"""Detection figures: COCO precision-recall curves per class, and per-class AP bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.bars import per_class_bars
from lightning_evalkit.plotting.base import (
    MAX_CURVES,
    ClassNames,
    class_name,
    frame,
    framed_figure,
    legend_below,
    title_inches,
    unit_axes,
    unit_margins,
)

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
    figure, all_axes = framed_figure(max(len(panels), 1))
    legend_width, legend_height, subtitle = 0.0, 0.0, ""
    for axes, (iou, t) in zip(all_axes, panels, strict=False):
        curves = values[t]  # (R, K)
        defined = [k for k in range(curves.shape[1]) if (curves[:, k] > -1).all()]
        ap = curves.mean(axis=0)  # COCO's AP at this IoU: the mean precision over the recall thresholds
        named = _named_classes(ap, defined, MAX_CURVES)
        _draw_grey(axes, recall, curves[:, [k for k in defined if k not in named]])
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
        width, height = legend_below(axes, columns=2, small=True)
        legend_width, legend_height = max(legend_width, width), max(legend_height, height)
    detections = "" if max_detections is None else f", max {max_detections} detections"
    suptitle = f"{title} (area all{detections})"
    margins = unit_margins(subtitle, legend_height)
    frame(figure, all_axes, 3.8, 3.8, margins._replace(top=margins.top + title_inches(suptitle)), legend_width)
    figure.suptitle(suptitle, y=1.0 - 0.08 / figure.get_figheight(), va="top")
    return figure


def _draw_grey(axes: Any, recall: np.ndarray, curves: np.ndarray) -> None:
    """The unnamed classes' curves as one thin grey collection: one artist however many classes."""
    if curves.shape[1] == 0:
        return
    from matplotlib.collections import LineCollection

    segments = np.stack([np.broadcast_to(recall[:, None], curves.shape), curves], axis=-1).transpose(1, 0, 2)
    axes.add_collection(LineCollection(list(segments), colors="0.7", linewidths=0.6, alpha=0.6), autolim=False)


def plot_per_class_ap(
    ap: Any,
    classes: Sequence[int],
    class_names: ClassNames = None,
    title: str = "AP per class (IoU 0.50:0.95)",
) -> Figure:
    """Draw per-class average precision as a horizontal bar chart, sized by the number of classes.

    Each bar is labelled left of the axes with its class name and AP, so neither the bars nor the mean line
    cross a label.

    Args:
        ap: one AP per class; -1 or NaN marks a class without ground truth (drawn as "n/a").
        classes: the class labels, in the order of ``ap``.
        class_names: names for the labels (a sequence indexed by label, or a mapping label -> name).
        title: the axes title.

    Returns:
        The figure.

    Example:
        >>> figure = plot_per_class_ap([0.5, -1.0], classes=[0, 1], class_names=["circle", "square"])
        >>> figure.axes[0].text_collections[0].texts
        ['circle  0.500', 'square  n/a']
    """
    return per_class_bars(to_numpy(ap), list(classes), class_names, title, "Average precision")
