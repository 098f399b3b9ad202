"""Peak memory of a block of code, as the benchmarks report it: the rise of the resident set size."""

from __future__ import annotations

import gc
import os
import threading
import time

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRss:
    """Highest resident set size seen while the block runs, minus its level at the start.

    A background thread samples /proc/self/statm every millisecond, so torch, numpy, C++ and Python
    allocations all count (tracemalloc sees only Python's).
    """

    def __enter__(self) -> PeakRss:
        gc.collect()
        self.start = self.peak = _rss()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def rise_mib(self) -> float:
        return (self.peak - self.start) / 2**20
