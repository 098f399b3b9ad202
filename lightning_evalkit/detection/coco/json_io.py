"""COCO JSON files in and out: one loader (:func:`load_coco`) behind the command line (:mod:`lightning_evalkit.coco`),
``coco_to_tm`` and the tests, and ``tm_to_coco``.

The rules are pycocotools' ``COCOeval`` with its default parameters: every ground-truth image is evaluated (also
those without detections), categories are the ground truth's, a ground truth's ``area`` and ``iscrowd`` come from
the file, and score ties across images are broken by image id. Boxes stay float64 ([x, y, w, h] as in the file),
so the numbers equal pycocotools'. Segmentations are passed on as COCO RLE dicts; polygons and uncompressed RLE in
the ground truth are turned into RLE with pycocotools (an optional extra: ``pip install pycocotools``), the
metric itself never needs it.

Every field the evaluation reads is checked first (:mod:`~lightning_evalkit.detection.coco.json_checks`,
:mod:`~lightning_evalkit.detection.coco.json_masks`): a problem is one ValueError or TypeError naming the file, the
record and the field, never a traceback from deep inside. Only the declared ``categories`` are evaluated
(pycocotools' ``params.catIds``): annotations and results of other categories are dropped, with one warning each.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit.detection.coco.json_checks import (
    ABSENT,
    Records,
    boxes,
    category_ids,
    column,
    dataset_parts,
    gc_paused,
    image_positions,
    read_json,
    results_records,
    sorted_image_ids,
)
from lightning_evalkit.detection.coco.json_masks import (
    check_mask_sizes,
    check_segmentations,
    image_sizes,
    mask_api,
    rasterise,
)
from lightning_evalkit.detection.rle import rle_area, rle_encode, rle_to_bbox

__all__ = ["coco_to_tm", "load_coco", "tm_to_coco"]

IOU_TYPES = ("bbox", "segm")
STAT_KEYS: tuple[str, ...] = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large")
STAT_KEYS += ("mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large")


def _iou_types(iou_type: str | Sequence[str]) -> tuple[str, ...]:
    types = (iou_type,) if isinstance(iou_type, str) else tuple(iou_type)
    if not types or any(t not in IOU_TYPES for t in types):
        raise ValueError(f"Expected `iou_type` to be 'bbox', 'segm' or a tuple of them, but got {iou_type!r}.")
    return types


class _Side(NamedTuple):
    """One side (ground truth or results) as columns: the image position and the fields of each record."""

    rows: Records
    position: np.ndarray  # (N,) position of each record's image among the sorted image ids
    columns: dict[str, np.ndarray]  # labels, boxes, scores | iscrowd, area, ...
    masks: list[dict] | None  # compressed RLE dicts, when "segm" is asked


def _warn_undeclared(side: _Side, declared: np.ndarray, gt_file: str) -> np.ndarray:
    """The records whose category is declared; one warning naming the first of the others."""
    labels = side.columns["labels"]
    keep = np.isin(labels, declared)
    if not keep.all():
        first = int(np.flatnonzero(~keep)[0])
        what = "ground-truth annotations" if side.rows.kind == "annotation" else "results"
        warnings.warn(
            f"{int((~keep).sum())} {what} have a `category_id` that is not in `categories` of {gt_file} (the first: "
            f"{side.rows.where(first)}, category_id {int(labels[first])}); they are not evaluated, as in pycocotools.",
            UserWarning,
            stacklevel=4,
        )
    return np.flatnonzero(keep)


def _ground_truth(rows: Records, image_ids: np.ndarray, types: tuple[str, ...]) -> _Side:
    """The annotations' image positions and checked columns (segmentations come later, when asked)."""
    position = image_positions(rows, image_ids, rows.file)
    columns = {"labels": column(rows, "category_id", "id"), "iscrowd": column(rows, "iscrowd", "flag", 0)}
    columns["area"] = column(rows, "area", "size", ABSENT)  # NaN where absent: the box (or mask) area, below
    if "bbox" in types:
        columns["boxes"] = boxes(rows)
    return _Side(rows, position, columns, None)


def _results(rows: Records, image_ids: np.ndarray, gt_file: str, types: tuple[str, ...]) -> _Side:
    """The results' image positions and checked columns; no ``boxes`` when they are to come from the masks."""
    position = image_positions(rows, image_ids, gt_file)
    columns = {"labels": column(rows, "category_id", "id"), "scores": column(rows, "score", "real")}
    if "bbox" in types and not rows.items:
        columns["boxes"] = np.zeros((0, 4))
    elif "bbox" in types:
        first = rows.items[0]
        if "bbox" in first and first["bbox"] != []:  # pycocotools' loadRes decides on the first result too
            columns["boxes"] = boxes(rows)
        elif "segmentation" not in first:
            raise ValueError(
                f"Expected {rows.where(0)} to have `bbox` (or an RLE `segmentation` to take the box of), but it "
                f"has keys {sorted(map(str, first))[:8]}."
            )
    return _Side(rows, position, columns, None)


