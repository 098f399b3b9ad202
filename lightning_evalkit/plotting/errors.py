"""Where detection errors come from (TIDE): the mAP each kind of error costs, as a bar chart."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit.plotting.base import Margins, frame, framed_figure, set_title, title_inches

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# tidecv's order and short names; the colours of the TIDE paper's summary plot
MAIN_ERRORS = (
    ("classification", "Cls", "#ef5350"),
    ("localization", "Loc", "#ffa726"),
    ("both", "Both", "#ab47bc"),
    ("duplicate", "Dupe", "#5c6bc0"),
    ("background", "Bkg", "#26a69a"),
    ("missed", "Miss", "#8d6e63"),
)
SPECIAL_ERRORS = (("false_positive", "FP", "0.55"), ("false_negative", "FN", "0.35"))
_POINTS = 12.0  # large enough to read when TensorBoard shrinks the image to its ~215 px card


def plot_error_breakdown(
    values: Mapping[str, Any], pos_threshold: float = 0.5, title: str = "Where the errors come from (TIDE)"
) -> Figure:
    """Draw the dAP of each TIDE error (the mAP gained by fixing it) as horizontal bars, largest scale first.

    Args:
        values: the keys of ``DetectionErrorBreakdown``'s result: ``classification``, ``localization``, ``both``,
            ``duplicate``, ``background``, ``missed`` (bars in that order), ``false_positive`` and
            ``false_negative`` (grey, below a line: they overlap the six) and ``map`` (in the title); fractions,
            NaN where undefined ("n/a").
        pos_threshold: the IoU of a true positive, named with the mAP.
        title: the first title line; the second gives the mAP.

    Returns:
        The figure, each bar labelled with its short name and dAP.

    Example:
        >>> figure = plot_error_breakdown({"map": 0.5, "classification": 0.1, "missed": 0.05})
        >>> [text.get_text() for text in figure.axes[0].texts][:2]
        ['0.100', '0.000']
    """
    rows = [*MAIN_ERRORS, *SPECIAL_ERRORS]
    numbers = np.array([_number(values.get(key, 0.0)) for key, _, _ in rows])
    positions = np.array([0, 1, 2, 3, 4, 5, 6.4, 7.4])
    figure, (axes,) = framed_figure()
    right = max(float(np.nanmax(numbers, initial=0.0)), 0.01) * 1.3  # room for the value after the longest bar
    lengths = np.where(np.isfinite(numbers), numbers, 0.0)
    axes.barh(positions, lengths, height=0.72, color=[colour for _, _, colour in rows])
    for position, number in zip(positions, numbers, strict=True):
        defined = math.isfinite(number)
        end = (max(number, 0.0) if defined else 0.0, position)
        label = f"{number:.3f}" if defined else "n/a"
        axes.annotate(label, end, xytext=(3, 0), textcoords="offset points", va="center", fontsize=_POINTS - 1)
    axes.axhline(5.7, color="0.3", linewidth=0.8)
    axes.set_yticks(positions, [short for _, short, _ in rows], fontsize=_POINTS)
    axes.set_ylim(positions[-1] + 0.6, -0.6)
    axes.set_xlim(0.0, right)
    axes.tick_params(axis="x", labelsize=_POINTS - 2)
    axes.set_xlabel("dAP: mAP gained by fixing it", fontsize=_POINTS - 1)
    axes.grid(True, axis="x", alpha=0.3)
    map_value = _number(values.get("map", math.nan))
    shown = f"{map_value:.3f}" if math.isfinite(map_value) else "n/a"
    heading = f"{title}\nmAP at IoU {pos_threshold:g}: {shown}"
    set_title(axes, heading)
    frame(figure, [axes], 4.2, 3.1, Margins(0.75, 0.55, 0.25, title_inches(heading)))
    return figure


def _number(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)
