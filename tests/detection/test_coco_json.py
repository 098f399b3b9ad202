"""COCO JSON: the command line, load_coco, coco_to_tm and tm_to_coco against pycocotools and published numbers."""

from __future__ import annotations

import builtins
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.coco import load_coco, main, tm_to_coco
from tests._detection_data import random_images
from tests.detection.test_detection_coco_reference import _published

GT = "instances_val2014_100.json"
RESULTS = {"bbox": "instances_val2014_fakebbox100_results.json", "segm": "instances_val2014_fakesegm100_results.json"}


def _pycocotools_summary(gt: str | Path, results: str | Path, iou_type: str) -> tuple[list[str], list[float]]:
    """pycocotools' printed summary lines and stats, run here on the same files."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt))
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(str(results)), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        evaluator.summarize()
    return printed.getvalue().splitlines(), [float(v) for v in evaluator.stats]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_cli_prints_pycocotools_summary_and_published_stats(reference_dir, tmp_path, capsys, iou_type) -> None:
    """segm: load_coco passes RLE dicts; until the metric takes RLE input, the command line decodes them."""
    folder = reference_dir / "coco-val2014-100"
    out = tmp_path / "stats.json"
    main([str(folder / GT), str(folder / RESULTS[iou_type]), "--iou-type", iou_type, "--json", str(out)])
    printed = capsys.readouterr().out.splitlines()
    expected_lines, expected_stats = _pycocotools_summary(folder / GT, folder / RESULTS[iou_type], iou_type)
    assert printed == expected_lines
    stats = json.loads(out.read_text())["stats"]
    np.testing.assert_allclose(stats, _published(folder)[iou_type], rtol=0, atol=1e-12)
    np.testing.assert_allclose(stats, expected_stats, rtol=0, atol=1e-12)


def test_load_coco_segm_gives_rle_dicts(reference_dir) -> None:
    folder = reference_dir / "coco-val2014-100"
    preds, target = load_coco(folder / GT, folder / RESULTS["segm"], "segm")
    gt = json.loads((folder / GT).read_text())
    by_image = sorted(gt["images"], key=lambda image: image["id"])
    for item, image in zip(target, by_image, strict=True):
        assert int(item["image_id"]) == image["id"]
        for rle, area in zip(item["masks"], item["area"].tolist(), strict=True):
            assert rle["size"] == [image["height"], image["width"]] and isinstance(rle["counts"], str)
            assert abs(float(mask_utils.area(dict(rle, counts=rle["counts"].encode()))) - area) <= 0.5 * area + 1
    assert sum(len(p["masks"]) for p in preds) == len(json.loads((folder / RESULTS["segm"]).read_text()))


def test_load_coco_keeps_every_gt_image_and_drops_unknown_categories() -> None:
    gt = {
        "images": [{"id": 9}, {"id": 2}],
        "categories": [{"id": 1}],
        "annotations": [{"id": 1, "image_id": 9, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 3, "iscrowd": 1}],
    }
    results = [
        {"image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5},
        {"image_id": 2, "category_id": 5, "bbox": [1, 1, 2, 2], "score": 0.9},
    ]
    preds, target = load_coco(gt, results)
    assert [int(t["image_id"]) for t in target] == [2, 9]
    assert preds[0]["labels"].tolist() == [1] and preds[1]["labels"].numel() == 0
    assert target[1]["area"].tolist() == [3.0] and target[1]["iscrowd"].tolist() == [1]
    with pytest.raises(ValueError, match="image_id"):
        load_coco(gt, [{"image_id": 4, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.1}])


def test_polygons_without_pycocotools_name_the_extra(monkeypatch) -> None:
    gt = {
        "images": [{"id": 1, "height": 4, "width": 4}],
        "categories": [{"id": 1}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 3, 0, 3, 3]], "area": 4, "iscrowd": 0}
        ],
    }
    real_import = builtins.__import__

    def no_pycocotools(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("pycocotools"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pycocotools)
    with pytest.raises(ImportError, match="pip install pycocotools"):
        load_coco(gt, [], "segm")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("box_format", ["xyxy", "xywh"])
def test_tm_to_coco_files_evaluate_like_the_metric(tmp_path, box_format: str) -> None:
    preds, target = random_images(5, 6, scale=6, box_format=box_format)
    name = str(tmp_path / "run")
    metric = MeanAveragePrecision(box_format=box_format)
    metric.tm_to_coco(preds, target, name)
    metric.update(preds, target)
    ours = metric.compute()
    _, stats = _pycocotools_summary(name + "_target.json", name + "_preds.json", "bbox")
    keys = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large"]
    keys += ["mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]
    np.testing.assert_allclose([float(ours[k]) for k in keys], stats, rtol=0, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_coco_to_tm_round_trip_and_torchmetrics_dtypes(tmp_path) -> None:
    preds, target = random_images(8, 5, scale=6, box_format="xywh")
    for index, item in enumerate(target):  # make every image hold ground truth, as torchmetrics requires
        if item["labels"].numel() == 0:
            target[index] = {
                "boxes": torch.tensor([[1.0, 1.0, 3.0, 3.0]], dtype=torch.float64),
                "labels": torch.tensor([0]),
                "iscrowd": torch.tensor([0]),
            }
    name = str(tmp_path / "io")
    tm_to_coco(preds, target, name, box_format="xywh")
    ours_preds, ours_target = MeanAveragePrecision.coco_to_tm(name + "_preds.json", name + "_target.json", "bbox")
    from torchmetrics.detection.helpers import CocoBackend

    tm_preds, tm_target = CocoBackend("pycocotools").coco_to_tm(name + "_preds.json", name + "_target.json", "bbox")
    assert len(ours_preds) == len(tm_preds) == len(preds)
    for ours, theirs in [*zip(ours_preds, tm_preds, strict=True), *zip(ours_target, tm_target, strict=True)]:
        for key, value in theirs.items():
            assert ours[key].dtype == value.dtype, key
            torch.testing.assert_close(ours[key], value, rtol=0, atol=0, msg=key)
    for item, back in zip(preds, ours_preds, strict=True):
        torch.testing.assert_close(back["boxes"], item["boxes"].float())
