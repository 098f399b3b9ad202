"""LVISMeanAveragePrecision, its functional twin and the ``--lvis`` command line equal lvis-api 0.5.3 on random
synthetic LVIS data sets (every key within 1e-6; the printout character for character)."""

from __future__ import annotations

import json
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lightning_evalkit.detection.lvis.lvis_map as lvis_map
from lightning_evalkit import LVISMeanAveragePrecision
from lightning_evalkit.coco import main
from lightning_evalkit.detection.lvis import federated
from lightning_evalkit.functional import lvis_mean_average_precision
from tests._lvis_data import LVIS_KEYS, OUR_KEYS, LvisSet, lvis_api, random_lvis, to_tensors, write

pytest.importorskip("pycocotools")
pytest.importorskip("lvis")

TOLERANCE = 1e-6
SHAPES = {"small": (10, 8, 0), "many": (10, 8, 3), "large": (60, 30, 6)}  # images, categories, images > 300 dets


def _data(seed: int, shape: str, iou_type: str = "bbox", bbox: bool = True) -> LvisSet:
    images, categories, many = SHAPES[shape]
    return random_lvis(seed, images, categories, iou_type, many, bbox)


def _reference(data: LvisSet, iou_type: str) -> tuple[dict[str, float], str, tuple[str, str]]:
    folder = Path(tempfile.mkdtemp())
    files = write(data, folder)
    results, printed = lvis_api(*files, iou_type)
    return results, printed, files


def _assert_equal(reference: dict[str, float], ours: dict[str, Any], keys: tuple[str, ...] = OUR_KEYS) -> None:
    assert len(reference) == len(LVIS_KEYS)
    for lvis_key, key in zip(LVIS_KEYS, keys, strict=True):
        assert abs(float(ours[key]) - reference[lvis_key]) <= TOLERANCE, (key, float(ours[key]), reference[lvis_key])


def _metric_result(data: LvisSet, iou_type: str, dense: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """The metric updated in shuffled batches of 1 to 4 images (image ids break the ties, not the order)."""
    preds, target, frequencies = to_tensors(data, iou_type, dense_preds=dense)
    order = list(range(len(preds)))
    random.Random(seed).shuffle(order)
    metric = LVISMeanAveragePrecision(box_format="xywh", iou_type=iou_type, category_frequencies=frequencies)
    start = 0
    while start < len(order):
        chosen = order[start : start + 1 + start % 4]
        metric.update([preds[i] for i in chosen], [target[i] for i in chosen])
        start += len(chosen)
    return metric.compute()


def _cli(files: tuple[str, str], iou_type: str, capsys: Any) -> tuple[dict[str, float], str]:
    out = Path(files[0]).parent / "lvis_stats.json"
    capsys.readouterr()
    main([*files, "--iou-type", iou_type, "--lvis", "--json", str(out)])
    shown = capsys.readouterr()
    # one line for the results of UNDECLARED categories, naming the files
    assert re.fullmatch(r"python -m lightning_evalkit.coco: warning: .* not in `categories` of .*lvis_gt.json .*"
                        r"lvis_results.json.* as in lvis-api\.\n", shown.err)  # fmt: skip
    return json.loads(out.read_text()), shown.out


@pytest.mark.parametrize(
    ("seed", "shape", "iou_type"),
    [(0, "small", "bbox"), (1, "many", "bbox"), (2, "small", "segm"), (3, "many", "segm")],
)
def test_metric_functional_and_command_line_equal_lvis_api(seed: int, shape: str, iou_type: str, capsys: Any) -> None:
    data = _data(seed, shape, iou_type, bbox=False)
    reference, printed, files = _reference(data, iou_type)
    preds, target, frequencies = to_tensors(data, iou_type)
    _assert_equal(reference, lvis_mean_average_precision(preds, target, "xywh", iou_type, frequencies))
    _assert_equal(reference, _metric_result(data, iou_type, dense=iou_type == "segm", seed=seed))
    written, shown = _cli(files, iou_type, capsys)
    _assert_equal(reference, written, LVIS_KEYS)
    assert written["iou_type"] == iou_type
    assert shown == printed


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31), iou_type=st.sampled_from(["bbox", "segm"]))
def test_random_data_sets_equal_lvis_api(seed: int, iou_type: str) -> None:
    data = _data(seed, "small", iou_type, bbox=False)
    reference, _, _ = _reference(data, iou_type)
    _assert_equal(reference, _metric_result(data, iou_type, seed=seed))


