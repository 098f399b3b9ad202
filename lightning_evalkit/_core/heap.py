"""Give the C heap's free pages back to the operating system (glibc's ``malloc_trim``), where there is one.

Why: a metric's "cat" states arrive as many pieces of a few hundred kB, which glibc serves from its heap. When
compute joins them into one tensor per state, the pieces are freed but their pages stay with the process: the
heap is not trimmed while anything lives above them, and the large arrays of compute come from fresh mappings,
so they never reuse that space. On a 50,000-image detection run that is a few hundred MiB of peak memory doing
nothing. ``malloc_trim(0)`` returns every free page (also from the middle of the heap). Elsewhere (no glibc)
this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


# below this the freed pieces weigh little, and trimming costs more than it saves: every page given back is
# faulted in again by the next allocations (milliseconds on a 500-image evaluation)
WORTH_TRIMMING = 128 * 2**20


def release_free_memory(freed_bytes: int) -> None:
    """Return the heap's free pages to the operating system when ``freed_bytes`` were just freed in pieces (glibc
    only; a no-op elsewhere and below ``WORTH_TRIMMING``).

    Example:
        >>> release_free_memory(2**30)
    """
    trim = _malloc_trim()
    if trim is not None and freed_bytes >= WORTH_TRIMMING:
        trim(0)
