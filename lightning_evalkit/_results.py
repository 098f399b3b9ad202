"""From metric states to logged numbers: a synced compute whatever the metric's sync settings, warnings once on
rank 0, and scalars split into the defined values to log and the undefined ones (NaN, COCO's -1) to skip.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from torchmetrics import Metric

from lightning_evalkit.plotting import _class_name

# Keys of a detection result that are labels or extended-summary arrays, not scalars.
_NOT_SCALARS = ("classes", "precision", "recall", "scores")


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
    items: Iterable[tuple[str, Metric]], distributed: bool, is_global_zero: bool, registry: dict[Any, Any]
) -> dict[str, Any]:
    """Compute every metric (a collective on every rank); its warnings come once, from rank 0 only.

    Every rank computes on the same synced states and so would warn alike; one copy of each distinct warning is
    re-emitted on rank 0, through ``registry`` so that Python's default filter shows it once per run, as on
    one device.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = {name: synced_compute(metric, distributed) for name, metric in items}
    if is_global_zero:
        seen: set[tuple[type, str]] = set()
        for record in caught:
            key = (record.category, str(record.message))
            if key not in seen:
                seen.add(key)
                warnings.warn_explicit(
                    record.message, record.category, record.filename, record.lineno, registry=registry
                )
    return results


def is_undefined(value: float, sentinel: bool) -> bool:
    """NaN is undefined for every metric; -1 only where the metric uses it as COCO's "undefined" sentinel.

    Example:
        >>> is_undefined(float("nan"), False), is_undefined(-1.0, True), is_undefined(-1.0, False)
        (True, True, False)
    """
    return math.isnan(value) or (sentinel and value == -1.0)


def scalars(results: Mapping[str, Any], class_names: Any) -> Iterator[tuple[str, float, bool]]:
    """(name, value, undefined) for every scalar of the computed results; a vector gives one name per class.

    Dict results (MeanAveragePrecision) use -1 for "undefined", as pycocotools does; other results use NaN.

    Example:
        >>> import torch
        >>> list(scalars({"auroc": torch.tensor(0.75), "map": {"map": torch.tensor(-1.0)}}, None))
        [('auroc', 0.75, False), ('map', -1.0, True)]
    """
    seen: set[str] = set()
    for name, result in results.items():
        is_dict = isinstance(result, Mapping)
        entries = result.items() if is_dict else [(name, result)]
        for key, value in entries:
            if is_dict and key in _NOT_SCALARS:
                continue
            key = f"{name}_{key}" if is_dict and key in seen else key
            seen.add(key)
            if not hasattr(value, "ndim") or value.ndim > 1:
                continue
            if value.ndim == 0:
                yield key, float(value), is_undefined(float(value), is_dict)
                continue
            labels = result.get("classes") if is_dict else None
            for index, item in enumerate(value.reshape(-1).tolist()):
                label = int(labels.reshape(-1)[index]) if labels is not None and labels.numel() > index else index
                yield f"{key}/{_class_name(class_names, label)}", float(item), is_undefined(float(item), is_dict)
