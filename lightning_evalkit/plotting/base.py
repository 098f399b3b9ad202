"""Shared pieces of the figure builders: a pyplot-free figure, class names, thinning, unit axes and layout.

Figures the builders make themselves are laid out by hand (:func:`framed_figure`): margins come from estimated
text sizes, never from measuring rendered text. matplotlib's layout engines measure every tick label and title
on each draw, which cost about half the drawing time of a plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lightning_evalkit._core.arrays import downsample_indices
from lightning_evalkit.plotting.text import text_width

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ClassNames = Sequence[str] | Mapping[int, str] | None

MAX_POINTS = 1000  # points per drawn curve; exact-mode curves can hold one point per distinct score
MAX_CURVES = 10  # above this many classes, only the top ones are drawn and named
CRITERION_NAMES = {"youden": "Youden", "closest_topleft": "closest to top-left"}
FONT_POINTS = 10.0  # matplotlib's default font size; titles are "large" (1.2x), "small" is 1/1.2x
TITLE_POINTS = 12.0
SMALL_POINTS = 8.33
CHAR_EMS = 0.62  # a generous mean glyph width of DejaVu Sans in ems, so estimated text never overflows
LINE_EMS = 1.2  # matplotlib's line spacing


class Margins(NamedTuple):
    """Space around an axes, in inches."""

    left: float
    bottom: float
    right: float
    top: float


def text_inches(text: str, points: float = FONT_POINTS) -> float:
    """Estimated width of the longest line of ``text`` at ``points``, in inches.

    Example:
        >>> round(text_inches("0.0 and ROC"), 3)
        0.947
    """
    longest = max((len(line) for line in text.split("\n")), default=0)
    return longest * CHAR_EMS * points / 72.0


def lines_inches(lines: int, points: float = FONT_POINTS) -> float:
    """Height of ``lines`` lines of text at ``points``, in inches."""
    return lines * LINE_EMS * points / 72.0


def title_inches(title: str) -> float:
    """Room an axes title needs above the axes: its lines, the title pad and a border."""
    return lines_inches(title.count("\n") + 1, TITLE_POINTS) + 0.22


def unit_margins(title: str, legend_height: float = 0.0) -> Margins:
    """Margins of unit axes (tick labels 0.0-1.0, an axis label each side), with ``legend_height`` below."""
    below = 0.62 if legend_height == 0 else 0.5 + legend_height + 0.12
    return Margins(0.72, below, 0.3, title_inches(title))


def framed_figure(panels: int = 1) -> tuple[Figure, list[Axes]]:
    """A pyplot-free figure of ``panels`` axes side by side and no layout engine; :func:`frame` places them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(dpi=100)
    FigureCanvasAgg(figure)
    return figure, [figure.add_axes((panel / panels, 0.0, 1.0 / panels, 1.0)) for panel in range(panels)]


def frame(
    figure: Figure, axes: Sequence[Axes], width: float, height: float, margins: Margins, legend_width: float = 0.0
) -> None:
    """Size ``figure`` and place its ``axes`` side by side, each ``width`` x ``height`` inches within ``margins``.

    The positions are final (nothing is measured at draw time). ``legend_width``, of a legend centred below
    each axes, widens the side margins where the legend is wider than the axes.
    """
    overhang = max(0.0, (legend_width + 0.2 - width) / 2)
    left, right = max(margins.left, overhang), max(margins.right, overhang)
    panel_width = left + width + right
    figure_width, figure_height = len(axes) * panel_width, margins.bottom + height + margins.top
    figure.set_size_inches(figure_width, figure_height)
    for panel, each in enumerate(axes):
        left_edge = (panel * panel_width + left) / figure_width
        each.set_position((left_edge, margins.bottom / figure_height, width / figure_width, height / figure_height))


