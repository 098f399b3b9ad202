"""The confusion-matrix figure: counts with row percentages, legible at any number of classes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.base import (
    FONT_POINTS,
    TITLE_POINTS,
    ClassNames,
    Margins,
    class_name,
    frame,
    given_or_framed,
    lines_inches,
    new_figure,
    set_title,
    title_inches,
    top_k,
)
from lightning_evalkit.plotting.text import add_texts, line_outline, text_width

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_MATRIX_CLASSES = 15  # above this, the top classes by support are drawn and the rest pooled into one row/column
MATRIX_INCHES = 4.8  # the side of a drawn matrix, unless its cells would be smaller or larger than these:
MIN_CELL_INCHES, MAX_CELL_INCHES = 0.42, 1.2
LABEL_GAP, AXIS_GAP = 0.06, 0.1  # inches from the matrix to the class names, from those to "Predicted" / "True"
COLOUR_BAR_MARGIN = 0.95  # right of the matrix: gap, bar, tick labels and the bar's label


def pool_top_classes(matrix: np.ndarray, labels: list[str], k: int) -> tuple[np.ndarray, list[str]]:
    """Keep the ``k`` classes with the most true samples (in their original order); pool the rest into "other".

    The pooled row holds every sample whose true class was pooled, the pooled column every prediction of a
    pooled class, so the total count is unchanged.

    Example:
        >>> pooled, names = pool_top_classes(np.array([[5, 1, 0], [0, 1, 0], [2, 0, 3]]), ["a", "b", "c"], 2)
        >>> pooled.tolist(), names
        ([[5, 0, 1], [2, 3, 0], [0, 0, 1]], ['a', 'c', 'other (1 class)'])
    """
    if matrix.shape[0] <= k:
        return matrix, labels
    kept = np.sort(top_k(matrix.sum(axis=1), k))
    rest = np.setdiff1d(np.arange(matrix.shape[0]), kept)
    groups = [[int(i)] for i in kept] + [rest.tolist()]
    pooled = np.array([[matrix[np.ix_(rows, cols)].sum() for cols in groups] for rows in groups])
    noun = "class" if rest.size == 1 else "classes"
    return pooled, [labels[i] for i in kept] + [f"other ({rest.size} {noun})"]


def pooled_correct(matrix: np.ndarray, k: int) -> int | None:
    """How many samples of the classes :func:`pool_top_classes` pools were predicted as their own class (the
    other->other cell also counts confusions among the pooled classes); None when nothing is pooled.

    Example:
        >>> pooled_correct(np.array([[5, 1, 0], [0, 1, 2], [2, 3, 3]]), 1), pooled_correct(np.eye(2), 2)
        (6, None)
    """
    if matrix.shape[0] <= k:
        return None
    kept = top_k(matrix.sum(axis=1), k)
    rest = np.setdiff1d(np.arange(matrix.shape[0]), kept)
    return int(np.diagonal(matrix)[rest].sum())


def _rotate(labels: list[str]) -> bool:
    return len(labels) > 4 or max(len(label) for label in labels) > 12


def _class_labels(figure: Figure, axes: Axes, labels: list[str]) -> None:
    """The class names beside the rows and under the columns, and the axis names, as plain texts of the figure:
    tick objects cost more to build than the text they show, and the framed figure's margins leave room."""
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory, composite_transform_factory

    def shifted(transform: Any, right: float, up: float) -> Any:  # moved by inches
        return composite_transform_factory(transform, ScaledTranslation(right, up, figure.dpi_scale_trans))

    rows = shifted(blended_transform_factory(axes.transAxes, axes.transData), -LABEL_GAP, 0.0)
    columns = shifted(blended_transform_factory(axes.transData, axes.transAxes), 0.0, -LABEL_GAP)
    rotate = _rotate(labels)
    for index, label in enumerate(labels):
        figure.text(0.0, index, label, transform=rows, ha="right", va="center")
        figure.text(
            index,
            0.0,
            label,
            transform=columns,
            ha="right" if rotate else "center",
            va="top",
            rotation=45 if rotate else 0,
            rotation_mode="anchor" if rotate else "default",
        )
    # The axis names just clear of the class names (measured as the margins are).
    longest, below = _label_room(labels)
    down = shifted(axes.transAxes, 0.0, -below - AXIS_GAP)
    figure.text(0.5, 0.0, "Predicted", transform=down, ha="center", va="top")
    true = shifted(axes.transAxes, -longest - LABEL_GAP - AXIS_GAP, 0.0)
    figure.text(0.0, 0.5, "True", transform=true, ha="right", va="center", rotation=90)


