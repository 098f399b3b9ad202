"""Warnings from the metrics, said once and on rank 0 only, as on one device.

Under DDP every rank runs the same update and compute code, so a plain ``warnings.warn`` would print once per rank.
torchmetrics' ``rank_zero_warn`` reads the rank from ``LOCAL_RANK`` when it is imported, which is 0 on every rank of
a spawned process group (and on every node's first process). Here the rank is asked of ``torch.distributed`` when
the warning is raised. After a synced compute every rank holds the same numbers, so rank 0 says what every rank would.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator, MutableSet
from typing import Any

import torch

_COLLECTING = contextvars.ContextVar("evalkit_collecting_warnings", default=False)  # see collect_on_every_rank


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
    if is_rank_zero() or _COLLECTING.get():
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


@contextlib.contextmanager
def collect_on_every_rank(records: list[tuple[type[Warning], str]], active: bool = True) -> Iterator[None]:
    """Record (not show) the metrics' warnings of the block on every rank, rank 0's and the others' alike.

    EvalCallback wraps each DDP update in it, then :func:`say_gathered` says each distinct one once from rank 0,
    so a warning about data that only another rank saw (an image with too many detections) is not lost.
    ``active=False`` (one process) changes nothing.
    """
    if not active:
        yield
        return
    token = _COLLECTING.set(True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        _COLLECTING.reset(token)
    records += [(record.category, str(record.message)) for record in caught]


def say_once(said: MutableSet[tuple[type[Warning], str]], category: type[Warning], message: Any, where: tuple) -> None:
    """Show a warning unless ``said`` (the caller's record for a run) holds its text: a condition that holds every
    epoch is said once, and again only when its text changes. ``where`` is ``(filename, lineno)``.

    Example:
        >>> import warnings
        >>> said = set()
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     for _ in range(3):
        ...         say_once(said, UserWarning, "undefined", (__file__, 1))
        >>> len(caught)
        1
    """
    key = (category, str(message))
    if key in said:
        return
    said.add(key)
    warnings.warn_explicit(message, category, where[0], where[1])


def say_gathered(records: list[tuple[type[Warning], str]], said: MutableSet[tuple[type[Warning], str]]) -> None:
    """Gather every rank's ``records`` (a collective: all ranks call it) and say each distinct one once on rank 0.

    ``said`` is the caller's record of what it said this run (see :func:`say_once`).
    """
    distributed = torch.distributed
    gathered: list[Any] = [records]
    if distributed.is_available() and distributed.is_initialized():
        gathered = [None] * distributed.get_world_size()
        distributed.all_gather_object(gathered, records)
    records.clear()
    if not is_rank_zero():
        return
    for category, message in dict.fromkeys(item for rank in gathered for item in rank):
        say_once(said, category, message, (__file__, 0))
