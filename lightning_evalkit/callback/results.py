"""From metric states to logged numbers: a synced compute whatever the metric's sync settings, warnings once on
rank 0, and scalars split into the defined values to log and the undefined ones (NaN, COCO's -1) to skip.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from torchmetrics import Metric

from lightning_evalkit.plotting.base import class_name as _class_name

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


DETECTION_PLOTS = ("detection_pr", "per_class_ap")
_IOU_TYPES = ("bbox", "segm")


def iou_type_plot_sources(
    items: Iterable[tuple[str, Metric]], results: Mapping[str, Any], plots: Iterable[str]
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The detection plots of a MeanAveragePrecision with ``iou_type=("bbox", "segm")``, one set per IoU type.

    Its result holds ``bbox_precision`` and ``segm_precision`` (torchmetrics' prefixed keys) where a single IoU
    type has ``precision``. Each type gets a view with the keys unprefixed (and the shared ``classes``), drawn
    under the tag prefix ``"bbox_"`` or ``"segm_"`` (``val/bbox_detection_pr``, ``val/segm_per_class_ap``).

    Returns:
        ``[(tag prefix, plot sources)]``, and the names of the detection metrics whose plots cannot be drawn
        because they keep no extended summary (``extended_summary=False``).

    Example:
        >>> import torch
        >>> result = {"bbox_precision": torch.zeros(1), "segm_precision": torch.ones(1), "classes": torch.arange(1)}
        >>> [(tag, sorted(s["detection"][0])) for tag, s in iou_type_plot_sources([("map", None)], {"map": result},
        ...     ["per_class_ap"])[0]]
        [('bbox_', ['classes', 'precision']), ('segm_', ['classes', 'precision'])]
    """
    if not set(DETECTION_PLOTS) & set(plots):
        return [], []
    metrics = dict(items)
    per_type: list[tuple[str, dict[str, Any]]] = []
    unplottable: list[str] = []
    for name, result in results.items():
        if not isinstance(result, Mapping) or "precision" in result:
            continue
        if getattr(metrics.get(name), "extended_summary", None) is False:
            unplottable.append(name)
        for iou_type in _IOU_TYPES:
            if f"{iou_type}_precision" not in result:
                continue
            view = {key[len(iou_type) + 1 :]: value for key, value in result.items() if key.startswith(iou_type + "_")}
            view["classes"] = result.get("classes")
            per_type.append((f"{iou_type}_", {"detection": (view, metrics[name])}))
    return per_type, unplottable


def no_extended_summary_message(name: str) -> str:
    """The warning for a detection metric whose PR and per-class AP plots cannot be drawn."""
    return (
        f"EvalCallback cannot draw 'detection_pr' and 'per_class_ap' for metrics[{name!r}]: they need the precision "
        "array of MeanAveragePrecision(extended_summary=True). Pass extended_summary=True, or leave these plots out "
        "of `plots=`."
    )