def _label_room(labels: list[str]) -> tuple[float, float]:
    """``(longest, below)``: the width of the longest class name beside the rows, and how far the column names
    reach under the matrix (a name turned 45 degrees drops by its width plus its height, times sin 45), inches."""
    longest = max(text_width(label, FONT_POINTS) for label in labels)
    height = lines_inches(1)
    return longest, LABEL_GAP + ((longest + height) * 0.71 if _rotate(labels) else height)


def _draw_matrix(
    axes: Axes,
    matrix: np.ndarray,
    labels: list[str],
    title: str,
    cell_inches: float,
    ticks: bool = True,
    outlines: bool = False,
    correct_in_pool: int | None = None,
) -> Any:
    """Heat map, class names (ticks, or plain texts where the margins are ours) and cell texts (as one collection
    of glyph outlines, or as ``Text`` objects in a caller's axes, which the caller may want to restyle)."""
    # Colour by the row share (recall per true class) so unbalanced classes stay readable.
    row_sums = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, row_sums, out=np.zeros_like(matrix, dtype=np.float64), where=row_sums > 0)
    last = len(labels) - 1
    if correct_in_pool is not None and row_sums[last, 0] > 0:  # shade the pooled cell by its correct share only
        share[last, last] = correct_in_pool / row_sums[last, 0]
    image = axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    if ticks:
        positions = np.arange(len(labels))
        rotate = _rotate(labels)
        axes.set_xticks(positions, labels, rotation=45 if rotate else 0, ha="right" if rotate else "center")
        axes.set_yticks(positions, labels)
    else:
        axes.set_xticks([])
        axes.set_yticks([])
        _class_labels(axes.get_figure(), axes, labels)  # type: ignore[arg-type]
    if ticks:
        axes.set_xlabel("Predicted")
        axes.set_ylabel("True")
    set_title(axes, title)
    cells, texts, colours = _cell_texts(matrix, share, correct_in_pool)
    # One size for the cells; the pooled cell alone shrinks where its two counts are wider than that allows.
    pooled = correct_in_pool is not None and cells[-1] == (last, last)
    fontsize = _cell_points(texts[:-1] if pooled else texts, cell_inches)
    scales = [1.0] * len(texts)
    if pooled:
        scales[-1] = min(_cell_points(texts[-1:], cell_inches) / fontsize, 1.0)
    if outlines:
        add_texts(axes, cells, texts, fontsize, colours, scales=scales)  # one artist: Text objects drew slowly
        return image
    for (x, y), text, colour, scale in zip(cells, texts, colours, scales, strict=True):
        size = fontsize * scale
        cell = axes.text(x, y, text, ha="center", va="center", color=colour, fontsize=size, linespacing=1.2)
        cell.set_in_layout(False)  # inside the axes: a layout engine need not measure them
    return image


def _cell_texts(
    matrix: np.ndarray, share: np.ndarray, correct_in_pool: int | None
) -> tuple[list[tuple[float, float]], list[str], list[str]]:
    """``(positions, texts, colours)`` of the cells: each count and its row share; the pooled other->other cell
    its correct count, then "+" the confusions among the pooled classes (the title says so)."""
    last = matrix.shape[0] - 1
    write_zeros = matrix.shape[0] <= 10  # text is most of the drawing time: above 10 classes blank means 0
    cells: list[tuple[float, float]] = []
    texts: list[str] = []
    colours: list[str] = []
    for (row, col), count in np.ndenumerate(matrix):
        if count == 0 and not write_zeros:
            continue
        cells.append((col, row))
        text = f"{int(count)}\n{100 * share[row, col]:.1f}%" if count > 0 else "0"
        if correct_in_pool is not None and row == col == last:
            text = f"{correct_in_pool}\n+{int(count) - correct_in_pool}"
        texts.append(text)
        colours.append("white" if share[row, col] > 0.5 else "black")
    return cells, texts, colours


def _cell_points(texts: list[str], cell_inches: float) -> float:
    """The cell texts' size: two lines in a cell (a quarter of its height each), the widest line within 90% of it.

    Example:
        >>> round(_cell_points(["7\\n1.0%"], 1.0), 2), round(_cell_points(["123456\\n+123456"], 0.42), 2)
        (12.0, 5.85)
    """
    widest = max((line_outline(line)[2] for text in texts for line in text.split("\n")), default=1.0)
    return float(np.clip(min(cell_inches * 72 * 0.24, 0.9 * cell_inches * 72 / widest), 5.0, 12.0))


def _threshold_text(threshold: float | None) -> str:
    return "" if threshold is None else f", threshold {threshold:.3g}"