@pytest.mark.slow
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31), iou_type=st.sampled_from(["bbox", "segm"]))
def test_large_random_data_sets_equal_lvis_api(seed: int, iou_type: str) -> None:
    data = _data(seed, "large", iou_type, bbox=False)
    reference, _, _ = _reference(data, iou_type)
    _assert_equal(reference, _metric_result(data, iou_type, seed=seed))


def test_command_line_takes_lvis_api_result_areas(capsys: Any) -> None:
    """segm results with a ``bbox``: lvis-api's area of a result is the box's w * h (not the mask's) for the area
    ranges and "area > 0"; bbox evaluation of results without ``bbox``: the box of the mask, the mask's area."""
    with_box = _data(4, "many", "segm", bbox=True)
    without = LvisSet(with_box.gt, [{k: v for k, v in d.items() if k != "bbox"} for d in with_box.results])
    by_box, printed, files = _reference(with_box, "segm")
    by_mask, _, _ = _reference(without, "segm")
    assert any(abs(by_box[k] - by_mask[k]) > 1e-3 for k in LVIS_KEYS)  # the data tells the two rules apart
    written, shown = _cli(files, "segm", capsys)
    _assert_equal(by_box, written, LVIS_KEYS)
    assert shown == printed
    boxes_of_masks, printed, files = _reference(without, "bbox")
    written, shown = _cli(files, "bbox", capsys)
    _assert_equal(boxes_of_masks, written, LVIS_KEYS)
    assert shown == printed


def _disable(rule: str) -> Any:
    """federated_selection with one of lvis-api's rules left out."""
    original = federated.federated_selection

    def selection(batch: Any, labels: Any, categories: Any, max_det: int, det_areas: torch.Tensor) -> Any:
        if rule == "top 300 per image":
            max_det = 10**6
        if rule == "results of area 0":
            det_areas = det_areas + 1.0
        chosen = original(batch, labels, categories, max_det, det_areas)
        if rule == "not exhaustive":
            return chosen._replace(det_not_exhaustive=torch.zeros_like(chosen.det_not_exhaustive))
        if rule == "positive or negative":
            return chosen._replace(det_keep=federated.top_per_image(batch.det_image, batch.det_scores, max_det))
        if rule == "annotations of area 0":
            return chosen._replace(gt_keep=torch.ones_like(chosen.gt_keep))
        return chosen

    return selection


