"""One set of metric states per evaluation dataloader: the user's metrics for dataloader 0, clones for the others."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from torchmetrics import Metric, MetricCollection


class MetricSet:
    """The metrics of one dataloader: a plain dict of metrics, or a MetricCollection (with its compute groups).

    Example:
        >>> from lightning_evalkit import AUROC
        >>> first = MetricSet({"auroc": AUROC(task="binary")})
        >>> second = first.clone()
        >>> second.metrics["auroc"] is first.metrics["auroc"]
        False
    """

    def __init__(self, metrics: Mapping[str, Metric] | MetricCollection) -> None:
        self.collection = metrics if isinstance(metrics, MetricCollection) else None
        self.metrics: dict[str, Metric] = dict(
            metrics.items(keep_base=False) if isinstance(metrics, MetricCollection) else metrics.items()
        )

    def clone(self) -> MetricSet:
        """A set with the same metrics and fresh states (for another dataloader)."""
        source = self.collection if self.collection is not None else self.metrics
        cloned = MetricSet(copy.deepcopy(source))
        cloned.reset()
        return cloned

    def update(self, preds: Any, target: Any) -> None:
        """Update every metric (through the collection, so its compute groups update once)."""
        if self.collection is not None:
            self.collection.update(preds, target)
        else:
            for metric in self.metrics.values():
                metric.update(preds, target)

    def items(self) -> Iterable[tuple[str, Metric]]:
        """(name, metric) pairs, each holding its own state."""
        if self.collection is not None:
            # copy_state: members of one compute group share the state the collection updated.
            return self.collection.items(keep_base=False, copy_state=True)
        return self.metrics.items()

    def reset(self) -> None:
        """Reset every metric's state."""
        if self.collection is not None:
            self.collection.reset()
        for metric in self.metrics.values():
            metric.reset()

    def to(self, device: Any) -> None:
        """Move every metric to ``device``."""
        for metric in self.metrics.values():
            metric.to(device)

    def mark_updated(self) -> None:
        """Say "updated" on a rank that got no real sample while others did, so compute() does not warn here."""
        for metric in self.metrics.values():
            metric._update_count = max(metric._update_count, 1)
