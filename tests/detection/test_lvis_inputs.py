"""LVISMeanAveragePrecision's argument and input checks, the LVIS loader's and command line's input errors, and
2-process DDP == 1 process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from lightning_evalkit import LVISMeanAveragePrecision
from lightning_evalkit.coco import main
from lightning_evalkit.detection.lvis.json_io import load_lvis
from tests._ddp import run_in_processes
from tests._lvis_data import OUR_KEYS, random_lvis, to_tensors

NONE = torch.tensor([], dtype=torch.long)


def _image(**target: Any) -> tuple[list[dict], list[dict]]:
    preds = [dict(boxes=torch.tensor([[0.0, 0, 10, 10]]), scores=torch.tensor([0.5]), labels=torch.tensor([1]))]
    gt = dict(boxes=torch.tensor([[0.0, 0, 10, 10]]), labels=torch.tensor([1]), neg_category_ids=NONE)
    gt["not_exhaustive_category_ids"] = NONE
    gt.update(target)
    return preds, [{k: v for k, v in gt.items() if v is not None}]


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (
            {"neg_category_ids": None},
            ValueError,
            "Expected `target[0]` to have key 'neg_category_ids', but got keys ['boxes', 'labels', "
            "'not_exhaustive_category_ids'].",
        ),
        (
            {"not_exhaustive_category_ids": [3]},
            TypeError,
            "Expected `not_exhaustive_category_ids` of image 0 in `target` to be a torch.Tensor, but got list.",
        ),
        (
            {"neg_category_ids": torch.tensor([[3]])},
            ValueError,
            "Expected `neg_category_ids` of image 0 in `target` to have shape (M,), but got (1, 1).",
        ),
        (
            {"neg_category_ids": torch.tensor([3.0])},
            TypeError,
            "Expected `neg_category_ids` of image 0 in `target` to have an integer dtype, but got torch.float32.",
        ),
        (
            {"labels": torch.tensor([5])},
            ValueError,
            "Expected `labels` of image 0 in `target` to be categories of `category_frequencies`, but got 5.",
        ),
    ],
)
def test_a_wrong_target_is_refused_and_the_metric_is_unchanged(target: dict, error: type, message: str) -> None:
    metric = LVISMeanAveragePrecision(category_frequencies={1: "r", 3: "f"})
    metric.update(*_image())
    before = metric.compute()
    with pytest.raises(error, match=re.escape(message)):
        metric.update(*_image(**target))
    assert all(len(getattr(metric, name)) == 1 for name in metric._defaults)
    after = metric.compute()
    assert all(torch.equal(before[key], after[key]) for key in OUR_KEYS)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"category_frequencies": {1: "x"}}, ValueError, "Expected `category_frequencies[1]` to be 'r', 'c' or 'f'"),
        ({"category_frequencies": {"1": "r"}}, TypeError, "Expected the keys of `category_frequencies` to be int"),
        ({"category_frequencies": [1]}, TypeError, "Expected `category_frequencies` to be None or a dict"),
        ({"max_detections": 0}, ValueError, "Expected `max_detections` to be an int >= 1, but got 0."),
        ({"iou_type": ("bbox", "segm")}, ValueError, "Expected `iou_type` to be one of 'bbox', 'segm'"),
        ({"box_format": "xy"}, ValueError, "Expected `box_format` to be one of"),
    ],
)
def test_wrong_arguments_are_refused(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        LVISMeanAveragePrecision(**kwargs)


def test_a_detection_of_another_category_is_not_evaluated() -> None:
    """As in lvis-api: detections of undeclared categories (and of neither positive nor negative ones) are dropped."""
    preds, target = _image()
    preds[0] = {k: torch.cat([v, v]) for k, v in preds[0].items()}
    preds[0]["labels"] = torch.tensor([1, 7])
    metric = LVISMeanAveragePrecision(category_frequencies={1: "r"})
    metric.update(preds, target)
    assert float(metric.compute()["map"]) == 1.0


def _files(tmp_path: Path, gt: Any, results: Any) -> list[str]:
    paths = [tmp_path / "gt.json", tmp_path / "res.json"]
    for path, content in zip(paths, (gt, results), strict=True):
        path.write_text(json.dumps(content))
    return [str(p) for p in paths]


def _gt() -> dict:
    data = random_lvis(0, 3, 4)
    return data.gt


@pytest.mark.parametrize(
    ("breaking", "message"),
    [
        (lambda gt: gt["categories"][1].pop("frequency"), r"`frequency` of category 1 \(id \d+\) in .*gt.json to be"),
        (lambda gt: gt["images"][2].pop("neg_category_ids"), r"`neg_category_ids` of image 2 \(id \d+\) in .*gt.json"),
        (
            lambda gt: gt["images"][0].update(not_exhaustive_category_ids=[1.5]),
            r"`not_exhaustive_category_ids` of image 0 \(id \d+\) in .*gt.json to be a list of category ids, but "
            r"got \[1.5\]",
        ),
        (lambda gt: gt["annotations"][0].pop("bbox"), r"annotation 0 \(id 1\) in .*gt.json to have `bbox`"),
    ],
)
def test_the_command_line_names_the_file_and_record_of_an_input_problem(
    breaking: Any, message: str, tmp_path: Path, capsys: Any
) -> None:
    gt = _gt()
    breaking(gt)
    files = _files(tmp_path, gt, random_lvis(0, 3, 4).results)
    with pytest.raises(SystemExit) as exit_info:
        main([*files, "--lvis"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err


def test_an_unwritable_json_output_is_one_line(tmp_path: Path, capsys: Any) -> None:
    data = random_lvis(0, 3, 4)
    files = _files(tmp_path, data.gt, [r for r in data.results if r["category_id"] != 9999])
    with pytest.raises(SystemExit) as exit_info:
        main([*files, "--lvis", "--json", str(tmp_path / "missing" / "out.json")])
    assert exit_info.value.code == 2 and "error: cannot write" in capsys.readouterr().err


def test_the_loader_gives_lvis_keys_and_no_crowd() -> None:
    data = random_lvis(1, 4, 5)
    preds, target, frequencies = load_lvis(data.gt, [r for r in data.results if r["category_id"] != 9999])
    assert frequencies == {c["id"]: c["frequency"] for c in data.gt["categories"]}
    images = sorted(data.gt["images"], key=lambda image: image["id"])
    for image, item in zip(images, target, strict=True):
        assert int(item["image_id"]) == image["id"] and "iscrowd" not in item
        assert item["neg_category_ids"].tolist() == image["neg_category_ids"]
        assert item["not_exhaustive_category_ids"].tolist() == image["not_exhaustive_category_ids"]
    assert sum(len(p["labels"]) for p in preds) == sum(r["category_id"] != 9999 for r in data.results)


# ---- 2-process gloo DDP

NUM_IMAGES = 13


def _ddp_data() -> tuple[list[dict], list[dict], dict]:
    return to_tensors(random_lvis(11, NUM_IMAGES, 8, many=2), "bbox")


def _evaluate(rank: int, world_size: int, images: list[list[int]]) -> dict:
    """One rank's images (DistributedSampler's interleaving, or none), two per update."""
    preds, target, frequencies = _ddp_data()
    metric = LVISMeanAveragePrecision("xywh", category_frequencies=frequencies)
    mine = images[rank]
    for start in range(0, len(mine), 2):
        chosen = mine[start : start + 2]
        metric.update([preds[i] for i in chosen], [target[i] for i in chosen])
    return metric.compute()


@pytest.mark.ddp
@pytest.mark.slow
@pytest.mark.parametrize(
    "images",
    [
        [list(range(0, NUM_IMAGES, 2)), list(range(1, NUM_IMAGES, 2))],
        [[], list(range(NUM_IMAGES))],  # a rank without images
    ],
)
def test_two_gloo_ranks_equal_one_process(images: list[list[int]]) -> None:
    expected = _evaluate(0, 1, [list(range(NUM_IMAGES))])
    assert float(expected["map"]) > 0 and float(expected["map_rare"]) != float(expected["map_frequent"])
    for result in run_in_processes(_evaluate, 2, images):
        assert result.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(result[key], value), key
