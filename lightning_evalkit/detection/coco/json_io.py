"""COCO JSON files in and out: one loader (:func:`load_coco`) behind the command line (:mod:`lightning_evalkit.coco`),
``coco_to_tm`` and the tests, and ``tm_to_coco``.

The rules are pycocotools' ``COCOeval`` with its default parameters: every ground-truth image is evaluated (also
those without detections), categories are the ground truth's, a ground truth's ``area`` and ``iscrowd`` come from
the file, and score ties across images are broken by image id. Boxes stay float64 ([x, y, w, h] as in the file),
so the numbers equal pycocotools'. Segmentations are passed on as COCO RLE dicts; polygons and uncompressed RLE in
the ground truth are turned into RLE with pycocotools (an optional extra: ``pip install pycocotools``), the
metric itself never needs it.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit.detection.rle import rle_area, rle_encode

__all__ = ["coco_to_tm", "load_coco", "tm_to_coco"]

IOU_TYPES = ("bbox", "segm")
STAT_KEYS: tuple[str, ...] = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large")
STAT_KEYS += ("mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large")


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


def _read(source: Any) -> Any:
    """A path to a JSON file, or the already parsed object."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    with open(source, "rb") as file, gc_paused():
        return json.loads(file.read())


def _iou_types(iou_type: str | Sequence[str]) -> tuple[str, ...]:
    types = (iou_type,) if isinstance(iou_type, str) else tuple(iou_type)
    if not types or any(t not in IOU_TYPES for t in types):
        raise ValueError(f"Expected `iou_type` to be 'bbox', 'segm' or a tuple of them, but got {iou_type!r}.")
    return types


def _mask_api(backend: str = "pycocotools") -> Any:
    """pycocotools' (or faster-coco-eval's) mask module, with a clear error when it is not installed."""
    try:
        if backend == "faster_coco_eval":
            from faster_coco_eval.core import mask as mask_api
        else:
            from pycocotools import mask as mask_api
    except ImportError as error:
        package = "faster-coco-eval" if backend == "faster_coco_eval" else "pycocotools"
        raise ImportError(
            f"Polygon or uncompressed-RLE segmentations need {package} to rasterise them: `pip install {package}`."
        ) from error
    return mask_api


def _as_rle(segmentation: Any, height: int, width: int, backend: str) -> dict:
    """A COCO segmentation (polygons, uncompressed or compressed RLE) as a compressed RLE dict."""
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), (str, bytes)):
        return segmentation
    mask_api = _mask_api(backend)
    if isinstance(segmentation, list):  # polygons of one object: merge their RLEs
        rle = mask_api.merge(mask_api.frPyObjects(segmentation, height, width))
    else:
        rle = mask_api.frPyObjects(segmentation, height, width)
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.decode() if isinstance(counts, bytes) else counts}


def _field(anns: list[dict], key: str, dtype: Any, default: Any = None) -> np.ndarray:
    """One scalar field of every annotation as an array (``default`` where it is missing, if given)."""
    getter = itemgetter(key) if default is None else (lambda ann: ann.get(key, default))
    try:
        return np.fromiter(map(getter, anns), dtype=dtype, count=len(anns))
    except KeyError:
        raise ValueError(f"Expected every annotation to have `{key}`, but one has none.") from None


def _boxes(anns: list[dict]) -> np.ndarray:
    try:
        return np.array(list(map(itemgetter("bbox"), anns)), dtype=np.float64).reshape(-1, 4)
    except (KeyError, ValueError):
        raise ValueError("Expected every annotation to have a `bbox` of 4 numbers, but one has not.") from None


def _image_positions(anns: list[dict], image_ids: np.ndarray) -> np.ndarray:
    """The position of each annotation's image in ``image_ids`` (sorted)."""
    ids = _field(anns, "image_id", np.int64)
    position = np.searchsorted(image_ids, ids)
    found = position < image_ids.size
    found[found] = image_ids[position[found]] == ids[found]
    if not found.all():
        message = f"Expected every result's image_id to be an image of the ground truth, but got {ids[~found][0]}."
        raise ValueError(message)
    return position


def _masks(anns: list[dict], index: np.ndarray, images: list[dict], position: np.ndarray, backend: str) -> list:
    return [
        _as_rle(
            anns[i]["segmentation"], images[position[i]].get("height", 0), images[position[i]].get("width", 0), backend
        )
        for i in index.tolist()
    ]


