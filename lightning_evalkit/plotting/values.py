"""Named values as bars, and the ``Metric.plot()`` of a metric that has no curve: its value(s) as bars.

torchmetrics' ``Metric.plot(val=None, ax=None)`` returns ``(figure, axes)``; ``plot_value_metric`` keeps that
contract for any object with ``compute()``. Nothing here touches pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.base import figure_and_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


PlotOut = tuple["Figure", "Axes"]


_NOT_SCALARS = ("classes", "precision", "recall", "scores", "ious")


def _out(figure: Figure, ax: Axes | None) -> PlotOut:
    return figure, ax if ax is not None else figure.axes[0]


def _labelled_values(name: str, value: Any) -> list[tuple[str, float]]:
    """(label, value) for a scalar, a per-class vector (``name/i``) or a dict of those."""
    if isinstance(value, Mapping):
        classes = value.get("classes")
        out: list[tuple[str, float]] = []
        for key, item in value.items():
            if key in _NOT_SCALARS or not hasattr(item, "ndim") or item.ndim > 1:
                continue
            if item.ndim == 1 and classes is not None and classes.numel() == item.numel():
                out += [(f"{key}/{int(c)}", float(v)) for c, v in zip(classes.tolist(), item.tolist(), strict=True)]
            else:
                out += _labelled_values(key, item)
        return out
    values = to_numpy(value).reshape(-1)
    if np.ndim(to_numpy(value)) == 0:
        return [(name, float(values[0]))]
    return [(f"{name}/{index}", float(v)) for index, v in enumerate(values)]


def plot_values(
    values: list[tuple[str, float]],
    title: str,
    ax: Axes | None = None,
    intervals: list[tuple[float, float]] | None = None,
) -> Figure:
    """Horizontal bars of named values in [0, 1], each written beside its bar; -1 or NaN shown as "n/a".
    ``intervals`` (one (lower, upper) per value) adds whiskers and the bounds to the text where both are defined.

    Example:
        >>> figure = plot_values([("sensitivity", 0.75)], "Sensitivity", intervals=[(0.6, 0.85)])
        >>> figure.axes[0].texts[0].get_text()
        '0.7500 [0.600, 0.850]'
    """
    width = 6.5 if intervals is None else 7.5
    figure, axes = figure_and_axes(ax, width, min(1.6 + 0.35 * len(values), 20.0))
    numbers = np.array([v for _, v in values], dtype=np.float64)
    defined = np.isfinite(numbers) & (numbers > -1)
    positions = np.arange(len(values))
    axes.barh(positions, np.where(defined, numbers, 0.0), color="tab:blue", height=0.7)
    texts = [f"{number:.4f}" if ok else "n/a" for number, ok in zip(numbers, defined, strict=True)]
    if intervals is not None:
        bounds = np.array(intervals, dtype=np.float64).reshape(len(values), 2)
        drawn = defined & np.isfinite(bounds).all(1) & (bounds > -1).all(1)
        spans = np.clip(np.abs(np.stack([numbers - bounds[:, 0], bounds[:, 1] - numbers])), 0.0, None)
        axes.errorbar(numbers[drawn], positions[drawn], xerr=spans[:, drawn], fmt="none", ecolor="black", capsize=3)
        texts = [
            f"{text} [{lower:.3f}, {upper:.3f}]" if ok else text
            for text, (lower, upper), ok in zip(texts, bounds, drawn, strict=True)
        ]
    column = axes.get_yaxis_transform()
    for position, text in zip(positions, texts, strict=True):
        axes.text(1.02, float(position), text, transform=column, va="center")
    axes.set_yticks(positions, [label for label, _ in values])
    axes.set_ylim(len(values) - 0.5, -0.5)
    axes.set_xlim(0.0, max(1.0, float(numbers[defined].max(initial=0.0))))
    axes.set_title(title)
    axes.grid(True, axis="x", alpha=0.3)
    return figure


def plot_interval_metric(metric: Any, point: Any, lower: Any, upper: Any, ax: Axes | None = None) -> PlotOut:
    """A value with its interval (``point``, ``lower`` and ``upper`` alike: tensors, or dicts of the same keys)
    as bars with whiskers and the bounds written beside them."""
    name = type(metric).__name__
    values = _labelled_values(name, point)
    bounds = [
        (low, high)
        for (_, low), (_, high) in zip(_labelled_values(name, lower), _labelled_values(name, upper), strict=True)
    ]
    return _out(plot_values(values, name, ax, intervals=bounds), ax)


def plot_value_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """Sensitivity, Specificity, IoU metrics, and any metric given a scalar ``val``: its value(s) as bars."""
    value = metric.compute() if val is None else val
    name = type(metric).__name__
    return _out(plot_values(_labelled_values(name, value), name, ax), ax)
