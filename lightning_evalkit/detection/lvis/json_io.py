"""LVIS JSON files in: :func:`load_lvis` reads a ground truth and results into per-image ``preds`` and ``target``.

The COCO loader (:func:`~lightning_evalkit.detection.coco.json_io.load_coco`) reads and checks both files; this
adds what LVIS has beyond COCO, with lvis-api 0.5.3's rules (``LVIS``, ``LVISResults``, ``LVISEval._prepare``):
each image's ``neg_category_ids`` and ``not_exhaustive_category_ids``, each category's ``frequency``, and the
cut of the results to the 300 highest-scoring of each image, made before the results of undeclared categories
are dropped (so they take their place in the 300 as in lvis-api). A result's area, which decides its area range
and "area > 0", is lvis-api's: the box's w * h when the first result has a ``bbox`` (also for "segm"), else the
mask's.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from lightning_evalkit.detection.coco.json_checks import (
    Records,
    dataset_parts,
    gc_paused,
    read_json,
    results_records,
    show,
)
from lightning_evalkit.detection.coco.json_io import load_coco
from lightning_evalkit.detection.lvis.federated import FEDERATED_KEYS, top_per_image
from lightning_evalkit.detection.lvis.lvis_map import FREQUENCIES, LVIS_MAX_DETECTIONS

__all__ = ["load_lvis"]


def _frequencies(categories: Records) -> dict[int, str]:
    """{category id: "r" | "c" | "f"} from ``categories`` (ids are checked by the COCO loader)."""
    out = {}
    for index, item in enumerate(categories.items):
        frequency = item.get("frequency")
        if frequency not in FREQUENCIES:
            got = "nothing" if "frequency" not in item else show(frequency)
            raise ValueError(f"Expected `frequency` of {categories.where(index)} to be 'r', 'c' or 'f', but got {got}.")
        if type(item.get("id")) is int:
            out[item["id"]] = frequency
    return out


def _federated_ids(images: Records) -> dict[Any, tuple[list[int], list[int]]]:
    """{image id: (neg_category_ids, not_exhaustive_category_ids)}, each checked to be a list of ints."""
    out = {}
    for index, item in enumerate(images.items):
        lists = []
        for key in FEDERATED_KEYS:
            value = item.get(key)
            if type(value) is not list or not all(type(v) is int and -(2**63) <= v < 2**63 for v in value):
                got = "nothing" if key not in item else show(value)
                raise (ValueError if key not in item else TypeError)(
                    f"Expected `{key}` of {images.where(index)} to be a list of category ids, but got {got}."
                )
            lists.append(value)
        out[item.get("id")] = (lists[0], lists[1])
    return out


def _named(error: Exception, gt_file: str, results_file: str) -> Exception:
    """The COCO loader's error with the file names it was not given (it read parsed content)."""
    text = str(error).replace("`gt_json`", gt_file).replace("`results_json`", results_file)
    return type(error)(text)


def _top_results(items: list[dict], declared: list[int], max_detections: int) -> np.ndarray:
    """Per declared result, in the COCO loader's order (image id, then file order): among its image's top
    ``max_detections`` by score over all results (lvis-api's ``limit_dets_per_image``)."""
    image_ids = np.array([item["image_id"] for item in items], dtype=np.int64)
    scores = torch.tensor([float(item["score"]) for item in items], dtype=torch.float64)
    _, image_index = np.unique(image_ids, return_inverse=True)
    top = top_per_image(torch.from_numpy(image_index.reshape(-1)), scores, max_detections).numpy()
    is_declared = np.isin(np.array([item["category_id"] for item in items], dtype=np.int64), declared)
    order = np.argsort(image_index.reshape(-1)[is_declared], kind="stable")
    return top[is_declared][order]


def _first_result(items: list[dict], max_detections: int) -> dict:
    """lvis-api's ``result_anns[0]`` after its cut: the first result, or the best of its image where that image
    has more than ``max_detections`` ({} without results; unchecked fields are left to the COCO loader)."""
    if not items:
        return {}
    try:
        same = [item for item in items if item["image_id"] == items[0]["image_id"]]
        if len(same) > max_detections:
            return max(same, key=lambda item: item["score"])  # the first of the highest, as a stable sort
    except (KeyError, TypeError):
        pass
    return items[0]


