"""Warnings from the metrics, said once and on rank 0 only, as on one device.

Under DDP every rank runs the same update and compute code, so a plain ``warnings.warn`` would print once per rank.
torchmetrics' ``rank_zero_warn`` reads the rank from ``LOCAL_RANK`` when it is imported, which is 0 on every rank of
a spawned process group (and on every node's first process). Here the rank is asked of ``torch.distributed`` when
the warning is raised. After a synced compute every rank holds the same numbers, so rank 0 says what every rank would.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch


def is_rank_zero() -> bool:
    """True on rank 0 of an initialised process group, and always without one.

    Example:
        >>> is_rank_zero()
        True
    """
    distributed = torch.distributed
    return not (distributed.is_available() and distributed.is_initialized()) or distributed.get_rank() == 0


def rank_zero_warn(message: str, category: type[Warning] = UserWarning, stacklevel: int = 2) -> None:
    """``warnings.warn(message, category, stacklevel)`` on rank 0 only (``stacklevel`` as the caller's own).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     rank_zero_warn("undefined")
        >>> [str(w.message) for w in caught]
        ['undefined']
    """
    if is_rank_zero():
        warnings.warn(message, category, stacklevel=stacklevel + 1)


def warn_once(owner: Any, key: str, message: str, category: type[Warning] = UserWarning, stacklevel: int = 2) -> None:
    """:func:`rank_zero_warn`, once per ``owner`` (a metric) and ``key``: for warnings an update would repeat every
    batch. The keys said are kept on the owner, so a clone made later stays quiet too.

    Example:
        >>> import warnings
        >>> class Owner: ...
        >>> owner = Owner()
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     for _ in range(3):
        ...         warn_once(owner, "many", "too many detections")
        >>> len(caught)
        1
    """
    said = owner.__dict__.setdefault("_evalkit_warned", set())
    if key in said:
        return
    said.add(key)
    rank_zero_warn(message, category, stacklevel + 1)
