"""Random synthetic LVIS data sets, lvis-api 0.5.3 run on them, and the same data as per-image tensors.

A data set exercises every federated rule: categories of every frequency (some group left empty at times), images
with positive, negative and not-exhaustive categories, ground truth of area 0 (lvis-api drops it, and with it a
positive category), detections of categories that are neither positive nor negative, of undeclared categories,
of area 0, score ties (scores in steps of 1/20), images with more than 300 detections (the cut is by score over
all categories of the image), ground-truth segmentations as polygons (one or two parts), uncompressed and
compressed RLE, and results as compressed RLE with or without ``bbox``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

UNDECLARED = 9999  # a category id no data set declares
LVIS_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300", "ARl@300")
OUR_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "map_rare", "map_common")
OUR_KEYS += ("map_frequent", "mar_300", "mar_small", "mar_medium", "mar_large")


class LvisSet(NamedTuple):
    gt: dict  # an LVIS ground-truth dataset (images with neg / not-exhaustive ids, categories with frequency)
    results: list[dict]  # an LVIS results list


def _mask_api() -> Any:
    import pycocotools.mask as mask_api

    return mask_api


def _ellipse(box: list[float], rng: np.random.Generator, points: int = 10) -> list[float]:
    """A jittered polygon inscribed in ``box`` [x, y, w, h], flattened [x0, y0, x1, y1, ...]."""
    x, y, w, h = box
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    radius = rng.uniform(0.6, 1.0, points)
    xs = x + w / 2 + np.cos(angles) * radius * w / 2
    ys = y + h / 2 + np.sin(angles) * radius * h / 2
    return np.round(np.stack([xs, ys], 1), 2).reshape(-1).tolist()


def _random_box(rng: np.random.Generator, width: int, height: int) -> list[float]:
    """[x, y, w, h] inside the image, sizes log-uniform so small, medium and large all occur; often integers."""
    w = float(np.exp(rng.uniform(np.log(2), np.log(width * 0.9))))
    h = float(np.exp(rng.uniform(np.log(2), np.log(height * 0.9))))
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    box = [x, y, w, h]
    return [float(round(v)) for v in box] if rng.random() < 0.5 else [round(v, 2) for v in box]


def _jitter(box: list[float], rng: np.random.Generator, width: int, height: int) -> list[float]:
    x, y, w, h = box
    dx, dy = rng.normal(0, 0.08 * w), rng.normal(0, 0.08 * h)
    w2, h2 = max(w * rng.uniform(0.8, 1.2), 1.0), max(h * rng.uniform(0.8, 1.2), 1.0)
    x2, y2 = min(max(x + dx, 0.0), width - w2), min(max(y + dy, 0.0), height - h2)
    return [round(v, 2) for v in (max(x2, 0.0), max(y2, 0.0), w2, h2)]


def _gt_segmentation(box: list[float], rng: np.random.Generator, height: int, width: int) -> Any:
    """A polygon (one or two parts), an uncompressed RLE or a compressed RLE of a shape in ``box``."""
    mask_api = _mask_api()
    polygons = [_ellipse(box, rng)]
    if rng.random() < 0.2:
        x, y, w, h = box
        polygons.append(_ellipse([x, y, w / 2, h / 2], rng, 6))
    kind = rng.random()
    if kind < 0.6:
        return polygons
    rle = mask_api.merge(mask_api.frPyObjects(polygons, height, width))
    if kind < 0.8:
        mask = mask_api.decode(rle)
        flat = mask.T.reshape(-1)  # column-major, as COCO's RLE
        changes = np.flatnonzero(np.diff(flat)) + 1
        runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
        counts = runs if flat[0] == 0 else [0, *runs]
        return {"size": [height, width], "counts": [int(c) for c in counts]}
    return {"size": [height, width], "counts": rle["counts"].decode()}


def _segm_area(segmentation: Any, height: int, width: int) -> float:
    mask_api = _mask_api()
    if isinstance(segmentation, list):
        rle = mask_api.merge(mask_api.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_api.frPyObjects(segmentation, height, width)
    else:
        rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode()}
    return float(mask_api.area(rle))


def _categories(rng: np.random.Generator, count: int) -> list[dict]:
    ids = np.sort(rng.choice(np.arange(1, 200), count, replace=False)).tolist()
    codes = ["r", "c", "f"]
    if rng.random() < 0.25:  # a frequency group without any category: its AP is -1
        codes.pop(int(rng.integers(0, 3)))
    return [{"id": int(i), "name": f"c{i}", "frequency": str(rng.choice(codes))} for i in ids]


def _annotations(rng: np.random.Generator, image: dict, cats: list[int], segm: bool, first_id: int) -> list[dict]:
    anns = []
    for cat in rng.choice(cats, int(rng.integers(0, 4)), replace=False).tolist():
        for _ in range(int(rng.integers(1, 4))):
            box = _random_box(rng, image["width"], image["height"])
            ann = {"id": first_id + len(anns), "image_id": image["id"], "category_id": int(cat), "bbox": box}
            area = box[2] * box[3]
            if segm:
                ann["segmentation"] = _gt_segmentation(box, rng, image["height"], image["width"])
                area = _segm_area(ann["segmentation"], image["height"], image["width"])
            roll = rng.random()
            ann["area"] = 0.0 if roll < 0.04 else area * (rng.uniform(0.3, 1.5) if roll < 0.2 else 1.0)
            anns.append(ann)
    return anns


def _image(rng: np.random.Generator, image_id: int) -> dict:
    return {"id": image_id, "height": int(rng.integers(64, 321)), "width": int(rng.integers(64, 321))}


def _federated_ids(rng: np.random.Generator, image: dict, anns: list[dict], cats: list[int]) -> None:
    positive = sorted({a["category_id"] for a in anns})
    others = [c for c in cats if c not in positive]
    image["neg_category_ids"] = sorted(
        rng.choice(others, min(len(others), int(rng.integers(0, 4))), replace=False).tolist()
    )
    not_exhaustive = [c for c in positive if rng.random() < 0.35]
    if others and rng.random() < 0.1:
        not_exhaustive.append(int(rng.choice(others)))
    image["not_exhaustive_category_ids"] = sorted(int(c) for c in not_exhaustive)


def _score(rng: np.random.Generator) -> float:
    return float(rng.integers(1, 21)) / 20 if rng.random() < 0.7 else round(float(rng.uniform(0, 1)), 4)


def _detections(rng: np.random.Generator, image: dict, anns: list[dict], cats: list[int], many: bool) -> list[dict]:
    w, h = image["width"], image["height"]
    dets = []
    for ann in anns:
        for _ in range(int(rng.integers(0, 3))):
            cat = ann["category_id"] if rng.random() < 0.85 else int(rng.choice(cats))
            dets.append({"category_id": int(cat), "bbox": _jitter(ann["bbox"], rng, w, h)})
    interesting = image["neg_category_ids"] + image["not_exhaustive_category_ids"] + [UNDECLARED]
    count = int(rng.integers(320, 420)) if many else int(rng.integers(0, 6))
    for _ in range(count):
        cat = int(rng.choice(interesting)) if rng.random() < 0.5 else int(rng.choice(cats))
        dets.append({"category_id": cat, "bbox": _random_box(rng, w, h)})
    for det in dets:
        det["image_id"], det["score"] = image["id"], _score(rng)
        if rng.random() < 0.03:
            det["bbox"][2] = 0.0  # area 0: lvis-api drops it (after the cut to 300)
    order = rng.permutation(len(dets))
    return [dets[i] for i in order]


def _add_masks(results: list[dict], images: dict[int, dict], rng: np.random.Generator, keep_bbox: bool) -> None:
    mask_api = _mask_api()
    for det in results:
        image = images[det["image_id"]]
        box = det["bbox"] if det["bbox"][2] > 0 else [*det["bbox"][:2], 1.0, det["bbox"][3]]
        rle = mask_api.merge(mask_api.frPyObjects([_ellipse(box, rng)], image["height"], image["width"]))
        if det["bbox"][2] == 0:
            rle = mask_api.encode(np.zeros((image["height"], image["width"]), dtype=np.uint8, order="F"))
        det["segmentation"] = {"size": [image["height"], image["width"]], "counts": rle["counts"].decode()}
        if not keep_bbox:
            del det["bbox"]


def random_lvis(
    seed: int, num_images: int = 10, num_categories: int = 8, iou_type: str = "bbox", many: int = 0, bbox: bool = True
) -> LvisSet:
    """An LVIS ground truth and results; ``many`` images get 320-420 detections; ``bbox=False`` drops the
    results' boxes (segm only: the detection area is then the mask's, else lvis-api takes the box's)."""
    rng = np.random.default_rng(seed)
    categories = _categories(rng, num_categories)
    cats = [c["id"] for c in categories]
    ids = rng.choice(np.arange(1, 10 * num_images + 1), num_images, replace=False).tolist()  # unsorted
    images, annotations, results = [], [], []
    for index, image_id in enumerate(ids):
        image = _image(rng, int(image_id))
        anns = _annotations(rng, image, cats, iou_type == "segm", len(annotations) + 1)
        _federated_ids(rng, image, anns, cats)
        images.append(image)
        annotations += anns
        results += _detections(rng, image, anns, cats, many=index < many)
    if iou_type == "segm":
        _add_masks(results, {image["id"]: image for image in images}, rng, keep_bbox=bbox)
    return LvisSet({"images": images, "annotations": annotations, "categories": categories}, results)


