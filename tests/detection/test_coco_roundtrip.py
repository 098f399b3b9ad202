"""COCO JSON against pycocotools end to end: tensors -> tm_to_coco files -> pycocotools, our metric and
evaluate_coco agree (bbox and segm)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.coco import evaluate_coco, load_coco, tm_to_coco
from lightning_evalkit.detection.coco.json_io import STAT_KEYS
from lightning_evalkit.detection.rle import rle_encode
from tests._detection_data import random_images, random_masks

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _pycocotools(gt: Any, results: Any, iou_type: str) -> list[float]:
    """pycocotools' 12 stats of a ground truth and results (paths, or a parsed dataset and results list)."""
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, dict):
            coco_gt = COCO()
            coco_gt.dataset = gt
            coco_gt.createIndex()
        else:
            coco_gt = COCO(str(gt))
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results if isinstance(results, list) else str(results)), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats]


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
