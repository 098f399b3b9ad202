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
    values: Any,
    name: str,
    class_names: ClassNames = None,
    classes: Any = None,
    k: int = 15,
    title: str | None = None,
) -> Figure:
    """Draw one per-class metric (e.g. sensitivity per class) as horizontal bars sorted by value, best first.

    Above ``MAX_ALL_CLASSES`` classes only the ``k`` best and the ``k`` worst defined classes are drawn, the
    rows between them replaced by one marked row that says how many classes are not drawn.

    Args:
        values: one value per class in [0, 1]; NaN (undefined for that class) is drawn as "n/a", last; above
            ``MAX_ALL_CLASSES`` classes the undefined ones are counted in the title instead.
        name: the metric's name, on the axis and (unless ``title`` is given) in the title.
        class_names: names for the class labels.
        classes: the class label of each value (default: 0, 1, ...).
        k: how many of the best and of the worst classes are drawn above ``MAX_ALL_CLASSES`` classes.
        title: the first title line (default: "<name> per class"); the lines under it say how many classes are
            drawn and the mean.

    Returns:
        The figure; the mean line is over every defined class, drawn or not.

    Example:
        >>> figure = plot_per_class_values([0.5, 0.9, float("nan")], "sensitivity", ["a", "b", "c"])
        >>> figure.axes[0].text_collections[0].texts
        ['b  0.900', 'a  0.500', 'c  n/a']
    """
    numbers = to_numpy(values).reshape(-1).astype(np.float64)
    labels = np.arange(numbers.size) if classes is None else to_numpy(classes).reshape(-1).astype(np.int64)
    order = np.argsort(-np.nan_to_num(numbers, nan=-np.inf), kind="stable")
    heading = f"{name} per class" if title is None else title
    if numbers.size <= MAX_ALL_CLASSES:
        return per_class_bars(numbers[order], labels[order].tolist(), class_names, heading, name, mean_of=numbers)
    order, heading, gap = _best_and_worst(numbers, order, k, heading)
    return per_class_bars(numbers[order], labels[order].tolist(), class_names, heading, name, numbers, gap)


def _best_and_worst(
    numbers: np.ndarray, order: np.ndarray, k: int, heading: str
) -> tuple[np.ndarray, str, tuple[int, str] | None]:
    """The drawn classes (the ``k`` best and ``k`` worst defined ones, or every defined one where that is all), the
    title saying how many of how many, and the gap row between the best and the worst.

    Example:
        >>> values = np.array([0.1 * (i % 10) for i in range(40)])
        >>> values[0] = np.nan
        >>> order, heading, gap = _best_and_worst(values, np.argsort(-np.nan_to_num(values, nan=-1)), 2, "x")
        >>> heading.split("\\n")[1:], gap
        (['4 of 40 classes shown: the best 2 and the worst 2', '(1 class n/a: undefined)'], (2, '35 classes not shown'))
    """
    defined = order[np.isfinite(numbers[order])]
    undefined = numbers.size - defined.size
    gap = None
    if defined.size > 2 * k:
        gap = (k, f"{defined.size - 2 * k} classes not shown")
        defined = np.concatenate([defined[:k], defined[-k:]])
        heading += f"\n{defined.size} of {numbers.size} classes shown: the best {k} and the worst {k}"
    else:
        heading += f"\n{defined.size} of {numbers.size} classes shown: every defined one"
    if undefined:
        heading += f"\n({undefined} {'class' if undefined == 1 else 'classes'} n/a: undefined)"
    return defined, heading, gap
