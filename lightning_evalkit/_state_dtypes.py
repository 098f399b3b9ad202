"""Metric states that keep their dtype when the module is cast, and a bool argument check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._cat_states import CatStateMetric


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"Expected `{name}` to be a bool, but got {type(value).__name__}.")


def _apply_keeping_state_dtypes(metric: Metric, fn: Callable, apply: Callable) -> Metric:
    """Run torchmetrics' ``_apply`` (``.to``, ``.half()``, ``set_dtype`` ...) but only move the states.

    The states hold exact counts, bool flags and float64 scores; a dtype cast (Lightning's "16-true" or
    "bf16-true" casts the whole module) would corrupt them (``~`` on a float, ties merged in bfloat16).
    """
    names = tuple(metric._defaults)
    this = apply(fn, exclude_state=names)
    device = fn(torch.zeros(0, device=metric.device)).device
    for name in names:
        default, value = this._defaults[name], getattr(this, name)
        this._defaults[name] = default.to(device) if isinstance(default, Tensor) else [v.to(device) for v in default]
        setattr(this, name, value.to(device) if isinstance(value, Tensor) else [v.to(device) for v in value])
    if isinstance(this, CatStateMetric):
        this._templates = {name: t.to(device) for name, t in this._templates.items()}
    return this
