"""F1, precision and recall against the detections' confidence, the best-F1 threshold marked."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.base import frame, given_or_framed, legend_below, thin, unit_axes, unit_margins

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_f1_confidence(
    thresholds: Any,
    f1: Any,
    precision: Any,
    recall: Any,
    best_threshold: float | None = None,
    title: str = "F1 against confidence",
) -> Figure:
    """Draw macro F1, precision and recall against the score threshold, and mark the best-F1 threshold.

    Args:
        thresholds: the score thresholds, ascending (a detection counts where its score is at least one).
        f1: macro F1 at each threshold.
        precision: macro precision at each threshold.
        recall: macro recall at each threshold.
        best_threshold: the threshold to mark (NaN or None: none).
        title: the axes title.

    Returns:
        The figure.

    Example:
        >>> figure = plot_f1_confidence([0.2, 0.5, 0.9], [0.5, 0.8, 0.4], [0.4, 0.8, 1.0], [0.9, 0.8, 0.25], 0.5)
        >>> [line.get_label() for line in figure.axes[0].get_lines()][:3]
        ['F1 (best 0.800 at 0.5)', 'precision', 'recall']
    """
    x, f, p, r = (to_numpy(a).astype(np.float64).reshape(-1) for a in (thresholds, f1, precision, recall))
    x, f, p, r = thin(x, f, p, r)
    figure, axes, _ = given_or_framed(None)
    best = None if best_threshold is None or math.isnan(best_threshold) else float(best_threshold)
    at = int(np.searchsorted(x, best)) if best is not None and x.size else None
    label = "F1" if at is None or at >= x.size else f"F1 (best {f[at]:.3f} at {best:.3g})"
    # a threshold's value holds from the previous threshold up to it: the steps rise to the left
    axes.plot(x, f, color="tab:blue", linewidth=2, label=label, drawstyle="steps-pre")
    axes.plot(x, p, color="tab:orange", linewidth=1.2, label="precision", drawstyle="steps-pre")
    axes.plot(x, r, color="tab:green", linewidth=1.2, label="recall", drawstyle="steps-pre")
    unit_axes(axes, "Confidence (score threshold)", "Macro average over classes", title)
    if best is not None and at is not None and at < x.size:
        axes.axvline(best, color="gray", linestyle="--", linewidth=1)
        axes.plot([best], [f[at]], "o", color="tab:blue", markersize=7)
    if x.size:  # scores need not be probabilities; recall passes 1 where crowd ground truth is matched
        axes.set_xlim(min(-0.01, x.min()), max(1.01, x.max()))
        axes.set_ylim(-0.01, max(1.01, float(np.nanmax(np.concatenate([f, p, r]))) * 1.02))
    else:
        axes.text(0.5, 0.5, "no detections", ha="center", va="center", color="gray")
    _, height = legend_below(axes, columns=3)
    frame(figure, [axes], 4.6, 4.0, unit_margins(title, height))
    return figure