def plot_confusion_matrix(
    matrix: Any,
    class_names: ClassNames = None,
    title: str = "Confusion matrix",
    threshold: float | None = None,
    max_classes: int = MAX_MATRIX_CLASSES,
    ax: Axes | None = None,
) -> Figure:
    """Draw a confusion matrix as a heat map (rows true, columns predicted), each count with its row percentage.

    Args:
        matrix: (C, C) counts for binary or multiclass, or (L, 2, 2) for multilabel (one panel per label).
        class_names: names of the classes (labels for multilabel); defaults to their indices.
        title: the figure title.
        threshold: the decision threshold the counts were taken at (binary and multilabel), shown in the title.
        max_classes: above this many classes, the ``max_classes`` with the most true samples are drawn and the
            others pooled into one "other" row and column; the title says so.
        ax: axes to draw a (C, C) matrix into; by default a new figure.

    Returns:
        The figure. Colours and percentages show each row's share (recall per true class).

    Example:
        >>> figure = plot_confusion_matrix([[50, 3], [4, 43]], class_names=["benign", "malignant"], threshold=0.5)
        >>> figure.axes[0].get_title()
        'Confusion matrix (n = 100, threshold 0.5)'
    """
    counts = to_numpy(matrix)
    if counts.ndim == 3:
        if ax is not None:
            raise ValueError("Expected `ax=None` for a multilabel (L, 2, 2) matrix, one panel per label, but got axes.")
        return _plot_multilabel_confusion(counts, class_names, title, threshold)
    num_classes = counts.shape[0]
    labels = [class_name(class_names, i) for i in range(num_classes)]
    correct_in_pool = pooled_correct(counts, max_classes)
    counts, labels = pool_top_classes(counts, labels, max_classes)
    shown = len(labels)
    figure, axes, framed = given_or_framed(ax)
    title = f"{title} (n = {int(counts.sum())}{_threshold_text(threshold)})"
    if shown < num_classes:
        title += f"\n{shown - 1} of {num_classes} classes with the most samples; the rest pooled as 'other'"
        confused = int(counts[-1, -1]) - int(correct_in_pool or 0)
        title += f"\nother->other: {correct_in_pool} correct + {confused} confused among the pooled classes"
    if shown > 10:
        title += "\nblank cells: 0"
    cell_inches = float(np.clip(MATRIX_INCHES / shown, MIN_CELL_INCHES, MAX_CELL_INCHES))
    if not framed:
        cell_inches = max(ax.get_window_extent().height / 100 / shown, 0.1)  # type: ignore[union-attr]
    image = _draw_matrix(
        axes, counts, labels, title, cell_inches, ticks=not framed, outlines=framed, correct_in_pool=correct_in_pool
    )
    if not framed:
        figure.colorbar(image, ax=axes, label="share of the true class (row %)", shrink=0.8)
        return figure
    side = shown * cell_inches
    frame(figure, [axes], side, side, _matrix_margins(labels, title, side))
    box = axes.get_position()
    inch = 1.0 / figure.get_figwidth()
    colour_axes = figure.add_axes((box.x1 + 0.15 * inch, box.y0 + 0.1 * box.height, 0.18 * inch, 0.8 * box.height))
    figure.colorbar(image, cax=colour_axes, label="share of the true class (row %)")
    return figure


def _matrix_margins(labels: list[str], title: str, side: float) -> Margins:
    """Room for the class names on both axes, the axis names, the colour bar right of the matrix and the title
    (the sides widened where the title is wider than the matrix and its margins)."""
    longest, below = _label_room(labels)
    axis_name = AXIS_GAP + lines_inches(1) + 0.08
    left, right = longest + LABEL_GAP + axis_name, COLOUR_BAR_MARGIN
    short = text_width(title, TITLE_POINTS) + 0.2 - (left + side + right)
    widen = max(short, 0.0) / 2
    return Margins(left + widen, below + axis_name, right + widen, title_inches(title))


def _plot_multilabel_confusion(
    counts: np.ndarray, class_names: ClassNames, title: str, threshold: float | None
) -> Figure:
    num_labels = counts.shape[0]
    columns = min(num_labels, 4)
    rows = -(-num_labels // columns)
    figure = new_figure(3.4 * columns, 3.2 * rows + 0.6)
    for label in range(num_labels):
        axes = figure.add_subplot(rows, columns, label + 1)
        _draw_matrix(axes, counts[label], ["0", "1"], class_name(class_names, label), cell_inches=1.0)
    figure.suptitle(f"{title} per label{_threshold_text(threshold)} (rows: true, columns: predicted)")
    return figure
