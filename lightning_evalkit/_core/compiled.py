"""Optional compiled (numba) kernels: loaded on first use, skipped where numba is absent or turned off."""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType


@functools.cache
def compiled_module(name: str) -> ModuleType | None:
    """The kernel module ``name`` where numba is installed and ``LIGHTNING_EVALKIT_NUMBA`` is not "0", else None
    (the vectorised path then runs). Imported on first use, so that importing the package never waits for numba.

    Example:
        >>> compiled_module("lightning_evalkit.no_such_kernels") is None
        True
    """
    if os.environ.get("LIGHTNING_EVALKIT_NUMBA", "1") == "0":
        return None
    try:
        return importlib.import_module(name)
    except ImportError:  # numba absent, or not built for this numpy
        return None
