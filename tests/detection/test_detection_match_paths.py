"""The compiled bbox matching (coco/match_numba.py) gives the vectorised matching's records bit for bit: crowds,
score ties, given areas, several ground truths per class, the max-detections cut, pooled classes (micro),
unsorted thresholds and custom area ranges; and both equal pycocotools' evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_evalkit._core.compiled import compiled_module
from lightning_evalkit.detection.coco import match as match_module
from lightning_evalkit.detection.coco.match import coco_match
from lightning_evalkit.detection.coco.pairs import match_groups
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import AREA_RANGES, DEFAULT_IOU_THRESHOLDS
from lightning_evalkit.functional import mean_average_precision
from tests._coco_reference import pycocotools_eval, summary_from_arrays
from tests._detection_data import random_images

pytestmark = pytest.mark.skipif(
    compiled_module(match_module._KERNELS) is None, reason="numba is not installed: only the vectorised path runs"
)


def _records(batch: Any, compiled: bool, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> dict[str, torch.Tensor]:
    thresholds = torch.tensor(kwargs.pop("thresholds", DEFAULT_IOU_THRESHOLDS), dtype=torch.float64)
    ranges = torch.tensor(kwargs.pop("ranges", AREA_RANGES), dtype=torch.float64)
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(match_module, "compiled_module", lambda name: None)
        records = coco_match(batch, thresholds, ranges, kwargs.pop("max_det", 100), "bbox", **kwargs)
    return records._asdict()


def _assert_same(batch: Any, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> None:
    compiled = _records(batch, True, monkeypatch, **dict(kwargs))
    vectorised = _records(batch, False, monkeypatch, **dict(kwargs))
    for name, value in vectorised.items():
        assert compiled[name].dtype == value.dtype and torch.equal(compiled[name], value), name


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"max_gt": 14, "max_dets": 30, "num_classes": 2},  # several ground truths per (image, class)
        {"given_area": True, "crowd_prob": 0.5},
        {"tied_scores": False, "scale": 9},
    ],
)
def test_the_compiled_records_equal_the_vectorised_ones(options: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    preds, target = random_images(17, 40, **options)
    batch = parse_detection_inputs(preds, target, "xywh", ("bbox",))
    assert batch.det_labels.numel() > 100
    _assert_same(batch, monkeypatch)
    _assert_same(batch, monkeypatch, max_det=3)  # the cut by rank within (image, class)
    zeros = (torch.zeros_like(batch.det_labels), torch.zeros_like(batch.gt_labels))
    _assert_same(batch, monkeypatch, match_labels=zeros)  # micro: every class pooled
    _assert_same(batch, monkeypatch, thresholds=[0.9, 0.1, 0.5, 1.0], ranges=[[0.0, 40.0], [30.0, 1e5]])
    _assert_same(batch, monkeypatch, thresholds=[0.0, 0.5])  # IoU 0 reaches threshold 0: boxes apart match


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    images=st.integers(0, 6),
    crowd=st.sampled_from([0.0, 0.3, 1.0]),
    thresholds=st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.75, 1.0]), min_size=1, max_size=4),
)
def test_random_batches_match_alike(seed: int, images: int, crowd: float, thresholds: list[float]) -> None:
    preds, target = random_images(seed, images, max_gt=5, max_dets=12, num_classes=2, crowd_prob=crowd)
    batch = parse_detection_inputs(preds, target, "xywh", ("bbox",))
    with pytest.MonkeyPatch.context() as monkeypatch:
        _assert_same(batch, monkeypatch, max_det=5, thresholds=thresholds)


def test_the_compiled_path_equals_pycocotools() -> None:
    # compiled matching and, behind mean_average_precision's summary, the compiled accumulation
    preds, target = random_images(23, 60, max_gt=10, max_dets=25, num_classes=3, given_area=True)
    arrays = pycocotools_eval(preds, target, box_format="xywh")
    expected = summary_from_arrays(arrays["precision"], arrays["recall"], DEFAULT_IOU_THRESHOLDS, [1, 10, 100])
    result = mean_average_precision(preds, target, box_format="xywh")
    for key, value in expected.items():
        np.testing.assert_allclose(float(result[key]), value, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("max_det", [None, 1, 7, 100])
def test_the_counting_sort_orders_groups_as_the_vectorised_sort(max_det: int | None) -> None:
    # one class and up to 60 detections an image with tied scores: groups above the insertion sort's 16 too
    preds, target = random_images(31, 12, max_gt=8, max_dets=60, num_classes=1)
    for image in preds[::2]:
        image["scores"] = (image["scores"] * 4).round() / 4  # many ties, float32-exact
    preds[1]["scores"] = preds[1]["scores"].double() + 1e-12  # not float32-exact: the vectorised path's other sort
    batch = parse_detection_inputs(preds, target, "xywh", ("bbox",))
    assert int(torch.bincount(batch.det_image).max()) > 16
    compiled = match_groups(batch, max_det, compiled_module(match_module._KERNELS))
    vectorised = match_groups(batch, max_det)
    for name, value in vectorised._asdict().items():
        assert compiled._asdict()[name].dtype == value.dtype and torch.equal(compiled._asdict()[name], value), name
