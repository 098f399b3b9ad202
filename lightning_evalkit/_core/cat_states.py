"""A Metric base for "cat" tensor states that still syncs when a rank saw nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat
from torchmetrics.utilities.distributed import gather_all_tensors


class CatStateMetric(Metric):
    """Declares "cat" states from empty templates and syncs a rank that saw nothing.

    torchmetrics stands in a 1-D float32 tensor for an empty "cat" list. That does not match (M, C)
    float64 or int64 states on the other ranks, and breaks the gather (gloo aborts with EnforceNotMet). So
    before a sync, every empty list gets its template: an empty tensor of the right trailing shape and dtype.
    """

    _templates: dict[str, Tensor]

    def _add_cat_states(self, templates: dict[str, Tensor]) -> None:
        self._templates = {**getattr(self, "_templates", {}), **templates}  # a subclass may add its own
        for name in templates:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def _cat_state(self, name: str) -> Tensor:
        """The state as one tensor: the template when nothing was added, else the (synced) concatenation."""
        value = getattr(self, name)
        if isinstance(value, list) and not value:
            return self._templates[name].to(self.device)
        return dim_zero_cat(value)

    def _joined_state(self, name: str) -> Tensor:
        """:meth:`_cat_state`, which then stays the state's one piece: the pieces are freed as each state is
        joined, so a large state is not held twice (the caller must not change it in place)."""
        value = getattr(self, name)
        if not isinstance(value, list) or len(value) != 1:
            joined = self._cat_state(name)
            if isinstance(value, list) and value:
                setattr(self, name, [joined])
            return joined
        return value[0] if value[0].ndim else self._cat_state(name)

    def _before_sync(self, process_group: Any | None) -> None:
        """Hook run on every rank right before the states are gathered (all ranks reach it together)."""

    def _sync_dist(self, dist_sync_fn: Callable = gather_all_tensors, process_group: Any | None = None) -> None:
        self._before_sync(process_group or self.process_group)
        for name, template in self._templates.items():
            if isinstance(getattr(self, name), list) and not getattr(self, name):
                setattr(self, name, [template.to(self.device)])
        super()._sync_dist(dist_sync_fn, process_group)


def state_name(base: str, *meaning: object) -> str:
    """``base`` plus a digest of the arguments that give the state its meaning (see the module docstring)."""
    return f"{base}_{hashlib.blake2b(repr(meaning).encode(), digest_size=4).hexdigest()}"


class OrderedCatStateMetric(CatStateMetric):
    """A cat-state metric whose records keep the order images were seen in: ``merge_state`` puts another metric's
    states after its own (so the result equals one metric fed this metric's batches, then the other's), and
    forward puts the states accumulated before the batch first. torchmetrics would put the incoming states first;
    the order matters where it numbers images or breaks score ties. States may be lists or synced tensors."""

    def merge_state(self, incoming_state: dict[str, Any] | Metric) -> None:
        """Add another metric's images (or its ``metric_state``) after this metric's own."""
        self.__dict__["_merging"] = True
        try:
            super().merge_state(incoming_state)
        finally:
            self.__dict__["_merging"] = False

    def _reduce_states(self, incoming_state: dict[str, Any]) -> None:
        """Join ``incoming_state`` to the states: after them in merge_state, before them in forward."""
        missing = [name for name in self._defaults if name not in incoming_state]
        if missing:
            raise ValueError(f"Expected the incoming state to hold {missing}, but got keys {list(incoming_state)}.")
        incoming_last = self.__dict__.get("_merging", False)
        for name in self._defaults:
            own, incoming = as_list(getattr(self, name)), as_list(incoming_state[name])
            merged = own + incoming if incoming_last else incoming + own
            setattr(self, name, [value for value in merged if value.numel()])


def as_list(state: list[Tensor] | Tensor) -> list[Tensor]:
    """A "cat" state as a list of tensors: as kept between updates, or one tensor after a sync."""
    return state if isinstance(state, list) else [state]