def _segmentations(gt: _Side, dt: _Side, images: tuple[Records, np.ndarray], types: tuple, backend: str) -> tuple:
    """Check and rasterise both sides' segmentations (when "segm" is asked or the results give no boxes)."""
    derive = "bbox" in types and "boxes" not in dt.columns
    if "segm" not in types and not derive:
        return gt, dt
    image_size = image_sizes(*images)
    parts = []
    if "segm" in types:
        parts.append((gt.rows, gt.position, check_segmentations(gt.rows, polygons=True)))
    parts.append((dt.rows, dt.position, check_segmentations(dt.rows, polygons=False)))
    sizes = check_mask_sizes(image_size, parts, "segmentation")
    dt_masks = rasterise(dt.rows, "segmentation", sizes[dt.position], backend)
    if derive:  # pycocotools' loadRes of segm results: the box and the area of the mask
        derived = rle_to_bbox(dt_masks).tolist()
        given = [item.get("bbox", []) for item in dt.rows.items]
        dt.columns["boxes"] = boxes(dt.rows, values=[g if g != [] else d for g, d in zip(given, derived, strict=True)])
        dt.columns["area"] = rle_area(dt_masks).numpy().astype(np.float64)
    if "segm" not in types:
        return gt, dt
    gt_masks = rasterise(gt.rows, "segmentation", sizes[gt.position], backend)
    return gt._replace(masks=gt_masks), dt._replace(masks=dt_masks)


def _fill_area(gt: _Side, types: tuple[str, ...]) -> None:
    """A ground truth without ``area`` takes its box area (bbox), else its mask area, as the metric would."""
    area = gt.columns["area"]
    absent = np.isnan(area)
    if absent.any():
        if "bbox" in types:
            area[absent] = gt.columns["boxes"][absent, 2] * gt.columns["boxes"][absent, 3]
        else:
            masks = [gt.masks[i] for i in np.flatnonzero(absent).tolist()]  # type: ignore[index]
            area[absent] = rle_area(masks).numpy()


def _per_image(side: _Side, keep: np.ndarray, num_images: int) -> list[dict]:
    """The kept records as one dict of tensors per image (in image order, file order within an image)."""
    position = side.position
    if np.any(position[keep][1:] < position[keep][:-1]):
        keep = keep[np.argsort(position[keep], kind="stable")]
    counts = np.bincount(position[keep], minlength=num_images).tolist()
    split = {key: torch.from_numpy(values[keep]).split(counts) for key, values in side.columns.items()}
    if side.masks is not None:
        masks = [side.masks[i] for i in keep.tolist()]
        bounds = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).tolist()
        split["masks"] = [masks[bounds[i] : bounds[i + 1]] for i in range(num_images)]
    return [{key: column[i] for key, column in split.items()} for i in range(num_images)]


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
        ``boxes``/``masks``, ``labels``, ``iscrowd``, ``area`` (the box, or mask, area where the file has none)
        and ``image_id``. Feed them to ``MeanAveragePrecision(box_format="xywh", iou_type=...)``. As in
        pycocotools, only the declared ``categories`` are evaluated: annotations and results of other categories
        are dropped, with a warning. Results that hold RLE ``segmentation`` but no ``bbox`` are given the box of
        their mask for "bbox" (pycocotools' ``loadRes``), and preds then also carry its ``area``, which
        pycocotools (and :func:`~lightning_evalkit.coco.evaluate_coco`) use for the detections' area ranges.

    Raises:
        OSError: A file cannot be read.
        ValueError: A file is not JSON, or a record lacks a field or has a wrong value; the message names the
            file, the record (its position in its list, and its id) and the field.
        TypeError: A field (or the file's top level) has a wrong JSON type; named the same way.

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
    """:func:`load_coco` with checked ``types``: read, check, rasterise, drop undeclared categories, split."""
    gt, gt_file = read_json(gt_json, "gt_json")
    results, results_file = read_json(results_json, "results_json")
    images, annotations, categories = dataset_parts(gt, gt_file)
    image_ids, order = sorted_image_ids(images)
    declared = category_ids(categories)
    gt_side = _ground_truth(annotations, image_ids, types)
    dt_side = _results(results_records(results, results_file), image_ids, gt_file, types)
    gt_side, dt_side = _segmentations(gt_side, dt_side, (images, order), types, backend)
    _fill_area(gt_side, types)
    target = _per_image(gt_side, _warn_undeclared(gt_side, declared, gt_file), len(image_ids))
    preds = _per_image(dt_side, _warn_undeclared(dt_side, declared, gt_file), len(image_ids))
    for item, image_id in zip(target, image_ids.tolist(), strict=True):
        item["image_id"] = torch.tensor(image_id)
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
    for item in preds:
        item.pop("area", None)  # a mask area of segm results read for "bbox": torchmetrics has no such key
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
    encoded = [
        {"size": r["size"], "counts": r["counts"].encode() if isinstance(r["counts"], str) else r["counts"]}
        for r in rles
    ]
    return torch.from_numpy(np.ascontiguousarray(mask_api(backend).decode(encoded).transpose(2, 0, 1)))


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
