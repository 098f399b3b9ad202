"""Options every benchmark shares: ``--background-load N`` (busy processes for the run) and ``--device``.

Validation rarely runs on an idle CPU, so each benchmark can start N processes that spin on the CPU for the
whole run and are ended by the script, to measure how each tool holds up when it shares the cores.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--background-load`` and ``--device`` to a benchmark's parser."""
    parser.add_argument(
        "--background-load",
        type=int,
        default=0,
        metavar="N",
        help="start N busy processes for the duration of the run (ended by the script)",
    )
    parser.add_argument("--device", default="cpu", help="device our metrics run on: cpu or cuda")


def resolve_device(name: str) -> torch.device:
    """The requested device; a clear error when CUDA is asked for and absent."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"Expected a CUDA device for --device {name}, but torch.cuda.is_available() is False.")
    return device


def _spin() -> None:  # pragma: no cover - runs in a child process
    value = 0
    while True:
        value = (value * 1103515245 + 12345) % 2147483648


@contextmanager
def background_load(processes: int) -> Iterator[None]:
    """Run the block while ``processes`` busy loops occupy the CPU; they are terminated on exit."""
    workers = [mp.get_context("spawn").Process(target=_spin, daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join()


def describe_load(processes: int) -> str:
    """One line for the report header."""
    return "idle" if processes == 0 else f"{processes} busy background process{'es' if processes > 1 else ''}"
