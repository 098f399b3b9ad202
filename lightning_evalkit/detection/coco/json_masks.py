"""Segmentations of COCO JSON files for the loader: checked, rasterised to RLE where they are polygons, and held
to one mask size per image.

Ground truth may hold polygons, uncompressed RLE (``counts`` a list) or compressed RLE (``counts`` a string);
results hold RLE (pycocotools' ``loadRes`` reads nothing else). Polygons and uncompressed RLE of the ground truth
become compressed RLE with pycocotools (an optional extra: ``pip install pycocotools``), as in pycocotools'
``annToRLE``. Every problem is a ValueError (TypeError for a wrong type) naming the file, the record and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lightning_evalkit.detection.coco.json_checks import Records, show
from lightning_evalkit.detection.rle import RleImage, rle_counts

_MAX_PIXELS = 2**32  # pycocotools' run lengths are uint32: height * width stays below
_SIZE_TEXT = "[height, width] of integers >= 0 with height * width < 2**32"


def mask_api(backend: str = "pycocotools") -> Any:
    """pycocotools' (or faster-coco-eval's) mask module, with a clear error when it is not installed."""
    try:
        if backend == "faster_coco_eval":
            from faster_coco_eval.core import mask as api
        else:
            from pycocotools import mask as api
    except ImportError as error:
        package = "faster-coco-eval" if backend == "faster_coco_eval" else "pycocotools"
        raise ImportError(
            f"Polygon or uncompressed-RLE segmentations need {package} to rasterise them: `pip install {package}`."
        ) from error
    return api


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _integral(value: Any) -> bool:
    return type(value) is int or (type(value) is float and value.is_integer())


def _size_ok(size: Any, integral: Callable[[Any], bool] = _is_count) -> bool:
    """[height, width]: ints (``integral`` numbers for an image's) >= 0, fewer than 2**32 pixels."""
    return (
        type(size) in (list, tuple)
        and len(size) == 2
        and all(integral(v) and v >= 0 for v in size)
        and size[0] * size[1] < _MAX_PIXELS
    )


def image_sizes(images: Records, order: np.ndarray) -> np.ndarray:
    """(num_images, 2) int64 [height, width] of the images in ``order`` (-1 where an image has not both)."""
    sizes = np.full((len(order), 2), -1, dtype=np.int64)
    for row, index in enumerate(order.tolist()):
        image = images.items[index]
        if "height" in image and "width" in image:
            size = [image["height"], image["width"]]
            if not _size_ok(size, _integral):
                raise ValueError(
                    f"Expected `height` and `width` of {images.where(index)} to be integers >= 0 with "
                    f"height * width < 2**32, but got {show(size[0])} and {show(size[1])}."
                )
            sizes[row] = [int(v) for v in size]
    return sizes


def _check_rle(value: dict, rows: Records, index: int, key: str) -> tuple[int, int]:
    """The [height, width] of an RLE dict, checked; list counts are checked here, string counts later in bulk."""
    if "size" not in value or "counts" not in value:
        got = sorted(map(str, value))[:8]
        raise ValueError(f"Expected `{key}` of {rows.where(index)} to have `size` and `counts`, but it has keys {got}.")
    size, counts = value["size"], value["counts"]
    if not _size_ok(size):
        raise ValueError(f"Expected `{key}.size` of {rows.where(index)} to be {_SIZE_TEXT}, but got {show(size)}.")
    height, width = int(size[0]), int(size[1])
    if isinstance(counts, list):
        if not all(map(_is_count, counts)) or sum(counts) != height * width:
            raise ValueError(
                f"Expected `{key}.counts` of {rows.where(index)} to be integers >= 0 that sum to height * width = "
                f"{height * width}, but got {show(counts)}."
            )
    elif not isinstance(counts, str | bytes):
        raise TypeError(
            f"Expected `{key}.counts` of {rows.where(index)} to be a string (compressed RLE) or a list of "
            f"integers, but got {show(counts)}."
        )
    return height, width


def _check_polygons(value: list, rows: Records, index: int, key: str) -> None:
    def polygon_ok(polygon: Any) -> bool:
        return (
            type(polygon) is list
            and len(polygon) >= 4
            and len(polygon) % 2 == 0
            and all(type(v) in (int, float) and np.isfinite(v) for v in polygon)
        )

    if not value or not all(map(polygon_ok, value)):
        raise ValueError(
            f"Expected `{key}` of {rows.where(index)} to be polygons: lists of an even number (>= 4) of finite "
            f"numbers [x1, y1, x2, y2, ...], but got {show(value)}."
        )


def check_segmentations(rows: Records, polygons: bool, key: str = "segmentation") -> list[tuple[int, int] | None]:
    """Check the ``key`` of every record; returns each one's RLE [height, width], None for polygons."""
    sizes: list[tuple[int, int] | None] = []
    expectation = "an RLE object {size, counts}" + (" or polygons" if polygons else "")
    for index, item in enumerate(rows.items):
        if key not in item:
            keys = sorted(map(str, item))[:8]
            raise ValueError(f"Expected {rows.where(index)} to have `{key}`, but it has keys {keys}.")
        value = item[key]
        if isinstance(value, dict):
            sizes.append(_check_rle(value, rows, index, key))
        elif isinstance(value, list) and polygons:
            _check_polygons(value, rows, index, key)
            sizes.append(None)
        else:
            raise TypeError(f"Expected `{key}` of {rows.where(index)} to be {expectation}, but got {show(value)}.")
    _check_strings(rows, sizes, key)
    return sizes


def _check_strings(rows: Records, sizes: list[tuple[int, int] | None], key: str) -> None:
    """Decode every compressed RLE string at once (our decoder); when one is bad, halve until it is found."""
    found = [
        (i, size, rows.items[i][key]["counts"])
        for i, size in enumerate(sizes)
        if size is not None and isinstance(rows.items[i][key]["counts"], str | bytes)
    ]

    def valid(part: list) -> bool:
        try:
            rle_counts([RleImage(size[0], size[1], [counts]) for _, size, counts in part])
        except ValueError:
            return False
        return True

    if valid(found):
        return
    while len(found) > 1:
        half = len(found) // 2
        found = found[:half] if not valid(found[:half]) else found[half:]
    index, size, counts = found[0]
    raise ValueError(
        f"Expected `{key}.counts` of {rows.where(index)} to be a compressed RLE whose run lengths sum to "
        f"height * width = {size[0] * size[1]}, but got {show(counts)}."
    )


def check_mask_sizes(
    image_size: np.ndarray, parts: list[tuple[Records, np.ndarray, list[tuple[int, int] | None]]], key: str
) -> np.ndarray:
    """Hold every RLE to its image's [height, width] (the image's own, else the first mask's of that image).

    ``parts``: (records, image position of each, RLE size of each or None), ground truth first. Returns the
    per-image sizes, -1 where no size is known.
    """
    expected = image_size.copy()
    for rows, position, sizes in parts:
        index = np.array([i for i, size in enumerate(sizes) if size is not None], dtype=np.int64)
        got = np.array([size for size in sizes if size is not None], dtype=np.int64).reshape(-1, 2)
        unknown = expected[position[index], 0] < 0
        first = np.unique(position[index][unknown], return_index=True)
        expected[first[0]] = got[unknown][first[1]]
        bad = np.flatnonzero((got != expected[position[index]]).any(1))
        if bad.size:
            i = int(index[bad[0]])
            image = rows.items[i]["image_id"]
            raise ValueError(
                f"Expected `{key}.size` of {rows.where(i)} to be {expected[position[i]].tolist()}, the size of the "
                f"other masks and of the image (id {image}), but got {got[bad[0]].tolist()}."
            )
    return expected


def as_rle(segmentation: Any, size: tuple[int, int], backend: str) -> dict:
    """A checked COCO segmentation as a compressed RLE dict (polygons and list counts through ``backend``)."""
    if isinstance(segmentation, dict) and isinstance(segmentation["counts"], str | bytes):
        return segmentation
    api = mask_api(backend)
    height, width = size
    if isinstance(segmentation, list):  # polygons of one object: merge their RLEs
        rle = api.merge(api.frPyObjects(segmentation, height, width))
    else:
        rle = api.frPyObjects(segmentation, height, width)
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.decode() if isinstance(counts, bytes) else counts}