def _finish(preds: list[dict], target: list[dict], keep: np.ndarray, images: dict, box_area: bool) -> None:
    """Cut the preds to ``keep``, give preds their area and targets LVIS's keys (in place)."""
    start = 0
    for pred, gt in zip(preds, target, strict=True):
        count = len(pred["labels"])
        rows = torch.from_numpy(np.flatnonzero(keep[start : start + count]))
        start += count
        if box_area:  # lvis-api: the box's w * h, also for "segm"
            boxes = pred.pop("boxes")
            pred["area"] = boxes[:, 2] * boxes[:, 3]
            gt.pop("boxes")
        for key, value in pred.items():
            pred[key] = [value[i] for i in rows.tolist()] if isinstance(value, list) else value[rows]
        gt.pop("iscrowd", None)  # LVIS has no crowd
        neg, not_exhaustive = images[int(gt["image_id"])]
        gt[FEDERATED_KEYS[0]] = torch.tensor(neg, dtype=torch.long)
        gt[FEDERATED_KEYS[1]] = torch.tensor(not_exhaustive, dtype=torch.long)


def load_lvis(
    gt_json: Any, results_json: Any, iou_type: str = "bbox", max_detections: int = LVIS_MAX_DETECTIONS
) -> tuple[list[dict], list[dict], dict[int, str]]:
    """Read an LVIS ground-truth file and results into per-image ``preds`` and ``target``, and the frequencies.

    Args:
        gt_json: Path of (or the parsed) LVIS ground truth: ``images`` (with ``neg_category_ids`` and
            ``not_exhaustive_category_ids``), ``annotations``, ``categories`` (with ``frequency``).
        results_json: Path of (or the parsed) list of results ``{image_id, category_id, bbox | segmentation,
            score}``.
        iou_type: "bbox" or "segm".
        max_detections: Results kept per image (lvis-api's 300).

    Returns:
        ``(preds, target, category_frequencies)``: one entry per ground-truth image in increasing image id, as
        :func:`~lightning_evalkit.coco.load_coco` gives them (boxes xywh), targets with ``neg_category_ids`` and
        ``not_exhaustive_category_ids`` and without ``iscrowd``, preds cut to the top ``max_detections`` of each
        image and, where lvis-api's result area is not the detection's own, with that ``area``. Feed them to
        ``LVISMeanAveragePrecision(box_format="xywh", iou_type=..., category_frequencies=...)`` (which uses a
        pred ``area`` only through :func:`~lightning_evalkit.detection.lvis.evaluate.evaluate_lvis`).

    Raises:
        OSError: A file cannot be read.
        ValueError: A file is not JSON, or a record lacks a field or has a wrong value (named with file and record).
        TypeError: A field has a wrong JSON type; named the same way.

    Example:
        >>> gt = {"images": [{"id": 7, "neg_category_ids": [2], "not_exhaustive_category_ids": []}],
        ...       "categories": [{"id": 1, "frequency": "r"}, {"id": 2, "frequency": "f"}],
        ...       "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 4, 4], "area": 16}]}
        >>> results = [{"image_id": 7, "category_id": 2, "bbox": [0, 0, 4, 5], "score": 0.9}]
        >>> preds, target, frequencies = load_lvis(gt, results)
        >>> preds[0]["labels"].tolist(), target[0]["neg_category_ids"].tolist(), frequencies
        ([2], [2], {1: 'r', 2: 'f'})
    """
    with gc_paused():
        gt, gt_file = read_json(gt_json, "gt_json")
        results, results_file = read_json(results_json, "results_json")
        images, _, categories = dataset_parts(gt, gt_file)
        frequencies, federated = _frequencies(categories), _federated_ids(images)
        items = results_records(results, results_file).items
        box_area = iou_type == "segm" and "bbox" in _first_result(items, max_detections)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                preds, target = load_coco(gt, results, ("bbox", "segm") if box_area else iou_type)
        except (ValueError, TypeError) as error:
            raise _named(error, gt_file, results_file) from None
        for warning in caught:  # said again with the file names, and whose rules they are
            text = str(_named(ValueError(str(warning.message)), gt_file, results_file)).replace(
                "pycocotools", "lvis-api"
            )
            warnings.warn(text, warning.category, stacklevel=2)
        keep = _top_results(items, sorted(frequencies), max_detections) if items else np.zeros(0, dtype=bool)
        _finish(preds, target, keep, federated, box_area)
    return preds, target, frequencies