@pytest.mark.parametrize(
    "rule",
    ["top 300 per image", "results of area 0", "not exhaustive", "positive or negative", "annotations of area 0"],
)
def test_each_rule_changes_the_numbers_on_the_generated_data(rule: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparisons above can fail: without any one of the rules our numbers leave lvis-api's."""
    data = _data(0, "many")
    reference, _, _ = _reference(data, "bbox")
    preds, target, frequencies = to_tensors(data, "bbox")
    monkeypatch.setattr(lvis_map, "federated_selection", _disable(rule))
    result = lvis_mean_average_precision(preds, target, "xywh", "bbox", frequencies)
    assert max(abs(float(result[k]) - reference[lk]) for lk, k in zip(LVIS_KEYS, OUR_KEYS, strict=True)) > 1e-4


def test_ties_across_images_follow_image_ids() -> None:
    """Without ``image_id`` ties follow the order images are seen in, which here is not lvis-api's."""
    data = _data(0, "many")
    reference, _, _ = _reference(data, "bbox")
    preds, target, frequencies = to_tensors(data, "bbox")
    _assert_equal(reference, lvis_mean_average_precision(preds, target, "xywh", "bbox", frequencies))
    without_ids = [{k: v for k, v in t.items() if k != "image_id"} for t in target]
    result = lvis_mean_average_precision(preds, without_ids, "xywh", "bbox", frequencies)
    assert max(abs(float(result[k]) - reference[lk]) for lk, k in zip(LVIS_KEYS, OUR_KEYS, strict=True)) > 1e-6


def test_without_frequencies_every_label_counts_and_groups_are_undefined() -> None:
    data = _data(5, "small")
    reference, _, _ = _reference(data, "bbox")
    preds, target, frequencies = to_tensors(data, "bbox")
    declared = torch.tensor(sorted(frequencies))
    preds = [{k: v[torch.isin(p["labels"], declared)] for k, v in p.items()} for p in preds]  # drop UNDECLARED
    result = lvis_mean_average_precision(preds, target, "xywh", "bbox", None)
    keys = [k for k in OUR_KEYS if k not in ("map_rare", "map_common", "map_frequent")]
    for key in keys:
        assert abs(float(result[key]) - reference[LVIS_KEYS[OUR_KEYS.index(key)]]) <= TOLERANCE, key
    assert [float(result[k]) for k in ("map_rare", "map_common", "map_frequent")] == [-1.0] * 3
    assert all(frequencies[c] for c in frequencies) and any(reference[k] > -1 for k in ("APr", "APc", "APf"))


def test_merge_state_equals_one_metric() -> None:
    data = _data(6, "many")
    preds, target, frequencies = to_tensors(data, "bbox")
    one, first, second = (LVISMeanAveragePrecision("xywh", category_frequencies=frequencies) for _ in range(3))
    one.update(preds, target)
    first.update(preds[:4], target[:4])
    second.update(preds[4:], target[4:])
    first.merge_state(second)
    merged = first.compute()
    for key, value in one.compute().items():
        assert torch.equal(merged[key], value), key
    third = LVISMeanAveragePrecision("xywh", category_frequencies=frequencies)
    third.update(preds[:4], target[:4])
    third.merge_state({name: torch.cat(getattr(second, name)) for name in second._defaults})  # a synced state
    assert all(torch.equal(value, merged[key]) for key, value in third.compute().items())
    reference, _, _ = _reference(data, "bbox")
    _assert_equal(reference, merged)


def test_forward_gives_the_batch_and_keeps_every_image() -> None:
    data = _data(7, "small")
    preds, target, frequencies = to_tensors(data, "bbox")
    metric = LVISMeanAveragePrecision("xywh", category_frequencies=frequencies)
    batch_value = metric(preds[:5], target[:5])
    metric(preds[5:], target[5:])
    expected = lvis_mean_average_precision(preds[:5], target[:5], "xywh", "bbox", frequencies)
    assert all(torch.equal(batch_value[k], expected[k]) for k in OUR_KEYS)
    reference, _, _ = _reference(data, "bbox")
    _assert_equal(reference, metric.compute())


@pytest.mark.filterwarnings("ignore:The ``compute`` method:UserWarning")
def test_nothing_seen_is_minus_one_with_a_warning() -> None:
    metric = LVISMeanAveragePrecision(iou_type="segm", category_frequencies={1: "r"})
    with pytest.warns(UserWarning, match="No ground truth was counted"):
        result = metric.compute()
    assert list(result) == list(OUR_KEYS) and all(float(v) == -1.0 for v in result.values())
    assert all(v.dtype == torch.float32 for v in result.values())


def test_max_detections_is_per_image_over_all_categories() -> None:
    """Three detections of three categories, two kept: the lowest score goes, whatever its category."""
    boxes = torch.tensor([[0.0, 0, 50, 50], [60, 60, 110, 110], [0, 60, 50, 110]])
    preds = [dict(boxes=boxes, scores=torch.tensor([0.3, 0.9, 0.5]), labels=torch.tensor([1, 2, 3]))]
    target = [dict(boxes=boxes, labels=torch.tensor([1, 2, 3]), neg_category_ids=torch.tensor([]),
                   not_exhaustive_category_ids=torch.tensor([]))]  # fmt: skip
    result = lvis_mean_average_precision(preds, target, max_detections=2)
    assert np.isclose(float(result["map"]), 2 / 3) and np.isclose(float(result["mar_2"]), 2 / 3)
