"""Root pytest configuration: modules that need an optional package are not collected (as doctest modules)
where that package is absent."""

from __future__ import annotations

import importlib.util

collect_ignore = [] if importlib.util.find_spec("numba") else ["lightning_evalkit/detection/rle_numba.py"]
