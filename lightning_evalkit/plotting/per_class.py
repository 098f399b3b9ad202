"""Per-class values of a classification metric as a sorted bar chart (the top and bottom classes above ~30)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.bars import per_class_bars
from lightning_evalkit.plotting.base import ClassNames

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_ALL_CLASSES = 30  # above this, only the best and the worst ``k`` classes are drawn


def plot_per_class_values(
    values: Any, name: str, class_names: ClassNames = None, classes: Any = None, k: int = 15
) -> Figure:
    """Draw one per-class metric (e.g. sensitivity per class) as horizontal bars sorted by value, best first.

    Args:
        values: one value per class in [0, 1]; NaN (undefined for that class) is drawn as "n/a", last.
        name: the metric's name, in the title and on the axis.
        class_names: names for the class labels.
        classes: the class label of each value (default: 0, 1, ...).
        k: above ``MAX_ALL_CLASSES`` classes, the ``k`` best and ``k`` worst defined classes are drawn; the title
            says how many of how many.

    Returns:
        The figure; the mean line is over every defined class, drawn or not.

    Example:
        >>> figure = plot_per_class_values([0.5, 0.9, float("nan")], "sensitivity", ["a", "b", "c"])
        >>> figure.axes[0].text_collections[0].texts
        ['b  0.900', 'a  0.500', 'c  n/a']
    """
    numbers = to_numpy(values).reshape(-1)
    labels = np.arange(numbers.size) if classes is None else to_numpy(classes).reshape(-1).astype(np.int64)
    order = np.argsort(-np.nan_to_num(numbers, nan=-np.inf), kind="stable")
    title = f"{name} per class"
    if numbers.size > MAX_ALL_CLASSES:
        defined = order[np.isfinite(numbers[order])]
        order = np.concatenate([defined[:k], defined[-k:]]) if defined.size > 2 * k else defined
        title += f"\n{order.size} of {numbers.size} classes: the best {k} and the worst {k}"
    figure = per_class_bars(numbers[order], labels[order].tolist(), class_names, title, name, mean_of=numbers)
    if numbers.size > MAX_ALL_CLASSES and order.size == 2 * k:  # a line between the best and the worst
        figure.axes[0].axhline(k - 0.5, color="black", linewidth=1.5)
    return figure
