"""Per-class values as labelled horizontal bars: the drawing shared by per-class AP and per-class metric charts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit.plotting.base import (
    ClassNames,
    Margins,
    class_name,
    frame,
    framed_figure,
    set_title,
    text_inches,
    title_inches,
)
from lightning_evalkit.plotting.text import add_texts

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_BARS_INCHES = 24.0  # the bars of a per-class chart take at most this height


def per_class_bars(
    values: np.ndarray,
    classes: list[int],
    class_names: ClassNames,
    title: str,
    xlabel: str,
    mean_of: np.ndarray | None = None,
) -> Figure:
    """Horizontal bars of per-class values in [0, 1], each labelled left of the axes with its class name and value
    (-1 or NaN: "n/a"), with the mean over the defined ones of ``mean_of`` (default: the bars) as a dashed line."""
    defined = np.isfinite(values) & (values > -1)
    labels = [
        f"{class_name(class_names, int(c))}  {value:.3f}" if ok else f"{class_name(class_names, int(c))}  n/a"
        for c, value, ok in zip(classes, values, defined, strict=True)
    ]
    count = len(labels)
    pitch, points = (0.3, 9.0) if count <= 20 else (0.2, 8.0) if count <= 40 else (0.16, 7.0)
    if pitch * count > MAX_BARS_INCHES:  # above 150 classes the chart keeps its height and the labels shrink
        pitch = MAX_BARS_INCHES / count
        points = pitch * 72 * 0.8
    figure, (axes,) = framed_figure()
    positions = np.arange(count)
    _bars(axes, np.where(defined, values, 0.0))
    every = values if mean_of is None else mean_of
    every = every[np.isfinite(every) & (every > -1)]
    if every.size:
        mean = float(every.mean())
        axes.axvline(mean, color="tab:red", linestyle="--")
        title = f"{title}\nmean over {every.size} classes {mean:.4f} (dashed line)"
    # One right-aligned label per bar, left of the axes: the name, then its value (digits are equally wide, so
    # the values form a column); as one collection of glyph outlines, not tick objects or Text objects.
    axes.set_yticks([])
    name_column = axes.get_yaxis_transform()  # x in axes fraction, y in data
    ends = [(-0.015, float(position)) for position in positions]
    add_texts(axes, ends, labels, points, ["black"] * count, right=True, offset_transform=name_column)
    axes.set_ylim(count - 0.5, -0.5)
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel(xlabel)
    set_title(axes, title)
    axes.grid(True, axis="x", alpha=0.3)
    left = max((text_inches(label, points) for label in labels), default=0.0) + 0.25
    frame(figure, [axes], 4.8, max(pitch * count, 1.2), Margins(left, 0.62, 0.3, title_inches(title)))
    return figure


def _bars(axes: Any, lengths: np.ndarray, height: float = 0.7) -> None:
    """Horizontal bars at y = 0, 1, ... as one collection (``barh`` makes and bounds one patch per bar)."""
    from matplotlib.collections import PolyCollection

    top, bottom = np.arange(lengths.size) - height / 2, np.arange(lengths.size) + height / 2
    zeros = np.zeros_like(lengths)
    corners = np.stack([np.stack([zeros, lengths, lengths, zeros], 1), np.stack([top, top, bottom, bottom], 1)], 2)
    axes.add_collection(PolyCollection(list(corners), facecolors="tab:blue", edgecolors="none"), autolim=False)
