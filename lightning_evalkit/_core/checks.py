"""Input validation shared by every metric.

Every message has one form: "Expected `<argument>`[ <where>] to <expectation>, but got <what was got>."
A wrong type or dtype raises TypeError; anything else raises ValueError. All checks run before a metric
touches its state, so a rejected update leaves the metric exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor


def _where(where: str) -> str:
    return f" {where}" if where else ""


def format_shape(shape: Iterable[int]) -> str:
    """Format a shape the way the messages print it: ``(5, 3)``, ``(7,)``, ``()``."""
    dims = tuple(int(d) for d in shape)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``, listing them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"Expected `{name}` to be one of {listed}, but got {value!r}.")


def check_positive_int(name: str, value: Any, minimum: int = 1) -> None:
    """Raise unless ``value`` is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Expected `{name}` to be an int, but got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"Expected `{name}` to be an int >= {minimum}, but got {value}.")


def check_tensor(name: str, value: Any, where: str = "") -> Tensor:
    """Raise TypeError unless ``value`` is a tensor; return it."""
    if not isinstance(value, Tensor):
        raise TypeError(f"Expected `{name}`{_where(where)} to be a torch.Tensor, but got {type(value).__name__}.")
    return value


def check_floating(name: str, value: Tensor, where: str = "") -> None:
    """Raise TypeError unless ``value`` has a floating-point dtype."""
    if not value.is_floating_point():
        raise TypeError(f"Expected `{name}`{_where(where)} to have a floating-point dtype, but got {value.dtype}.")


def check_integer(name: str, value: Tensor, where: str = "") -> None:
    """Raise TypeError unless ``value`` has an integer (or bool) dtype."""
    if value.is_floating_point() or value.is_complex():
        raise TypeError(f"Expected `{name}`{_where(where)} to have an integer dtype, but got {value.dtype}.")


def check_finite(
    name: str, value: Tensor, where: str = "", within: tuple[float, float] | None = None, range_note: str = ""
) -> None:
    """Raise ValueError if ``value`` holds NaN or infinity, or (with ``within``) a value outside [low, high].

    ``range_note`` is appended to the argument name in the range message only (a hint on what to pass).
    """
    if not value.is_floating_point() or value.numel() == 0:
        return
    # min and max propagate NaN and expose inf: one pass answers both questions
    low, high = torch.aminmax(value)
    if not (bool(torch.isfinite(low)) and bool(torch.isfinite(high))):
        bad = "NaN" if bool(torch.isnan(low)) else "inf"
        raise ValueError(f"Expected `{name}`{_where(where)} to be finite, but got {bad}.")
    if within is not None and (bool(low < within[0]) or bool(high > within[1])):
        got = low if bool(low < within[0]) else high
        raise ValueError(
            f"Expected `{name}`{_where(where)}{_where(range_note)} to lie in [{within[0]:g}, {within[1]:g}], "
            f"but got {got.item():g}."
        )


def check_ndim(name: str, value: Tensor, ndims: Sequence[int], layout: str, where: str = "") -> None:
    """Raise ValueError unless ``value.ndim`` is in ``ndims``; ``layout`` names the expected shape."""
    if value.ndim not in ndims:
        raise ValueError(
            f"Expected `{name}`{_where(where)} to have shape {layout}, but got {format_shape(value.shape)}."
        )


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor, where: str = "") -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"Expected `{name_a}` and `{name_b}`{_where(where)} to have the same shape, but got "
            f"{format_shape(a.shape)} and {format_shape(b.shape)}."
        )
