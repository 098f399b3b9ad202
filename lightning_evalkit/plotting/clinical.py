"""Figure builders for clinical evaluation beyond ROC: the reliability diagram and the decision curve.

Like the other builders they take computed values (tensors, arrays or lists) and return a
``matplotlib.figure.Figure`` on an Agg canvas without touching ``matplotlib.pyplot``; matplotlib is imported
lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.base import (
    Margins,
    frame,
    given_or_framed,
    set_title,
    title_inches,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_decision_curve", "plot_reliability_diagram"]

_HISTOGRAM_HEIGHT = 0.26  # of the diagram's height: the bin counts drawn underneath
_HISTOGRAM_GAP = 0.05


def _rows(values: Any) -> np.ndarray:
    """``values`` as a 2-D float64 array: one row per curve."""
    array = to_numpy(values)
    return array.reshape(1, -1) if array.ndim == 1 else array


def _value_text(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4f}"


def plot_reliability_diagram(
    edges: Any,
    mean_predicted: Any,
    observed: Any,
    counts: Any,
    error: float | None = None,
    error_name: str = "ECE",
    names: Sequence[str] | None = None,
    title: str = "Reliability diagram",
    xlabel: str = "Mean predicted probability",
    ylabel: str = "Fraction of positives",
    ax: Axes | None = None,
) -> Figure:
    """Draw observed frequency against mean predicted probability per bin, with the bin counts underneath.

    Args:
        edges: bin edges (B + 1), or one row of edges per curve (K, B + 1).
        mean_predicted: mean forecast of each bin (B), or (K, B) for K curves; NaN in an empty bin.
        observed: observed frequency (fraction of positives, or accuracy) of each bin, same shape.
        counts: forecasts in each bin, same shape; drawn as a histogram below the diagram.
        error: the calibration error written in the title.
        error_name: its name ("ECE", "RMS calibration error", "MCE").
        names: the label of each curve in the legend (one curve: "model").
        title: the axes title.
        xlabel: the x-axis label (under the histogram).
        ylabel: the diagram's y-axis label.
        ax: axes to draw the diagram into (the histogram is an inset below them); by default a new figure.

    Returns:
        The figure.

    Example:
        >>> figure = plot_reliability_diagram([0, 0.5, 1], [0.3, 0.8], [0.2, 0.9], [40, 60], error=0.1)
        >>> figure.axes[0].get_title()
        'Reliability diagram\\nECE = 0.1000'
    """
    forecast, frequency, count = _rows(mean_predicted), _rows(observed), _rows(counts)
    edge_rows = np.broadcast_to(_rows(edges), (forecast.shape[0], forecast.shape[1] + 1))
    labels = list(names) if names is not None else ["model"] * forecast.shape[0]
    figure, axes, framed = given_or_framed(ax)
    histogram = _histogram_axes(axes, framed)
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfectly calibrated")
    single = forecast.shape[0] == 1
    for row, label in enumerate(labels):
        filled = count[row] > 0
        colour = "tab:blue" if single else f"C{row % 10}"
        axes.plot(forecast[row][filled], frequency[row][filled], "o-", color=colour, linewidth=2, label=label)
    _count_bars(histogram, edge_rows, count, alpha=0.6 if framed else 0.25)
    if error is not None:
        title = f"{title}\n{error_name} = {_value_text(error)}"
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.grid(True, alpha=0.3)
    axes.set_ylabel(ylabel)
    set_title(axes, title)
    axes.legend(loc="upper left", fontsize="small")
    (histogram if framed else axes).set_xlabel(xlabel)
    top = max(float(np.nanmax(count.sum(0), initial=0.0)), 1.0)
    # under the diagram: a panel of its own; in given axes: bars on a right-hand count axis, up to a quarter high
    histogram.set_ylim(0, top * (1.1 if framed else 4.0))
    if framed:
        side = 4.6
        below = side * (_HISTOGRAM_HEIGHT + _HISTOGRAM_GAP) + 0.62
        frame(figure, [axes], side, side, Margins(0.8, below, 0.3, title_inches(title)))
    return figure


def _histogram_axes(axes: Axes, framed: bool) -> Axes:
    """Where the bin counts go: a panel below the diagram (a figure of its own), else a twin axis of the given
    axes (so a layout engine that places them never cuts a panel off), drawn behind the curves."""
    if framed:
        histogram = axes.inset_axes((0.0, -_HISTOGRAM_HEIGHT - _HISTOGRAM_GAP, 1.0, _HISTOGRAM_HEIGHT))
        histogram.set_xlim(-0.01, 1.01)
        histogram.grid(True, alpha=0.3)
        axes.tick_params(labelbottom=False)
        return histogram
    histogram = axes.twinx()
    axes.set_zorder(histogram.get_zorder() + 1)
    axes.patch.set_visible(False)
    return histogram


def _count_bars(axes: Axes, edges: np.ndarray, counts: np.ndarray, alpha: float) -> None:
    """The bin counts as bars (bins of unequal width, as quantile bins are, stay visible); several curves with
    shared edges show their summed counts, and with edges of their own each curve's counts as an outline."""
    if counts.shape[0] == 1 or bool((edges == edges[0]).all()):
        total = counts.sum(0)
        axes.bar(
            edges[0][:-1],
            total,
            width=np.diff(edges[0]),
            align="edge",
            color="tab:blue",
            alpha=alpha,
            edgecolor="white",
            linewidth=0.8,
        )
        axes.set_ylabel("count" if counts.shape[0] == 1 else "count (all curves)")
        return
    for row in range(counts.shape[0]):
        axes.stairs(counts[row], edges[row], color=f"C{row % 10}")
    axes.set_ylabel("count")


