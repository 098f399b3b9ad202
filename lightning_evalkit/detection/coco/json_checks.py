"""Checks of COCO JSON input for the loader (:mod:`lightning_evalkit.detection.coco.json_io`).

Every problem is one ValueError (TypeError for a wrong type) that names the file, the record and the field:
"Expected `bbox` of result 7 in dt.json to be 4 finite numbers with width and height >= 0, but got [1, 2, -3, 4]."
The checks are column-wise and cheap on the usual file (a few C-level passes over each column); only when one
fails is the column walked record by record to find the first culprit. Fields that the evaluation does not read
are not checked, so every file that pycocotools evaluates correctly still loads.
"""

from __future__ import annotations

import gc
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

_REQUIRED = object()
ABSENT = float("nan")  # column()'s default for "absent, NaN in the array"; a NaN read from a file is another object
_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with Python's garbage collector off (restored after, also on error).

    Why: a parsed COCO file is millions of dicts, lists and floats, and every collection that Python starts
    while they are alive (one per few hundred new objects, the oldest generation now and then) walks them all:
    a third of the time of reading a 500,000-result file, and again while tensors are built from it. None of
    it holds reference cycles, so there is nothing for the collector to find.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def show(value: Any) -> str:
    """A short description of a JSON value for messages: ``"0.5" (a string)``, ``[1, 2]``, ``null``."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except RecursionError:
            text = f"a deeply nested {type(value).__name__}"
    text = text if len(text) <= 60 else text[:57] + "..."
    kind = _JSON_NAMES.get(type(value))
    return f"{text} ({kind})" if kind in ("a string", "an object", "a boolean") else text


class Records(NamedTuple):
    """One list of JSON objects of a file (images, annotations, categories or results) and how messages name it."""

    items: list[dict]
    kind: str  # "image", "annotation", "category" or "result"
    file: str  # the path as given, or "`gt_json`" / "`results_json`" for parsed input

    def where(self, index: int) -> str:
        """``annotation 5 (id 17) in gt.json``: the record's position in its list, and its id when it has one."""
        ident = self.items[index].get("id")
        shown = f" (id {ident})" if type(ident) is int else ""
        return f"{self.kind} {index}{shown} in {self.file}"


def read_json(source: Any, argument: str) -> tuple[Any, str]:
    """The parsed content of a JSON file (or ``source`` itself when it is not a path) and its name for messages.

    Raises OSError when the file cannot be read, ValueError naming the file when it is not UTF-8 JSON.
    """
    if not isinstance(source, str | os.PathLike):
        return source, f"`{argument}`"
    name = str(source)
    with open(source, "rb") as file:
        data = file.read()
    if not data.strip():
        raise ValueError(f"Expected {name} to hold JSON, but it is empty.")
    try:
        text = data.decode("utf-8-sig")  # pycocotools reads text files: UTF-8 (a byte order mark is let pass)
        with gc_paused():
            return json.loads(text), name
    except UnicodeDecodeError as error:
        raise ValueError(
            f"Expected {name} to be UTF-8 text, but byte {error.object[error.start]:#04x} at offset {error.start} "
            "is not."
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"Expected {name} to hold JSON, but line {error.lineno} column {error.colno} is not: {error.msg}."
        ) from None
    except RecursionError:
        raise ValueError(f"Expected {name} to hold JSON nested less deeply, but it is too deep to read.") from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise ValueError(f"Expected {name} to hold JSON that Python reads, but got: {error}.") from None


def records(items: Any, kind: str, file: str, key: str) -> Records:
    """``items`` (the ``key`` list of ``file``) checked to be a list of JSON objects."""
    if not isinstance(items, list):
        raise TypeError(f"Expected `{key}` in {file} to be a list, but got {show(items)}.")
    if not set(map(type, items)) <= {dict}:
        index = next(i for i, item in enumerate(items) if not isinstance(item, dict))
        raise TypeError(f"Expected {kind} {index} in {file} to be a JSON object, but got {show(items[index])}.")
    return Records(items, kind, file)


def dataset_parts(dataset: Any, file: str) -> tuple[Records, Records, Records]:
    """The ``images``, ``annotations`` (optional) and ``categories`` records of a COCO ground truth."""
    if not isinstance(dataset, dict):
        raise TypeError(
            f"Expected {file} to hold a COCO dataset (an object with `images`, `annotations` and `categories`), "
            f"but got {show(dataset)}."
        )
    for key in ("images", "categories"):
        if key not in dataset:
            raise ValueError(f"Expected {file} to have `{key}`, but it has keys {sorted(map(str, dataset))[:8]}.")
    return (
        records(dataset["images"], "image", file, "images"),
        records(dataset.get("annotations", []), "annotation", file, "annotations"),
        records(dataset["categories"], "category", file, "categories"),
    )


def results_records(results: Any, file: str) -> Records:
    """The records of a COCO results list (pycocotools' ``loadRes`` takes nothing else)."""
    if not isinstance(results, list):
        got = f"an object with keys {sorted(map(str, results))[:8]}" if isinstance(results, dict) else show(results)
        raise TypeError(f"Expected {file} to hold a list of results, but got {got}.")
    return records(results, "result", file, "results")


def missing(rows: Records, key: str) -> None:
    """Raise for the first record without ``key``."""
    index = next(i for i, item in enumerate(rows.items) if key not in item)
    keys = sorted(map(str, rows.items[index]))[:8]
    raise ValueError(f"Expected {rows.where(index)} to have `{key}`, but it has keys {keys}.")