def _per_image(
    anns: list[dict], images: list[dict], image_ids: np.ndarray, types: tuple, backend: str, categories: np.ndarray
) -> list[dict]:
    """Annotations as one dict of tensors per image (in ``images`` order, file order within an image), built
    column by column; annotations whose category is not in ``categories`` (when it is not empty) are dropped."""
    position = _image_positions(anns, image_ids)
    columns = {"labels": _field(anns, "category_id", np.int64)}
    if "bbox" in types:
        columns["boxes"] = _boxes(anns)
    if anns and "score" in anns[0]:
        columns["scores"] = _field(anns, "score", np.float64)
    else:
        columns["iscrowd"] = _field(anns, "iscrowd", np.int64, 0)
        columns["area"] = _field(anns, "area", np.float64, 0)
    index = np.arange(len(anns))
    if categories.size and not np.isin(columns["labels"], categories).all():
        index = np.flatnonzero(np.isin(columns["labels"], categories))
    if np.any(position[index][1:] < position[index][:-1]):
        index = index[np.argsort(position[index], kind="stable")]
    counts = np.bincount(position[index], minlength=len(images)).tolist()
    split = {key: torch.from_numpy(values[index]).split(counts) for key, values in columns.items()}
    if "segm" in types:
        masks = _masks(anns, index, images, position, backend)
        bounds = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).tolist()
        split["masks"] = [masks[bounds[i] : bounds[i + 1]] for i in range(len(images))]
    return [{key: column[i] for key, column in split.items()} for i in range(len(images))]


def load_coco(
    gt_json: Any, results_json: Any, iou_type: str | Sequence[str] = "bbox", backend: str = "pycocotools"
) -> tuple[list[dict], list[dict]]:
    """Read a COCO ground-truth file and a results file into per-image ``preds`` and ``target`` dicts.

    Args:
        gt_json: Path of (or the parsed) COCO ground truth: ``images``, ``annotations``, ``categories``.
        results_json: Path of (or the parsed) list of results ``{image_id, category_id, bbox | segmentation,
            score}``.
        iou_type: "bbox", "segm" or both as a tuple: which of ``boxes`` / ``masks`` the dicts get.
        backend: Library rasterising ground-truth polygons for "segm": "pycocotools" or "faster_coco_eval".

    Returns:
        ``(preds, target)``, one entry per ground-truth image in increasing image id. preds: ``boxes`` (N, 4)
        float64 xywh, ``scores`` float64, ``labels`` int64 and/or ``masks`` (a list of RLE dicts); target:
        ``boxes``/``masks``, ``labels``, ``iscrowd``, ``area`` and ``image_id``. Feed them to
        ``MeanAveragePrecision(box_format="xywh", iou_type=...)``. Results whose category is not a ground-truth
        category are dropped, as pycocotools never evaluates them.

    Example:
        >>> gt = {"images": [{"id": 7, "height": 10, "width": 10}], "categories": [{"id": 1}],
        ...       "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 4, 4],
        ...                        "area": 16, "iscrowd": 0}]}
        >>> results = [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 4, 5], "score": 0.9}]
        >>> preds, target = load_coco(gt, results)
        >>> preds[0]["boxes"].tolist(), target[0]["image_id"].item()
        ([[0.0, 0.0, 4.0, 5.0]], 7)
    """
    with gc_paused():
        return _load_coco(gt_json, results_json, _iou_types(iou_type), backend)


def _load_coco(gt_json: Any, results_json: Any, types: tuple[str, ...], backend: str) -> tuple[list[dict], list[dict]]:
    gt, results = _read(gt_json), _read(results_json)
    if not isinstance(gt, dict) or "images" not in gt:
        raise ValueError("Expected `gt_json` to hold a COCO dataset with an `images` list, but it has none.")
    if not isinstance(results, list):
        raise ValueError(f"Expected `results_json` to hold a list of results, but got {type(results).__name__}.")
    images = sorted(gt["images"], key=lambda image: image["id"])
    image_ids = np.array([image["id"] for image in images], dtype=np.int64)
    categories = np.array([c["id"] for c in gt.get("categories", [])], dtype=np.int64)
    missing = [key for key in ("bbox" if "bbox" in types else "segmentation",) if results and key not in results[0]]
    if missing:
        raise ValueError(f"Expected the results to have `{missing[0]}` for iou_type {types!r}, but they have none.")
    no_filter = np.zeros(0, dtype=np.int64)
    target = _per_image(gt.get("annotations", []), images, image_ids, types, backend, no_filter)
    preds = _per_image(results, images, image_ids, types, backend, categories)
    if not results:  # no result at all: empty score and label columns
        for item in preds:
            item["scores"] = torch.zeros(0, dtype=torch.float64)
    for item, image in zip(target, images, strict=True):
        item["image_id"] = torch.tensor(image["id"])
    return preds, target