def _net_benefit_limits(*curves: np.ndarray) -> tuple[float, float]:
    """y limits that show every useful part of the curves: a little above the highest net benefit (at least
    0.05), down to a fifth of that below zero (treat-all falls without bound at high thresholds)."""
    finite = np.concatenate([curve[np.isfinite(curve)] for curve in curves])
    top = max(float(finite.max(initial=0.0)), 0.05) * 1.1
    return -0.2 * top, top


def plot_decision_curve(
    thresholds: Any,
    net_benefit: Any,
    treat_all: Any,
    prevalence: float | None = None,
    title: str = "Decision curve",
    model_label: str = "model",
    ax: Axes | None = None,
) -> Figure:
    """Draw net benefit against threshold probability for the model, treat-all and treat-none.

    Args:
        thresholds: threshold probabilities, ascending.
        net_benefit: the model's net benefit at each threshold.
        treat_all: net benefit of treating everyone.
        prevalence: fraction of positives, written in the title (treat-all crosses zero there).
        title: the axes title.
        model_label: the model's legend entry.
        ax: axes to draw into; by default a new figure.

    Returns:
        The figure.

    Example:
        >>> figure = plot_decision_curve([0.1, 0.2, 0.3], [0.25, 0.2, 0.1], [0.22, 0.1, -0.05], prevalence=0.3)
        >>> [line.get_label() for line in figure.axes[0].get_lines()]
        ['model', 'treat all', 'treat none']
    """
    x, model, everyone = to_numpy(thresholds), to_numpy(net_benefit), to_numpy(treat_all)
    figure, axes, framed = given_or_framed(ax)
    axes.plot(x, model, color="tab:blue", linewidth=2, label=model_label)
    axes.plot(x, everyone, color="tab:gray", linewidth=1.5, label="treat all")
    axes.plot(x, np.zeros_like(x), color="black", linestyle="--", linewidth=1, label="treat none")
    if prevalence is not None:
        title = f"{title}\nprevalence {_value_text(prevalence)}"
    axes.set_xlim(float(x.min(initial=0.0)), float(x.max(initial=1.0)))
    axes.set_ylim(*_net_benefit_limits(model, everyone))
    axes.set_xlabel("Threshold probability (treat iff risk >= threshold)")
    axes.set_ylabel("Net benefit")
    set_title(axes, title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best")
    if framed:
        frame(figure, [axes], 5.2, 3.9, Margins(0.8, 0.62, 0.3, title_inches(title)))
    return figure