def legend_size(labels: Sequence[str], columns: int, points: float = FONT_POINTS) -> tuple[float, float]:
    """``(width, height)`` in inches of a frameless legend of ``labels`` in ``columns`` (column-major)."""
    if not labels:
        return 0.0, 0.0
    per_column = -(-len(labels) // columns)
    chunks = [labels[i : i + per_column] for i in range(0, len(labels), per_column)]
    em = points / 72.0
    # The labels as drawn (font advances, plus 3%), the handle and its pad beside each column.
    width = sum(max(1.03 * text_width(label, points) for label in chunk) + 2.8 * em for chunk in chunks)
    width += 2.0 * em * (len(chunks) - 1) + 0.8 * em
    heights = [sum(lines_inches(label.count("\n") + 1, points) + 0.5 * em for label in chunk) for chunk in chunks]
    return width, max(heights) + 0.8 * em


class MarkedPoint(NamedTuple):
    """An operating point to mark: how it was chosen, its threshold and rates, and (with a level) their intervals."""

    criterion: str
    threshold: float
    sensitivity: float
    specificity: float
    sensitivity_ci: tuple[float, float] | None = None
    specificity_ci: tuple[float, float] | None = None
    level: float | None = None


def percent(level: float) -> str:
    """A confidence level as a percentage: 0.95 -> "95%", 0.975 -> "97.5%"."""
    return f"{100 * level:.6g}%"


def with_interval(value: float, interval: tuple[float, float] | None, level: float | None, digits: int = 3) -> str:
    """``value`` and, when known, its interval: "0.823 (95% CI 0.753-0.894)".

    Example:
        >>> with_interval(0.8234, (0.7531, 0.8942), 0.95)
        '0.823 (95% CI 0.753-0.894)'
    """
    text = f"{value:.{digits}f}"
    if interval is None or level is None:
        return text
    return f"{text} ({percent(level)} CI {interval[0]:.{digits}f}-{interval[1]:.{digits}f})"


def point_label(point: MarkedPoint) -> str:
    """The legend entry of an operating point: criterion and threshold, then each rate with its interval."""
    name = CRITERION_NAMES.get(point.criterion, point.criterion)
    return (
        f"{name} point: threshold {point.threshold:.3g}\n"
        f"sensitivity {with_interval(point.sensitivity, point.sensitivity_ci, point.level)}\n"
        f"specificity {with_interval(point.specificity, point.specificity_ci, point.level)}"
    )


def error_span(value: float, interval: tuple[float, float] | None) -> list[list[float]] | None:
    """``errorbar``'s [[below], [above]] for ``value`` within ``interval`` (None: no bar)."""
    if interval is None:
        return None
    return [[max(value - interval[0], 0.0)], [max(interval[1] - value, 0.0)]]


def new_figure(width: float = 6.0, height: float = 5.0) -> Figure:
    """A figure on its own Agg canvas, registered nowhere, so it is freed when the caller drops it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def class_name(class_names: ClassNames, index: int) -> str:
    """The name of class ``index``, or the index itself where no name is given."""
    if isinstance(class_names, Mapping):
        return str(class_names.get(index, index))
    if class_names is not None and 0 <= index < len(class_names):
        return str(class_names[index])
    return str(index)


def thin(*arrays: np.ndarray) -> list[np.ndarray]:
    """At most MAX_POINTS evenly spaced points of each (equally long) array."""
    keep = downsample_indices(len(arrays[0]), MAX_POINTS)
    return [array[keep] for array in arrays]


def set_title(axes: Axes, title: str) -> None:
    """The axes title at a fixed height: matplotlib otherwise measures the tick labels at each draw to place it."""
    axes.set_title(title, y=1.0)


def unit_axes(axes: Axes, xlabel: str, ylabel: str, title: str) -> None:
    """Square [0, 1] axes with labels, title and a light grid."""
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    set_title(axes, title)
    axes.grid(True, alpha=0.3)


def legend_below(axes: Axes, columns: int = 2, small: bool = False) -> tuple[float, float]:
    """A legend under the axes (below the x label), so it never covers what the axes draw.

    Returns its estimated ``(width, height)`` in inches (see :func:`legend_size`), zero without entries.
    """
    from matplotlib.transforms import ScaledTranslation

    handles, labels = axes.get_legend_handles_labels()
    if not handles:
        return 0.0, 0.0
    # Half an inch below the axes whatever their height: clear of the tick labels and the x label.
    anchor = axes.transAxes + ScaledTranslation(0.0, -0.5, axes.figure.dpi_scale_trans)
    axes.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=anchor,
        ncols=columns,
        frameon=False,
        fontsize="small" if small else None,
        borderaxespad=0.0,
    )
    return legend_size(labels, columns, SMALL_POINTS if small else FONT_POINTS)


def top_k(values: Any, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``values`` (ties keep the lower index first), largest first.

    Example:
        >>> top_k([3, 9, 9, 1], 2).tolist()
        [1, 2]
    """
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    return order[: min(k, values.size)]


def figure_and_axes(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    """The given axes and their figure, or a new pyplot-free figure of ``width`` x ``height`` inches."""
    if ax is not None:
        return ax.get_figure(), ax  # type: ignore[return-value]
    figure = new_figure(width, height)
    return figure, figure.add_subplot()


def given_or_framed(ax: Axes | None) -> tuple[Figure, Axes, bool]:
    """``(figure, axes, framed)``: the given axes and their figure, or a new :func:`framed_figure` to :func:`frame`."""
    if ax is not None:
        return ax.get_figure(), ax, False  # type: ignore[return-value]
    figure, (axes,) = framed_figure()
    return figure, axes, True
