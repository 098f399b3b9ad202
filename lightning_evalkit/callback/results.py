"""From metric states to logged numbers: a synced compute whatever the metric's sync settings, warnings once on
rank 0, and each metric's logged values (defined ones to log, undefined ones, NaN or COCO's -1, to skip).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, MutableSet
from typing import Any

import torchmetrics
from torchmetrics import Metric

from lightning_evalkit._core.rank_warnings import say_once
from lightning_evalkit._core.report import LoggedValue, ReportOptions, reporting_of
from lightning_evalkit.plotting.base import class_name

_TORCHMETRICS_DIR = os.path.dirname(os.path.abspath(torchmetrics.__file__)) + os.sep


def check_sync_settings(metrics: Mapping[str, Metric], world_size: int) -> None:
    """Refuse sync settings the callback cannot make exact under DDP (raised at setup, before any epoch).

    ``sync_on_compute=False`` and ``dist_sync_on_step`` are fine: the callback syncs explicitly at compute and
    never calls ``forward``. A ``process_group`` smaller than the world would sync only part of the data.
    """
    import torch.distributed as dist

    if world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
        return
    for name, metric in metrics.items():
        group = getattr(metric, "process_group", None)
        if group is not None and dist.get_world_size(group) != world_size:
            raise ValueError(
                f"Expected `metrics[{name!r}]` to sync over all {world_size} processes, but got a "
                f"`process_group` of {dist.get_world_size(group)}. EvalCallback logs the value over the whole "
                "dataset: build the metric without `process_group` (or with the world group)."
            )


def synced_compute(metric: Metric, distributed: bool) -> Any:
    """``metric.compute()`` on the states of every rank, even when built with ``sync_on_compute=False``."""
    if not distributed or metric.sync_on_compute or metric._is_synced:
        return metric.compute()
    # compute() will not sync itself (its own sync is off) and restores the local states after computing;
    # a value it cached from a local compute() must not be returned for the synced states.
    metric._computed = None
    with metric.sync_context(dist_sync_fn=metric.dist_sync_fn, should_sync=True):
        return metric.compute()


def compute_quietly(
    items: Iterable[tuple[str, Metric]],
    distributed: bool,
    is_global_zero: bool,
    said: MutableSet[tuple[type[Warning], str]],
) -> dict[str, Any]:
    """Compute every metric (a collective on every rank); its warnings come once per run, from rank 0 only.

    Every rank computes on the same synced states and so would warn alike; rank 0 says each distinct warning
    once per run (``said``: the callback's record), again only when its text changes, attributed to the code
    that raised it, or to the metric's ``compute`` where a wrapper (torchmetrics' own compute wrapper) raised it.
    """
    results = {}
    for name, metric in items:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results[name] = synced_compute(metric, distributed)
        if is_global_zero:
            for record in caught:
                say_once(said, record.category, record.message, _attributed(record, metric))
    return results


def _attributed(record: warnings.WarningMessage, metric: Metric) -> tuple[str, int]:
    """(filename, lineno) of a warning: where it was raised, unless that is torchmetrics' compute wrapper around a
    metric of ours; then the metric's ``compute``."""
    if not record.filename.startswith(_TORCHMETRICS_DIR) or not type(metric).__module__.startswith("lightning_evalkit"):
        return record.filename, record.lineno
    compute = type(metric).compute
    try:
        return inspect.getsourcefile(compute) or record.filename, inspect.getsourcelines(compute)[1]
    except (OSError, TypeError):  # pragma: no cover - a compute without source
        return record.filename, record.lineno


def logged_values(
    items: Iterable[tuple[str, Metric]],
    results: Mapping[str, Any],
    options: ReportOptions,
    extra: Callable[[str, Metric, list[LoggedValue]], list[LoggedValue]] | None = None,
) -> list[LoggedValue]:
    """Every metric's logged values (its :class:`~lightning_evalkit._core.report.Reporting` answer), in metric
    order (a collective under DDP: intervals and operating points sync their states; call on every rank).

    A name that an earlier metric already gave (two detection metrics both giving ``map``) is prefixed with the
    metric's own name, ``<name>_map``. ``extra(name, metric, entries)`` adds values to a metric's own (the
    callback's bootstrap intervals).
    """
    seen: set[str] = set()
    out: list[LoggedValue] = []
    for name, metric in items:
        entries = reporting_of(metric).logged_values(name, results[name], options)
        if extra is not None:
            entries = entries + extra(name, metric, entries)
        renamed = {entry.name: f"{name}_{entry.name}" if entry.name in seen else entry.name for entry in entries}
        seen.update(renamed.values())
        out += [entry._replace(name=renamed[entry.name]) for entry in entries]
    return out


def scalar_name(value: LoggedValue, class_names: Any) -> str:
    """The logged name of one value: per-class values add ``/<class name>``."""
    return value.name if value.label is None else f"{value.name}/{class_name(class_names, value.label)}"