def coco_to_tm(
    coco_preds: str,
    coco_target: str,
    iou_type: str | Sequence[str] = ("bbox",),
    backend: str = "pycocotools",
) -> tuple[list[dict[str, Tensor]], list[dict[str, Tensor]]]:
    """torchmetrics' ``MeanAveragePrecision.coco_to_tm``: COCO JSON files to the metric's input lists.

    The same signature and output dtypes as torchmetrics (boxes float32 xywh, scores float32, labels int32,
    target ``iscrowd`` int32 and ``area`` float32, "segm" masks as uint8 (N, H, W), decoded with ``backend``).
    Two differences, both toward pycocotools: every ground-truth image is returned (torchmetrics drops images
    without ground truth, and with them their false positives), and targets carry ``image_id``. For exact
    float64 inputs and RLE masks use :func:`load_coco`.

    Example:
        >>> import json, tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 3}], "annotations": [
        ...     {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0}]}
        >>> json.dump(gt, open(os.path.join(folder, "gt.json"), "w"))
        >>> json.dump([{"image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "score": 0.5}],
        ...           open(os.path.join(folder, "dt.json"), "w"))
        >>> preds, target = coco_to_tm(os.path.join(folder, "dt.json"), os.path.join(folder, "gt.json"))
        >>> preds[0]["labels"].dtype, target[0]["boxes"].tolist()
        (torch.int32, [[1.0, 1.0, 4.0, 4.0]])
    """
    if backend not in ("pycocotools", "faster_coco_eval"):
        raise ValueError(f"Expected `backend` to be 'pycocotools' or 'faster_coco_eval', but got {backend!r}.")
    types = _iou_types(iou_type)
    preds, target = load_coco(coco_target, coco_preds, types, backend)
    dtypes = {"boxes": torch.float32, "scores": torch.float32, "labels": torch.int32, "iscrowd": torch.int32}
    dtypes["area"] = torch.float32
    for item in [*preds, *target]:
        for key, dtype in dtypes.items():
            if key in item:
                item[key] = item[key].to(dtype)
        if "masks" in item:
            item["masks"] = _decode_masks(item["masks"], backend)
    return preds, target


def _decode_masks(rles: list[dict], backend: str, size: tuple[int, int] = (0, 0)) -> Tensor:
    if not isinstance(rles, list):  # already decoded
        return rles
    if not rles:
        return torch.zeros(0, *size, dtype=torch.uint8)
    mask_api = _mask_api(backend)
    encoded = [
        {"size": r["size"], "counts": r["counts"].encode() if isinstance(r["counts"], str) else r["counts"]}
        for r in rles
    ]
    return torch.from_numpy(np.ascontiguousarray(mask_api.decode(encoded).transpose(2, 0, 1)))


def _encode_masks(masks: Any) -> list[dict]:
    """Masks of one image as JSON-ready RLE dicts: (N, H, W) masks encoded, RLE dicts with ``counts`` as str."""
    if isinstance(masks, Tensor):
        rles: list[dict] = [] if masks.ndim == 1 and masks.numel() == 0 else rle_encode(masks)
    else:  # RLE dicts: bytes counts (rle_encode's, pycocotools') become str, JSON has no bytes
        rles = list(masks)
    return [
        {
            "size": [int(v) for v in r["size"]],
            "counts": r["counts"].decode() if isinstance(r["counts"], bytes) else r["counts"],
        }
        for r in rles
    ]


def _mask_size(masks: Any) -> list[int] | None:
    """[height, width] of one image's masks, None where it cannot be told (an empty list or ``tensor([])``)."""
    if isinstance(masks, Tensor):
        return [int(masks.shape[1]), int(masks.shape[2])] if masks.ndim == 3 else None
    return [int(v) for v in masks[0]["size"]] if len(masks) else None


