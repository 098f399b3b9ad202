"""What CalibrationError and NetBenefit draw: the reliability diagram and the decision curve, as plot sources
(EvalCallback) and as ``Metric.plot()``, which draws the same source.

The sources hold gathered numbers only (numpy arrays); rank 0 calls their builders.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lightning_evalkit import plotting
from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit._core.report import PlotSource, ReportOptions
from lightning_evalkit.plotting import ClassNames
from lightning_evalkit.plotting.base import MAX_CURVES, class_name, top_k
from lightning_evalkit.plotting.values import PlotOut, _out, plot_value_metric
from lightning_evalkit.statistics.calibration import BinStats, calibration_error_from_bins

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ERROR_NAMES = {"l1": "ECE", "l2": "RMS calibration error", "max": "MCE"}


class ReliabilitySource(NamedTuple):
    """The gathered bins of a CalibrationError: per problem (rows), edges, means, counts and its error."""

    task: str
    edges: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray
    errors: np.ndarray
    error: float
    norm: str
    bins_text: str


def reliability_plot_source(metric: Any, stats: BinStats, edges: Any) -> list[PlotSource]:
    """The reliability diagram of a CalibrationError's synced bins; none when no sample was seen."""
    if float(stats.counts.sum()) == 0:
        return []
    errors = to_numpy(calibration_error_from_bins(stats, metric.norm))
    mean_predicted, observed = stats.means()
    defined = errors[np.isfinite(errors)]
    source = ReliabilitySource(
        metric.task,
        to_numpy(edges),
        to_numpy(mean_predicted),
        to_numpy(observed),
        to_numpy(stats.counts),
        errors,
        float(errors[0]) if errors.size == 1 else float(defined.mean()),
        metric.norm,
        f"{metric.n_bins} {metric.binning} bins",
    )
    return [PlotSource("calibration", "calibration", partial(_reliability_draw, source))]


def _reliability_draw(source: ReliabilitySource, class_names: ClassNames, ax: Axes | None = None) -> Figure:
    name = ERROR_NAMES[source.norm]
    title = f"Reliability diagram ({source.bins_text})"
    if source.task == "binary":
        xlabel, ylabel = f"Mean predicted probability (positive class: {class_name(class_names, 1)})", None
        rows, names = [0], None
    elif source.task == "multiclass":
        xlabel, ylabel, rows, names = "Mean top-label confidence", "Accuracy (the top label is the target)", [0], None
        title = f"Top-label reliability diagram ({source.bins_text})"
    else:
        xlabel, ylabel = "Mean predicted probability", None
        positives = np.nansum(source.observed * source.counts, axis=-1)
        rows = sorted(top_k(positives, MAX_CURVES).tolist())
        names = [f"{class_name(class_names, row)} ({name} {source.errors[row]:.4f})" for row in rows]
        shown = "" if len(rows) == len(positives) else f"\n{len(rows)} of {len(positives)} labels shown: most positives"
        title = f"Reliability diagram per label ({source.bins_text}){shown}"
        name = f"macro {name}"
    return plotting.plot_reliability_diagram(
        source.edges[rows],
        source.mean_predicted[rows],
        source.observed[rows],
        source.counts[rows],
        error=source.error,
        error_name=name,
        names=names,
        title=title,
        xlabel=xlabel,
        ylabel=ylabel or "Fraction of positives",
        ax=ax,
    )


def plot_calibration_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """CalibrationError: the reliability diagram the callback draws; a given ``val`` (or no sample) as a bar."""
    sources = [] if val is not None else metric.plot_sources(None, ["calibration"], ReportOptions())
    if not sources:
        return plot_value_metric(metric, metric.compute() if val is None else val, ax)
    return _out(sources[0].build(None, ax=ax), ax)


def decision_plot_source(curve: Any) -> list[PlotSource]:
    """The decision curve of a computed :class:`~lightning_evalkit.classification.net_benefit.DecisionCurve`;
    none when no sample was seen."""
    prevalence = float(curve.prevalence)
    if np.isnan(prevalence):
        return []
    arrays = (to_numpy(curve.thresholds), to_numpy(curve.net_benefit), to_numpy(curve.treat_all))
    return [PlotSource("decision_curve", "decision_curve", partial(_decision_draw, arrays, prevalence))]


def _decision_draw(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray], prevalence: float, class_names: ClassNames, ax: Any = None
) -> Figure:
    title = f"Decision curve (positive class: {class_name(class_names, 1)})"
    return plotting.plot_decision_curve(*arrays, prevalence=prevalence, title=title, ax=ax)


def plot_net_benefit_metric(metric: Any, val: Any = None, ax: Axes | None = None) -> PlotOut:
    """NetBenefit: the decision curve of ``val`` (by default ``compute()``), as the callback draws it."""
    curve = metric.compute() if val is None else val
    arrays = (to_numpy(curve.thresholds), to_numpy(curve.net_benefit), to_numpy(curve.treat_all))
    if np.isnan(float(curve.prevalence)):
        return _out(plotting.plot_decision_curve(*arrays, title="Decision curve (no sample seen)", ax=ax), ax)
    return _out(_decision_draw(arrays, float(curve.prevalence), None, ax=ax), ax)
