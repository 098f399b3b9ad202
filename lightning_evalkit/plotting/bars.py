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
    title_inches,
)
from lightning_evalkit.plotting.text import add_texts, text_width

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_BARS_INCHES = 24.0  # the bars of a per-class chart take at most this height
BARS_WIDTH = 4.8  # inches, the length of a bar of 1


def per_class_bars(
    values: np.ndarray,
    classes: list[int],
    class_names: ClassNames,
    title: str,
    xlabel: str,
    mean_of: np.ndarray | None = None,
    gap: tuple[int, str] | None = None,
) -> Figure:
    """Horizontal bars of per-class values in [0, 1], each labelled left of the axes with its class name and value
    (-1 or NaN: "n/a"), with the mean over the defined ones of ``mean_of`` (default: the bars) as a dashed line.

    ``gap`` ``(bar, note)``: an empty row before that bar, between two lines, with ``note`` in it (the classes
    not drawn between the best and the worst).
    """
    defined = np.isfinite(values) & (values > -1)
    labels = [
        f"{class_name(class_names, int(c))}  {value:.3f}" if ok else f"{class_name(class_names, int(c))}  n/a"
        for c, value, ok in zip(classes, values, defined, strict=True)
    ]
    positions = np.arange(len(labels), dtype=np.float64)
    if gap is not None:
        positions[gap[0] :] += 1
    rows = len(labels) + (gap is not None)
    pitch, points = _pitch(rows)
    figure, (axes,) = framed_figure()
    _bars(axes, np.where(defined, values, 0.0), positions)
    every = values if mean_of is None else mean_of
    every = every[np.isfinite(every) & (every > -1)]
    if every.size:
        mean = float(every.mean())
        axes.axvline(mean, color="tab:red", linestyle="--")
        title = f"{title}\nmean over {every.size} classes {mean:.4f} (dashed line)"
    # One right-aligned label per bar, left of the axes: the name, then its value (digits are equally wide, so
    # the values form a column); as one collection of glyph outlines, not tick objects or Text objects.
    axes.set_yticks([])
    ends = [(-0.015, float(position)) for position in positions]
    add_texts(
        axes, ends, labels, points, ["black"] * len(labels), right=True, offset_transform=axes.get_yaxis_transform()
    )
    left = max((text_width(label, points) for label in labels), default=0.0) + 0.2  # the labels as drawn
    if gap is not None:
        _gap_row(axes, gap[0], gap[1], points, (left - 0.05) / BARS_WIDTH)
    axes.set_ylim(rows - 0.5, -0.5)
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel(xlabel)
    set_title(axes, title)
    axes.grid(True, axis="x", alpha=0.3)
    frame(figure, [axes], BARS_WIDTH, max(pitch * rows, 1.2), Margins(left, 0.62, 0.3, title_inches(title)))
    return figure


def _pitch(rows: int) -> tuple[float, float]:
    """``(inches per bar, label points)``: roomy for few bars; above 150 the chart keeps its height."""
    pitch, points = (0.3, 9.0) if rows <= 20 else (0.2, 8.0) if rows <= 40 else (0.16, 7.0)
    if pitch * rows > MAX_BARS_INCHES:
        pitch = MAX_BARS_INCHES / rows
        points = pitch * 72 * 0.8
    return pitch, points


def _gap_row(axes: Any, row: int, note: str, points: float, labels_width: float) -> None:
    """Row ``row`` left empty between two solid lines, across the axes and the label column (``labels_width`` in
    axes widths), ``note`` in it."""
    for edge in (row - 0.5, row + 0.5):
        line = axes.axhline(edge, xmin=-labels_width, xmax=1.0, color="0.25", linewidth=1.0)
        line.set_clip_on(False)  # across the label column too
    note_box = {"facecolor": "white", "edgecolor": "none", "pad": 1.0}  # the mean line passes behind the note
    axes.text(
        0.5, row, note, transform=axes.get_yaxis_transform(), ha="center", va="center", fontsize=points, bbox=note_box
    )


def _bars(axes: Any, lengths: np.ndarray, positions: np.ndarray, height: float = 0.7) -> None:
    """Horizontal bars centred at y = ``positions`` as one collection (``barh`` makes and bounds one patch each)."""
    from matplotlib.collections import PolyCollection

    top, bottom = positions - height / 2, positions + height / 2
    zeros = np.zeros_like(lengths)
    corners = np.stack([np.stack([zeros, lengths, lengths, zeros], 1), np.stack([top, top, bottom, bottom], 1)], 2)
    axes.add_collection(PolyCollection(list(corners), facecolors="tab:blue", edgecolors="none"), autolim=False)