def write(data: LvisSet, folder: Path) -> tuple[str, str]:
    """The ground truth and results as JSON files in ``folder``; their paths."""
    gt_path, results_path = folder / "lvis_gt.json", folder / "lvis_results.json"
    gt_path.write_text(json.dumps(data.gt))
    results_path.write_text(json.dumps(data.results))
    return str(gt_path), str(results_path)


def lvis_api(gt_path: str, results_path: str, iou_type: str) -> tuple[dict[str, float], str]:
    """lvis-api 0.5.3's results (AP, AP50, ...) and its ``print_results`` printout."""
    if not hasattr(np, "float"):
        np.float = float  # type: ignore[attr-defined]  # lvis-api 0.5.3 uses np.float, gone in numpy 2
    from lvis import LVISEval

    logging.getLogger("lvis").setLevel(logging.ERROR)
    evaluation = LVISEval(gt_path, results_path, iou_type)
    evaluation.run()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        evaluation.print_results()
    return {key: float(value) for key, value in evaluation.get_results().items()}, printed.getvalue()


def _to_rle(segmentation: Any, height: int, width: int) -> dict:
    """A ground-truth segmentation as a compressed RLE dict (pycocotools), as lvis-api's ``ann_to_rle``."""
    mask_api = _mask_api()
    if isinstance(segmentation, list):
        rle = mask_api.merge(mask_api.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_api.frPyObjects(segmentation, height, width)
    else:
        return segmentation
    return {"size": [height, width], "counts": rle["counts"].decode()}


def to_tensors(data: LvisSet, iou_type: str, dense_preds: bool = False) -> tuple[list[dict], list[dict], dict]:
    """preds and target per image (in the file's image order, not sorted), and the category frequencies.

    Written apart from the library's loader: boxes xywh float64, masks as compressed RLE dicts (the detections'
    decoded to dense (N, H, W) masks with ``dense_preds``), targets with LVIS's keys, ``area`` and ``image_id``.
    """
    preds, target = [], []
    for image in data.gt["images"]:
        anns = [a for a in data.gt["annotations"] if a["image_id"] == image["id"]]
        dets = [d for d in data.results if d["image_id"] == image["id"]]
        gt: dict[str, Any] = {
            "labels": torch.tensor([a["category_id"] for a in anns], dtype=torch.long),
            "area": torch.tensor([a["area"] for a in anns], dtype=torch.float64),
            "image_id": image["id"],
            "neg_category_ids": torch.tensor(image["neg_category_ids"], dtype=torch.long),
            "not_exhaustive_category_ids": torch.tensor(image["not_exhaustive_category_ids"], dtype=torch.long),
        }
        pred: dict[str, Any] = {
            "labels": torch.tensor([d["category_id"] for d in dets], dtype=torch.long),
            "scores": torch.tensor([d["score"] for d in dets], dtype=torch.float64),
        }
        if iou_type == "bbox":
            gt["boxes"] = torch.tensor([a["bbox"] for a in anns], dtype=torch.float64).reshape(-1, 4)
            pred["boxes"] = torch.tensor([d["bbox"] for d in dets], dtype=torch.float64).reshape(-1, 4)
        else:
            h, w = image["height"], image["width"]
            gt["masks"] = [_to_rle(a["segmentation"], h, w) for a in anns]
            pred["masks"] = [d["segmentation"] for d in dets]
            if dense_preds:
                pred["masks"] = _dense(pred["masks"], h, w)
        preds.append(pred)
        target.append(gt)
    return preds, target, {c["id"]: c["frequency"] for c in data.gt["categories"]}


def _dense(rles: list[dict], height: int, width: int) -> torch.Tensor:
    if not rles:
        return torch.zeros(0, height, width, dtype=torch.bool)
    encoded = [{"size": r["size"], "counts": r["counts"].encode()} for r in rles]
    return torch.from_numpy(np.ascontiguousarray(_mask_api().decode(encoded).transpose(2, 0, 1))).bool()
