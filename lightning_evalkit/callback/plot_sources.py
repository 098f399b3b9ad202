"""The callback's plotting path: which metric feeds each wanted plot, their gathered sources, and the builders.

Each metric names the plots it can feed (``plot_kinds``, with a priority); for each wanted plot the callback
takes the metric with the lowest priority (the first in order among equals) and asks it for that plot's
sources. It never looks at a metric's type (see :mod:`lightning_evalkit._core.report`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from lightning_evalkit._core.report import EVERY_PROVIDER_PLOTS, PlotSource, ReportOptions, reporting_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FigureBuilders = list[tuple[str, Callable[[], "Figure"]]]


def plot_providers(items: Sequence[tuple[str, Any]], plots: Sequence[str]) -> list[tuple[str, Any, list[str]]]:
    """``[(name, metric, its plots)]`` in metric order: each wanted plot goes to the metric that feeds it with
    the lowest priority, the first in order among equals."""
    chosen: dict[str, tuple[int, int]] = {}  # plot -> (priority, position)
    kinds = [reporting_of(metric).plot_kinds() for _, metric in items]
    for position, metric_kinds in enumerate(kinds):
        for plot, priority in metric_kinds.items():
            if plot in plots and (plot not in chosen or priority < chosen[plot][0]):
                chosen[plot] = (priority, position)
    providers = []
    for position, (name, metric) in enumerate(items):
        mine = [
            plot
            for plot in plots
            if (plot in chosen and chosen[plot][1] == position)
            or (plot in EVERY_PROVIDER_PLOTS and plot in kinds[position])
        ]
        if mine:
            providers.append((name, metric, mine))
    return providers


def plot_sources(
    items: Sequence[tuple[str, Any]],
    results: Mapping[str, Any],
    plots: Sequence[str],
    class_names: Any = None,
    confidence_level: float | None = None,
    operating_point: str | None = None,
) -> list[PlotSource]:
    """Gather what the wanted plots need from the metrics that feed them (collectives: call on every rank).

    ``items`` are the callback's (name, metric) pairs and ``results`` their computed values (a metric missing
    from ``results`` is computed here). Only rank 0 then builds the figures (:func:`figure_builders`).
    """
    options = ReportOptions(confidence_level, operating_point, tuple(plots), class_names)
    sources: list[PlotSource] = []
    for name, metric, mine in plot_providers(items, plots):
        value = results[name] if name in results else metric.compute()
        for source in reporting_of(metric).plot_sources(value, mine, options):
            sources.append(
                source._replace(tag=f"{source.tag}/{name}") if source.plot in EVERY_PROVIDER_PLOTS else source
            )
    return sources


def figure_builders(sources: Sequence[PlotSource], plots: Sequence[str], class_names: Any) -> FigureBuilders:
    """``(tag, builder)`` of every image source among the wanted ``plots``, in the order of ``plots``."""
    order = {plot: index for index, plot in enumerate(plots)}
    images = [s for s in sources if s.kind == "image" and s.plot in order]
    images.sort(key=lambda s: order[s.plot])
    return [(s.tag, partial(s.build, class_names)) for s in images]


def pr_curve_entries(sources: Sequence[PlotSource], class_names: Any) -> list[tuple[str, Any]]:
    """``(tag, counts)`` of every PR-curve plugin source."""
    return [(s.tag, s.build(class_names)) for s in sources if s.kind == "pr_curve"]
