"""COCO JSON against pycocotools end to end: tensors -> tm_to_coco files -> pycocotools, our metric and
evaluate_coco agree (bbox and segm); the declared categories are the evaluated ones; segm results evaluated as
bbox take the boxes (and areas) of their masks, as pycocotools' loadRes makes them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.coco import evaluate_coco, load_coco, main, tm_to_coco
from lightning_evalkit.detection.coco.json_io import STAT_KEYS
from lightning_evalkit.detection.rle import rle_encode, rle_to_bbox
from tests._coco_reference import pycocotools_stats as _pycocotools
from tests._detection_data import random_images, random_masks

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _metric_stats(preds: list[dict], target: list[dict], iou_type: str, box_format: str = "xywh") -> list[float]:
    metric = MeanAveragePrecision(iou_type=iou_type, box_format=box_format)
    metric.update(preds, target)
    result = metric.compute()
    return [float(result[key]) for key in STAT_KEYS]


def _with_rle_masks(items: list[dict]) -> list[dict]:
    """The same items with masks as rle_encode's RLE dicts (``bytes`` counts, as pycocotools' encode gives)."""
    return [{**item, "masks": rle_encode(item["masks"])} for item in items]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", ["bbox", "segm", "segm-rle"])
def test_tm_to_coco_files_agree_with_pycocotools_and_the_metric(tmp_path: Path, kind: str, seed: int) -> None:
    iou_type = kind.split("-")[0]
    if iou_type == "bbox":
        preds, target = random_images(seed, 6, scale=6, given_area=True)
    else:
        preds, target = random_masks(seed, 6, size=(9, 11))
    if kind == "segm-rle":
        preds, target = _with_rle_masks(preds), _with_rle_masks(target)
    name = str(tmp_path / "run")
    tm_to_coco(preds, target, name, iou_type=iou_type, box_format="xywh")
    gt_file, results_file = name + "_target.json", name + "_preds.json"
    reference = _pycocotools(gt_file, results_file, iou_type)
    np.testing.assert_allclose(_metric_stats(preds, target, iou_type), reference, rtol=0, atol=1e-7)  # float32 out
    ours = evaluate_coco(gt_file, results_file, iou_type)["stats"].tolist()
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    loaded = _metric_stats(*load_coco(gt_file, results_file, iou_type), iou_type)
    np.testing.assert_allclose(loaded, reference, rtol=0, atol=1e-7)


def test_tm_to_coco_segm_images_have_their_size(tmp_path: Path) -> None:
    preds, target = random_masks(3, 3, size=(5, 7))
    target[1] = {**target[1], "masks": rle_encode(target[1]["masks"])}
    name = str(tmp_path / "run")
    tm_to_coco(preds, target, name, iou_type="segm")
    images = json.loads(Path(name + "_target.json").read_text())["images"]
    assert all(image["height"] == 5 and image["width"] == 7 for image in images)
    results = json.loads(Path(name + "_preds.json").read_text())
    assert all(isinstance(result["segmentation"]["counts"], str) for result in results)


def _two_categories_one_declared() -> tuple[dict, list[dict]]:
    gt = {
        "images": [{"id": 1, "height": 20, "width": 20}],
        "categories": [{"id": 1}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 9], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [5, 5, 10, 10], "score": 0.8},
        {"image_id": 1, "category_id": 3, "bbox": [5, 5, 10, 10], "score": 0.7},
    ]
    return gt, results


def test_only_declared_categories_are_evaluated_as_pycocotools_does() -> None:
    gt, results = _two_categories_one_declared()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = evaluate_coco(gt, results)["stats"].tolist()
    reference = _pycocotools(gt, results, "bbox")
    assert round(reference[0], 3) == 0.9
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2, messages
    assert "1 ground-truth annotations" in messages[0] and "annotation 1 (id 2)" in messages[0]
    assert "2 results" in messages[1] and "result 1" in messages[1] and "category_id 2" in messages[1]


def _segm_results_without_boxes(tmp_path: Path, seed: int) -> tuple[str, str]:
    """A ground truth with boxes and masks, and results that hold only RLE segmentations."""
    preds, target = random_masks(seed, 8, size=(40, 50))
    for item in [*preds, *target]:
        item["boxes"] = rle_to_bbox(rle_encode(item["masks"])) if item["masks"].shape[0] else torch.zeros(0, 4)
    for gt in target:
        gt["area"] = gt["boxes"][:, 2] * gt["boxes"][:, 3] * 0.5 + 1  # unlike either area, to see it is used
    name = str(tmp_path / "segm")
    tm_to_coco(preds, target, name, iou_type=("bbox", "segm"), box_format="xywh")
    results = json.loads(Path(name + "_preds.json").read_text())
    for result in results:
        del result["bbox"]
    Path(name + "_preds.json").write_text(json.dumps(results))
    return name + "_target.json", name + "_preds.json"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segm_results_evaluated_as_bbox_take_the_boxes_and_areas_of_their_masks(tmp_path: Path, seed: int) -> None:
    gt_file, results_file = _segm_results_without_boxes(tmp_path, seed)
    reference = _pycocotools(gt_file, results_file, "bbox")
    np.testing.assert_allclose(evaluate_coco(gt_file, results_file)["stats"].tolist(), reference, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_command_line_on_the_reference_segm_results_with_the_default_bbox(reference_dir, tmp_path, capsys) -> None:
    folder = reference_dir / "coco-val2014-100"
    gt_file = folder / "instances_val2014_100.json"
    results_file = folder / "instances_val2014_fakesegm100_results.json"
    out = tmp_path / "stats.json"
    main([str(gt_file), str(results_file), "--json", str(out)])
    reference = _pycocotools(gt_file, results_file, "bbox")
    np.testing.assert_allclose(json.loads(out.read_text())["stats"], reference, rtol=0, atol=1e-12)
    assert capsys.readouterr().err == ""
