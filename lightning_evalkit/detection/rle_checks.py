"""Checks of COCO RLE dicts before any count is read: each mask a dict with ``size`` (two ints >= 0, at most
2**53 pixels) and ``counts`` (str, bytes, a list of ints or a tensor), and one size per image (see rle.py for the
counts' own checks). The common case is checked in C-level passes over the dicts (``map``, ``set``); anything odd
is checked dict by dict, which names the bad one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

from torch import Tensor

_COUNTS_TYPES = (str, bytes, list, tuple, Tensor)
_MAX_AREA = 2**53  # pixels of one RLE: counts (and float64 areas) stay exact, checks never overflow int64
_TYPE_EXPECTATION = "be a str, bytes or list of ints"


class RleImage(NamedTuple):
    """One image's masks given as COCO RLE dicts, checked: their common size and their counts."""

    height: int
    width: int
    counts: list[Any]  # str, bytes, or a sequence of ints per mask
    where: str = ""  # where the masks came from, for messages ("of image 3 in `target`")
    first: int = 0  # the index messages give the first mask (its position in the caller's list)


def _mask_name(index: int, where: str) -> str:
    return f"mask {index} {where}".rstrip()


def _rle_size(rle: Any, index: int, where: str) -> tuple[int, int]:
    name = _mask_name(index, where)
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        got = type(rle).__name__ if not isinstance(rle, dict) else f"keys {sorted(map(str, rle))}"
        raise TypeError(f"Expected {name} to be a dict with keys 'size' and 'counts' (COCO RLE), but got {got}.")
    size = rle["size"]
    try:
        height, width = (int(v) for v in size)
        exact = not any(isinstance(v, bool) or v != int(v) for v in size)
    except (TypeError, ValueError, OverflowError):
        height, width, exact = -1, -1, False
    if height < 0 or width < 0 or not exact or height * width > _MAX_AREA:
        raise ValueError(
            f"Expected `size` of {name} to be [height, width] of ints >= 0 with height * width <= 2**53, but got "
            f"{size!r:.60}."
        )
    counts = rle["counts"]
    if not isinstance(counts, _COUNTS_TYPES):
        raise TypeError(f"Expected `counts` of {name} to {_TYPE_EXPECTATION}, but got {type(counts).__name__}.")
    return height, width


def _fast_sizes(rles: Sequence[Any]) -> tuple[set[tuple[int, int]], list[Any]] | None:
    """The sizes and the counts of well-formed RLE dicts, in C-level passes (``map``, ``set``); None when anything
    is odd (a subclass, a size that is not two ints): the caller then checks each dict and names the bad one.

    The set of sizes merges equal ones before their types are read. Of the values that compare equal to an int,
    only a bool is refused (floats, numpy ints are accepted as the int), and a bool equals only 0 or 1: so the types
    of the distinct sizes suffice unless a 0 or 1 is among them, and then every size value is read.
    """
    try:
        if not set(map(type, rles)) <= {dict}:
            return None
        raw = [rle["size"] for rle in rles]
        counts = [rle["counts"] for rle in rles]
        if not set(map(type, counts)) <= {str, bytes, list, tuple}:
            return None
        sizes = set(map(tuple, raw))
        if not all(len(s) == 2 and type(s[0]) is int and type(s[1]) is int for s in sizes):
            return None
        if any(0 in s or 1 in s for s in sizes) and not set(map(type, itertools.chain.from_iterable(raw))) <= {int}:
            return None
        if not all(min(s) >= 0 and s[0] * s[1] <= _MAX_AREA for s in sizes):
            return None
        return sizes, counts
    except (TypeError, KeyError, IndexError, ValueError):
        return None


def check_rles(rles: Sequence[Any], where: str = "", size: tuple[int, int] | None = None, first: int = 0) -> RleImage:
    """Check a list of COCO RLE dicts that share one size (``size`` when given); -1 x -1 when the list is
    empty. Masks are named ``first``, ``first + 1``, ... in messages."""
    fast = _fast_sizes(rles)
    if fast is None:
        sizes = {_rle_size(rle, first + index, where) for index, rle in enumerate(rles)}
        counts = [rle["counts"] for rle in rles]
    else:
        sizes, counts = fast
    if size is not None:
        sizes.add(size)
    if len(sizes) > 1:
        raise ValueError(
            f"Expected every RLE {where} to have the same size, but got {sorted(sizes)}.".replace("  ", " ")
        )
    height, width = sizes.pop() if sizes else (-1, -1)
    return RleImage(height, width, counts, where, first)