def values_of(rows: Records, key: str, default: Any = _REQUIRED) -> list[Any]:
    """The ``key`` field of every record (``default`` where absent, or an error naming the first without it)."""
    if default is not _REQUIRED:
        return [item.get(key, default) for item in rows.items]
    try:
        return list(map(itemgetter(key), rows.items))
    except KeyError:
        missing(rows, key)
        raise  # pragma: no cover (missing always raises)


class _Kind(NamedTuple):
    types: frozenset  # the Python types allowed
    dtype: Any
    valid: Callable[[Any], bool]  # one value's check (after its type's)
    expectation: str


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float64
        return False


KINDS = {
    "id": _Kind(frozenset({int}), np.int64, lambda v: -(2**63) <= v < 2**63, "an integer"),
    "flag": _Kind(frozenset({int, bool}), np.int64, lambda v: v in (0, 1), "0 or 1"),
    "real": _Kind(frozenset({int, float}), np.float64, _finite, "a finite number"),
    "size": _Kind(frozenset({int, float}), np.float64, lambda v: _finite(v) and v >= 0, "a finite number >= 0"),
}


def column(rows: Records, key: str, kind: str, default: Any = _REQUIRED) -> np.ndarray:
    """One scalar field of every record as an array, checked to be of ``kind`` (see ``KINDS``); with
    ``default=ABSENT`` a record without the field gives NaN (a NaN in the file is still refused)."""
    spec, values = KINDS[kind], values_of(rows, key, default)
    if set(map(type, values)) <= spec.types:
        try:
            array = np.fromiter(values, np.float64 if default is ABSENT else spec.dtype, len(values))
        except OverflowError:
            array = None
        absent = sum(v is ABSENT for v in values) if default is ABSENT else 0
        if array is not None and _column_valid(array, kind, absent):
            return array
    index = next(i for i, v in enumerate(values) if not (v is ABSENT or _value_ok(v, spec)))
    error = TypeError if type(values[index]) not in spec.types else ValueError
    raise error(f"Expected `{key}` of {rows.where(index)} to be {spec.expectation}, but got {show(values[index])}.")


def _value_ok(value: Any, spec: _Kind) -> bool:
    return type(value) in spec.types and spec.valid(value)


def _column_valid(array: np.ndarray, kind: str, absent: int) -> bool:
    if kind == "flag":
        return bool(np.isin(array, (0, 1)).all())
    if kind in ("real", "size"):
        finite = np.isfinite(array)
        return int((~finite).sum()) == absent and (kind == "real" or bool((array[finite] >= 0).all()))
    return True


def _box_ok(box: Any) -> bool:
    return (
        type(box) in (list, tuple)
        and len(box) == 4
        and all(type(v) in (int, float) and _finite(v) for v in box)
        and box[2] >= 0
        and box[3] >= 0
    )


def boxes(rows: Records, key: str = "bbox", values: list[Any] | None = None) -> np.ndarray:
    """The (N, 4) float64 ``bbox`` of every record, checked: 4 finite numbers [x, y, w, h] with w, h >= 0."""
    values = values_of(rows, key) if values is None else values
    array = None
    shaped = set(map(type, values)) <= {list, tuple} and set(map(len, values)) <= {4}
    if shaped and set(map(type, chain.from_iterable(values))) <= {int, float}:
        try:
            array = np.array(values, dtype=np.float64).reshape(-1, 4)
        except OverflowError:
            array = None
    if array is not None and np.isfinite(array).all() and (array[:, 2:] >= 0).all():
        return array
    index = next(i for i, box in enumerate(values) if not _box_ok(box))
    bad = values[index]
    is_type = type(bad) not in (list, tuple) or (len(bad) == 4 and any(type(v) not in (int, float) for v in bad))
    raise (TypeError if is_type else ValueError)(
        f"Expected `{key}` of {rows.where(index)} to be [x, y, width, height]: 4 finite numbers with width and "
        f"height >= 0, but got {show(bad)}."
    )


def image_positions(rows: Records, image_ids: np.ndarray, images_file: str) -> np.ndarray:
    """The position in ``image_ids`` (sorted) of each record's ``image_id``, which must be one of them."""
    ids = column(rows, "image_id", "id")
    position = np.searchsorted(image_ids, ids)
    found = position < image_ids.size
    found[found] = image_ids[position[found]] == ids[found]
    if not found.all():
        index = int(np.flatnonzero(~found)[0])
        raise ValueError(
            f"Expected `image_id` of {rows.where(index)} to be the id of an image in `images` of {images_file}, "
            f"but got {int(ids[index])}."
        )
    return position


def sorted_image_ids(images: Records) -> tuple[np.ndarray, np.ndarray]:
    """The image ids in increasing order (unique) and the order of ``images`` that sorts them."""
    ids = column(images, "id", "id")
    order = np.argsort(ids, kind="stable")
    repeated = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if repeated.size:
        first, again = (int(i) for i in order[repeated[0] : repeated[0] + 2])
        raise ValueError(
            f"Expected the image ids in {images.file} to be unique, but image {first} and image {again} both "
            f"have id {int(ids[first])}."
        )
    return ids[order], order


def category_ids(categories: Records) -> np.ndarray:
    """The declared category ids, sorted (pycocotools evaluates these and only these)."""
    return np.unique(column(categories, "id", "id"))
