"""Run a metric's many small tensor operations on one intra-op thread, whatever torch's default.

Why: torch's CPU kernels split every tensor over a few thousand elements across the OpenMP pool
(``torch.get_num_threads()``, one per core by default), and each split ends in a barrier. A metric update is
hundreds of such small operations, so it spends its time in barriers; when another process holds a core, the
thread that must reach the barrier is descheduled for a whole time slice, and every operation waits for it.
Measured on a 2-core machine with one busy background process (bbox mAP, 1000 images): 24-28 s with torch's
2 threads against 2.5 s on one thread; idle, one thread is no slower, because the work per operation is too
small to pay for the split. One thread per metric call keeps the speed independent of the load.

The setting is process-wide while the call runs (torch has no per-call setting) and is restored after it,
also on error; a call already inside one (a metric calling another) changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

_Function = TypeVar("_Function", bound=Callable)


@contextmanager
def intra_op_threads(count: int = 1) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, then restore the previous number.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with intra_op_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def single_threaded(function: _Function) -> _Function:
    """Decorator: run ``function`` under :func:`intra_op_threads` (1).

    Example:
        >>> import torch
        >>> @single_threaded
        ... def threads() -> int:
        ...     return torch.get_num_threads()
        >>> threads()
        1
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with intra_op_threads(1):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
