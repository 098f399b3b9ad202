"""Metric states that keep their dtype when the module is cast, and a bool argument check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torchmetrics import Metric


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"Expected `{name}` to be a bool, but got {type(value).__name__}.")


def keep_dtypes_apply(metric: Metric, fn: Callable, exclude_state: Any = "") -> Any:
    """``Metric._apply`` that follows only the device ``fn`` moves tensors to, never a dtype it casts to.

    The states hold exact counts, bool flags and float64 scores, and the thresholds are float64; a dtype cast
    (Lightning's "16-true" or "bf16-true" casts the whole module, ``.half()``, ``set_dtype``) would corrupt
    them (``~`` on a float, ties merged in bfloat16). Use it as a class attribute: ``_apply = keep_dtypes_apply``.
    """
    device = fn(torch.zeros(1, device=metric.device)).device
    return Metric._apply(metric, lambda t: t.to(device), exclude_state)
