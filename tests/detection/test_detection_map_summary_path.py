"""The 12-stat path (no extended_summary: precision only at the largest max-detections, no scores) against
pycocotools run here and against the extended path, on randomised data (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_evalkit import MeanAveragePrecision
from tests._coco_reference import pycocotools_eval, summary_from_arrays
from tests._detection_data import random_images, split_points

pytestmark = pytest.mark.filterwarnings("ignore:No ground truth was counted", "ignore:Encountered more than")
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}


def _compute(preds: list, target: list, parts: int, seed: int, **kwargs) -> dict:
    metric = MeanAveragePrecision(box_format="xywh", **kwargs)
    for start, stop in split_points(seed, len(preds), parts):
        metric.update(preds[start:stop], target[start:stop])
    return metric.compute()


@settings(max_examples=40, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_images=st.integers(1, 7),
    iou_thresholds=st.lists(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.55, 0.75, 0.9, 1.0]), min_size=1, max_size=4),
    rec_thresholds=st.none() | st.lists(st.floats(0, 1), min_size=1, max_size=12).map(sorted),
    max_dets=st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True),
    given_area=st.booleans(),
    parts=st.integers(1, 3),
)
def test_stats_equal_pycocotools_and_the_extended_path(
    seed, num_images, iou_thresholds, rec_thresholds, max_dets, given_area, parts
) -> None:
    preds, target = random_images(seed, num_images, max_dets=14, num_classes=3, scale=6, given_area=given_area)
    kwargs = dict(iou_thresholds=iou_thresholds, rec_thresholds=rec_thresholds, max_detection_thresholds=max_dets)
    fast = _compute(preds, target, parts, seed, **kwargs)
    extended = _compute(preds, target, parts, seed, extended_summary=True, **kwargs)
    for key, value in fast.items():  # the same numbers, bit for bit
        torch.testing.assert_close(value, extended[key], rtol=0, atol=0, equal_nan=True, msg=key)
    ref = pycocotools_eval(preds, target, "xywh", "bbox", iou_thresholds, rec_thresholds, sorted(max_dets))
    for key, value in summary_from_arrays(ref["precision"], ref["recall"], iou_thresholds, sorted(max_dets)).items():
        assert abs(float(fast[key]) - value) < 1e-6, (key, float(fast[key]), value)


@settings(max_examples=20, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), num_images=st.integers(1, 6), average=st.sampled_from(["macro", "micro"]))
def test_class_metrics_equal_the_extended_path(seed, num_images, average) -> None:
    preds, target = random_images(seed, num_images, scale=6)
    kwargs = dict(average=average, class_metrics=True)
    fast = _compute(preds, target, 2, seed, **kwargs)
    extended = _compute(preds, target, 2, seed, extended_summary=True, **kwargs)
    for key, value in fast.items():
        torch.testing.assert_close(value, extended[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("max_dets", [[3, 1, 2], [100, 1], [2]])
def test_more_detections_than_the_largest_max_detections(max_dets: list[int]) -> None:
    """Images with more detections per class than the largest value: the truncation and the smaller values."""
    preds, target = random_images(4, 5, max_gt=10, max_dets=30, num_classes=1, scale=6)
    fast = _compute(preds, target, 2, 4, max_detection_thresholds=max_dets)
    ref = pycocotools_eval(preds, target, "xywh", max_dets=sorted(max_dets))
    iou = np.linspace(0.5, 0.95, 10).tolist()
    for key, value in summary_from_arrays(ref["precision"], ref["recall"], iou, sorted(max_dets)).items():
        assert abs(float(fast[key]) - value) < 1e-6, (key, float(fast[key]), value)


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_steps_equal_numpy_steps(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch branch of the steps numpy does on CPU (the one other devices run) gives the same arrays."""
    from lightning_evalkit.detection.coco import accumulate as _coco_accumulate

    preds, target = random_images(seed, 6, max_dets=14, scale=6, given_area=True)
    with_numpy = _compute(preds, target, 2, seed, extended_summary=True)
    monkeypatch.setattr(_coco_accumulate, "_numpy_fits", lambda tensor: False)
    with_torch = _compute(preds, target, 2, seed, extended_summary=True)
    for key in ("precision", "recall", "scores", "map", "mar_100"):
        torch.testing.assert_close(with_torch[key], with_numpy[key], rtol=0, atol=0, msg=key)


@settings(max_examples=50, **SETTINGS)
@given(
    values=st.lists(st.floats(width=32, allow_nan=False) | st.sampled_from([0.0, -0.0, 0.5]), max_size=40),
    off_grid=st.booleans(),
)
def test_score_key_numpy_equals_torch_and_orders_as_minus_score(values, off_grid) -> None:
    from lightning_evalkit.detection.coco import accumulate as _coco_accumulate

    scores = torch.tensor(values + ([0.1] if off_grid else []), dtype=torch.float64)  # 0.1 is not a float32
    key = _coco_accumulate._descending_score_key(scores)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_coco_accumulate, "_numpy_fits", lambda tensor: False)
        torch_key = _coco_accumulate._descending_score_key(scores)
    if off_grid:
        assert key is None and torch_key is None
        return
    assert key is not None and torch_key is not None
    assert key.dtype == torch_key.dtype == torch.int64 and torch.equal(key, torch_key)
    order = torch.sort(key, stable=True).indices
    assert torch.equal(order, torch.sort(-scores, stable=True).indices)
