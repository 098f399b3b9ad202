"""The one question EvalCallback asks every metric: what do you contribute to an epoch's report?

A metric of ours answers through four methods (the :class:`Reporting` protocol); the callback asks every metric
the same question and never looks at its type. A metric without them (any other torchmetrics metric) is reported
by its ``compute()`` value alone (:func:`value_entries`). The same plot sources serve ``Metric.plot()``.

- ``check_report(name, options)``: when the callback is built, refuse a configuration that cannot work (raise) and
  return warnings for what will be left out (e.g. a plot it cannot feed).
- ``logged_values(name, value, options)``: the scalars to log, with intervals and per-class values (a
  collective under DDP: every rank calls it, in the same order).
- ``plot_kinds()``: the plots it can feed, each with a priority (lower wins where several metrics could).
- ``plot_sources(value, plots, options)``: the data of those plots, gathered on every rank (a collective),
  each with a builder that rank 0 calls to draw it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

# What `EvalCallback(plots=[...])` accepts; `plots=True` means all of them.
PLOT_NAMES = (
    "roc",
    "sensitivity_specificity",
    "precision_recall",
    "confusion_matrix",
    "pr_curve_plugin",
    "detection_pr",
    "per_class_ap",
    "calibration",
    "decision_curve",
    "per_class_values",
    "detection_confusion_matrix",
    "f1_confidence",
    "error_breakdown",
)
# Plots every metric that feeds them draws (one image each, tagged with the metric's name), not only the first.
EVERY_PROVIDER_PLOTS = ("per_class_values",)

# Keys of a dict result that are labels or arrays of an extended summary, never scalars.
NOT_SCALARS = ("classes", "precision", "recall", "scores", "ious")


class ReportOptions(NamedTuple):
    """What the callback asks for: interval level, operating-point criterion, the plots wanted, class names, and
    the number of bootstrap resamples (``bootstrap``: the callback gives values without an analytic interval a
    bootstrap one)."""

    confidence_level: float | None = None
    operating_point: str | None = None
    plots: tuple[str, ...] = ()
    class_names: Any = None
    bootstrap: int | None = None


class LoggedValue(NamedTuple):
    """One scalar to log: its name (relative to the callback's prefix), value, and whether it is undefined.

    ``label`` is the class of a per-class value (None for a value of the whole data); undefined values (NaN,
    or the reference's -1 where the metric uses it) reach no logger.
    """

    name: str
    value: float
    undefined: bool
    label: int | None = None


class PlotSource(NamedTuple):
    """One plot's gathered data: ``build(class_names)`` gives a Figure (``kind="image"``) or the counts dict of
    TensorBoard's PR-curve plugin (``kind="pr_curve"``). Only rank 0 calls ``build``."""

    plot: str  # the plot name of PLOT_NAMES it answers
    tag: str  # the tag written, after the callback's prefix
    build: Callable[[Any], Any]
    kind: str = "image"


@runtime_checkable
class Reporting(Protocol):
    """The interface between a metric and EvalCallback (see the module docstring)."""

    def check_report(self, name: str, options: ReportOptions) -> list[str]: ...

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]: ...

    def plot_kinds(self) -> dict[str, int]: ...

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]: ...


def _is_undefined(value: float, sentinel: bool) -> bool:
    return math.isnan(value) or (sentinel and value == -1.0)


def value_entries(name: str, value: Any, sentinel: bool = False, labels: Any = None) -> list[LoggedValue]:
    """Logged values of a computed tensor: a scalar, or one per class of a vector; matrices are not scalars.

    Example:
        >>> import torch
        >>> value_entries("sensitivity", torch.tensor([0.5, float("nan")]))
        [LoggedValue(name='sensitivity', value=0.5, undefined=False, label=0), LoggedValue(name='sensitivity', \
value=nan, undefined=True, label=1)]
    """
    if not hasattr(value, "ndim") or value.ndim > 1:
        return []
    if value.ndim == 0:
        return [LoggedValue(name, float(value), _is_undefined(float(value), sentinel))]
    flat_labels = labels.reshape(-1).tolist() if labels is not None else []
    return [
        LoggedValue(name, item, _is_undefined(item, sentinel), int(flat_labels[i]) if i < len(flat_labels) else i)
        for i, item in enumerate(value.reshape(-1).tolist())
    ]


def result_entries(name: str, value: Any) -> list[LoggedValue]:
    """Logged values of any ``compute()`` result: a tensor under ``name``, or each scalar key of a dict result.

    Dict results (detection, IoU) name their values by key and use -1 for "undefined", as pycocotools does;
    their vectors are per class of the result's ``classes`` where it has them. Anything else (a tuple, a
    string) gives nothing.

    Example:
        >>> import torch
        >>> result_entries("map", {"map": torch.tensor(-1.0), "classes": torch.tensor([3])})
        [LoggedValue(name='map', value=-1.0, undefined=True, label=None)]
    """
    if not isinstance(value, Mapping):
        return value_entries(name, value)
    labels = value.get("classes")
    entries: list[LoggedValue] = []
    for key, item in value.items():
        if key not in NOT_SCALARS:
            entries += value_entries(str(key), item, sentinel=True, labels=labels)
    return entries


def reporting_of(metric: Any) -> Reporting:
    """``metric`` itself where it answers the protocol, else an adapter that logs its ``compute()`` value."""
    return metric if isinstance(metric, Reporting) else ValueReport()


class ValueReport:
    """The report of a metric that does not answer the protocol: its computed value, no plots."""

    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        """Nothing to refuse or warn about."""
        return []

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        """The scalars of ``value`` (see :func:`result_entries`)."""
        return result_entries(name, value)

    def plot_kinds(self) -> dict[str, int]:
        """No plots."""
        return {}

    def plot_sources(self, value: Any, plots: Sequence[str], options: ReportOptions) -> list[PlotSource]:
        """No plots."""
        return []


def interval_entries(metric: Any, name: str, options: ReportOptions) -> list[LoggedValue]:
    """``<name>_ci_lower/_upper`` when the callback asks for intervals, at the metric's own level if it has one."""
    if options.confidence_level is None:
        return []
    lower, upper = metric.confidence_interval(metric.confidence_level or options.confidence_level)
    return value_entries(f"{name}_ci_lower", lower) + value_entries(f"{name}_ci_upper", upper)