def _to_coco_dataset(items: Sequence[dict], iou_type: tuple, box_format: str, is_target: bool) -> list[dict]:
    from lightning_evalkit.detection.boxes import box_convert

    anns: list[dict] = []
    for image, item in enumerate(items):
        labels = item["labels"].tolist()
        boxes = box_convert(item["boxes"].double(), box_format, "xywh").tolist() if "bbox" in iou_type else None
        masks = _encode_masks(item["masks"]) if "segm" in iou_type else None
        for k, label in enumerate(labels):
            ann: dict[str, Any] = {"id": len(anns) + 1, "image_id": image, "category_id": int(label)}
            if boxes is not None:
                ann["bbox"] = boxes[k]
            if masks is not None:
                ann["segmentation"] = masks[k]
            if is_target:
                ann["iscrowd"] = int(item["iscrowd"][k]) if "iscrowd" in item else 0
                given = float(item["area"][k]) if "area" in item else 0.0
                ann["area"] = given if given > 0 else _area(ann)
            else:
                ann["score"] = float(item["scores"][k])
            anns.append(ann)
    return anns


def _area(ann: dict) -> float:
    if "bbox" in ann:
        return float(ann["bbox"][2] * ann["bbox"][3])
    return float(rle_area([ann["segmentation"]])[0])


def _images(target: Sequence[dict], preds: Sequence[dict], types: tuple[str, ...]) -> list[dict]:
    """The images of the dataset: ids are list positions; masks give ``height`` and ``width`` (pycocotools'
    ``annToRLE`` reads them), taken from the target's masks, else the detections'."""
    images: list[dict] = [{"id": i} for i in range(len(target))]
    if "segm" in types:
        for image, gt, dt in zip(images, target, preds, strict=True):
            size = _mask_size(gt["masks"]) or _mask_size(dt["masks"])
            if size is not None:
                image["height"], image["width"] = size
    return images


def tm_to_coco(
    preds: Sequence[dict[str, Tensor]],
    target: Sequence[dict[str, Tensor]],
    name: str = "tm_map_input",
    iou_type: str | Sequence[str] = "bbox",
    box_format: str = "xyxy",
) -> None:
    """Write ``{name}_preds.json`` (a results list) and ``{name}_target.json`` (a COCO dataset) from input lists.

    torchmetrics' ``tm_to_coco(name)`` writes the inputs a metric has stored; ours keeps compact match records,
    not inputs, so this takes the ``preds`` and ``target`` lists themselves (the same per-image dicts as
    ``update``). Image ids are the list positions, boxes are written as xywh, a target ``area`` of 0 or absent is
    the box (or mask) area, and masks are written as compressed RLE (tensors encoded, RLE dicts passed on with
    ``bytes`` counts as str); "segm" images get ``height`` and ``width`` from their masks.

    Example:
        >>> import torch, tempfile, os, json
        >>> name = os.path.join(tempfile.mkdtemp(), "run")
        >>> preds = [dict(boxes=torch.tensor([[258.0, 41.0, 606.0, 285.0]]), scores=torch.tensor([0.5]),
        ...               labels=torch.tensor([0]))]
        >>> target = [dict(boxes=torch.tensor([[214.0, 41.0, 562.0, 285.0]]), labels=torch.tensor([0]))]
        >>> tm_to_coco(preds, target, name)
        >>> json.load(open(name + "_preds.json"))[0]["bbox"]
        [258.0, 41.0, 348.0, 244.0]
    """
    types = _iou_types(iou_type)
    if len(preds) != len(target):
        raise ValueError(f"Expected `preds` and `target` of one length, but got {len(preds)} and {len(target)}.")
    results = _to_coco_dataset(preds, types, box_format, is_target=False)
    anns = _to_coco_dataset(target, types, box_format, is_target=True)
    labels = sorted({a["category_id"] for a in [*results, *anns]})
    dataset = {
        "images": _images(target, preds, types),
        "annotations": anns,
        "categories": [{"id": label, "name": str(label)} for label in labels],
    }
    for suffix, content in (("_preds.json", results), ("_target.json", dataset)):
        with open(f"{name}{suffix}", "w") as file:
            json.dump(content, file)
