"""EvalCallback's argument checks: each refuses what cannot work and says what to pass instead."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torchmetrics import Metric, MetricCollection

from lightning_evalkit._core.report import PLOT_NAMES

__all__ = ["check_class_names", "check_metrics", "check_plots"]


def check_metrics(metrics: Any) -> None:
    example = 'For example: EvalCallback(metrics={"auroc": AUROC(task="binary")}).'
    if isinstance(metrics, MetricCollection):
        if len(metrics) == 0:
            raise ValueError(
                "Expected `metrics` to hold at least one metric, but got an empty MetricCollection. " + example
            )
        return
    if not isinstance(metrics, Mapping):
        raise TypeError(
            "Expected `metrics` to be a dict of name -> torchmetrics.Metric or a MetricCollection, but got "
            f"{type(metrics).__name__}. {example}"
        )
    if not metrics:
        raise ValueError(f"Expected `metrics` to hold at least one metric, but got an empty dict. {example}")
    for name, metric in metrics.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Expected every key of `metrics` to be a non-empty str, but got {name!r}. {example}")
        if not isinstance(metric, Metric):
            raise TypeError(
                f"Expected `metrics[{name!r}]` to be a torchmetrics.Metric (such as AUROC, Sensitivity, "
                f"ConfusionMatrix or MeanAveragePrecision), but got {type(metric).__name__}. {example}"
            )


def check_plots(plots: Any) -> tuple[str, ...]:
    if isinstance(plots, bool):
        return PLOT_NAMES if plots else ()
    listed = ", ".join(repr(name) for name in PLOT_NAMES)
    if isinstance(plots, str) or not isinstance(plots, Iterable):
        raise TypeError(f"Expected `plots` to be True, False or a list drawn from {listed}, but got {plots!r}.")
    chosen = tuple(plots)
    for name in chosen:
        if name not in PLOT_NAMES:
            raise ValueError(f"Expected every entry of `plots` to be one of {listed}, but got {name!r}.")
    return chosen


def check_class_names(class_names: Any, metrics: Mapping[str, Metric]) -> None:
    if class_names is None or isinstance(class_names, Mapping):
        return
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError(
            "Expected `class_names` to be a list of names (index -> name) or a dict of label -> name, but "
            f"got {type(class_names).__name__}."
        )
    for name, metric in metrics.items():
        task = getattr(metric, "task", None)
        count = getattr(metric, "num_labels", None) if task == "multilabel" else getattr(metric, "num_classes", None)
        if task in ("multiclass", "multilabel") and isinstance(count, int) and count != len(class_names):
            raise ValueError(
                f"Expected `class_names` to hold {count} names, one per class of `metrics[{name!r}]`, but "
                f"got {len(class_names)}. Pass one name per class, or class_names=None to use the indices."
            )
