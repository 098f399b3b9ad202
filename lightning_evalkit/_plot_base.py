"""Shared pieces of the figure builders: a pyplot-free figure, class names, thinning and unit axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lightning_evalkit._curves import downsample_indices

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ClassNames = Sequence[str] | Mapping[int, str] | None

MAX_POINTS = 1000  # points per drawn curve; exact-mode curves can hold one point per distinct score
MAX_CURVES = 10  # above this many classes, only the top ones are drawn and named
CRITERION_NAMES = {"youden": "Youden", "closest_topleft": "closest to top-left"}


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


def unit_axes(axes: Axes, xlabel: str, ylabel: str, title: str) -> None:
    """Square [0, 1] axes with labels, title and a light grid."""
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)


def legend_below(axes: Axes, columns: int = 2, **kwargs: Any) -> None:
    """A legend under the axes (below the x label), so it never covers what the axes draw."""
    from matplotlib.transforms import ScaledTranslation

    handles, labels = axes.get_legend_handles_labels()
    if handles:
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
            **kwargs,
        )


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
