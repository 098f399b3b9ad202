"""Peak resident memory of a call, for tests that bound what it allocates.

torch's CPU allocations bypass Python's allocator, so ``tracemalloc`` does not see them; these helpers read the
kernel's high-water mark instead (``VmHWM``, reset by writing 5 to ``/proc/self/clear_refs``, Linux >= 4.0).
"""

from __future__ import annotations

import re
import resource
from collections.abc import Callable
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mib(key: str) -> float:
    return int(re.search(rf"^{key}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE).group(1)) / 1024


def can_reset_peak() -> bool:
    """Whether the resident high-water mark can be reset here (Linux with a writable clear_refs)."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rise_mib(call: Callable[[], object]) -> float:
    """MiB by which resident memory peaked above its level before ``call``.

    Exact where :func:`can_reset_peak`; elsewhere only the rise above the process's earlier peak (a lower bound).
    """
    if can_reset_peak():
        before = _status_mib("VmRSS")
        call()
        return _status_mib("VmHWM") - before
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    call()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