def _check_polygon_reach(polygons: list, rows: Records, index: int, key: str, size: tuple[int, int]) -> None:
    """Polygon points near the image: pycocotools' rasteriser allocates and walks every pixel of the outline (at
    5x), so a point far off (a stray 1e9) takes minutes and gigabytes, and past 2**31 / 5 overflows."""
    reach = 2 * max(size) + 64
    farthest = max(abs(v) for polygon in polygons for v in polygon)
    if farthest > reach:
        raise ValueError(
            f"Expected the polygon points of `{key}` of {rows.where(index)} to lie near its image of size "
            f"{list(size)} (|x|, |y| <= 2 * max(height, width) + 64 = {reach}), but got {farthest:g}."
        )


def rasterise(rows: Records, key: str, sizes: np.ndarray, backend: str) -> list[dict]:
    """Every record's checked ``key`` as compressed RLE; ``sizes`` (N, 2) is the image size of each record."""
    out = []
    for index, (item, size) in enumerate(zip(rows.items, sizes.tolist(), strict=True)):
        value = item[key]
        if isinstance(value, list) and size[0] < 0:
            raise ValueError(
                f"Expected the image (id {item['image_id']}) of {rows.where(index)} to have `height` and `width` "
                f"to rasterise its polygon `{key}`, but it has not."
            )
        if isinstance(value, list):
            _check_polygon_reach(value, rows, index, key, (size[0], size[1]))
        try:
            out.append(as_rle(value, (size[0], size[1]), backend))
        except (ValueError, TypeError, OverflowError, IndexError) as error:  # pycocotools' own refusals
            raise ValueError(
                f"Expected `{key}` of {rows.where(index)} to be rasterisable by {backend}, but it raised: {error}"
            ) from None
    return out
