"""Casting a detection metric (Lightning's "16-true"/"bf16-true" cast every module) keeps its states exact."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit import IntersectionOverUnion, MatchedIntersectionOverUnion, MeanAveragePrecision, MeanIoU
from tests._detection_data import random_images

CASTS = {
    "set_dtype_half": lambda m: m.set_dtype(torch.half),
    "set_dtype_bf16": lambda m: m.set_dtype(torch.bfloat16),
    "half": lambda m: m.half(),
    "to_bf16": lambda m: m.to(torch.bfloat16),
    "to_float64": lambda m: m.to(torch.float64),
}


def _state_dtypes(metric) -> dict:
    return {
        name: [v.dtype for v in value] if isinstance(value, list) else value.dtype
        for name, value in metric.metric_state.items()
    }


def _box_metrics():
    return [
        MeanAveragePrecision(class_metrics=True, extended_summary=True),
        MeanAveragePrecision(average="micro", class_metrics=True),
        IntersectionOverUnion(class_metrics=True),
        MatchedIntersectionOverUnion(class_metrics=True),
    ]


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return torch.equal(a, b)


@pytest.mark.parametrize("cast", list(CASTS))
def test_cast_box_metrics_keep_states_and_give_the_float32_answer(cast):
    preds, target = random_images(11, 8, box_format="xyxy", tied_scores=False)
    half_preds = [{**p, "boxes": p["boxes"].half(), "scores": p["scores"].bfloat16()} for p in preds]
    float_preds = [{**p, "boxes": p["boxes"].half().float(), "scores": p["scores"].bfloat16().float()} for p in preds]
    for plain, casted in zip(_box_metrics(), _box_metrics(), strict=True):
        plain.update(float_preds[:4], target[:4])
        casted.update(half_preds[:4], target[:4])
        dtypes = _state_dtypes(casted)
        casted = CASTS[cast](casted)  # after an update: the kept states must not be cast either
        assert _state_dtypes(casted) == dtypes
        plain.update(float_preds[4:], target[4:])
        casted.update(half_preds[4:], target[4:])
        assert _equal(casted.compute(), plain.compute()), type(plain).__name__


@pytest.mark.parametrize("cast", list(CASTS))
def test_cast_mean_iou_keeps_integer_counts(cast):
    preds, target = torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]])
    metric = CASTS[cast](MeanIoU(num_classes=2, per_class=True))
    metric.update(preds, target)
    assert metric.intersection.dtype == metric.union.dtype == torch.long
    reference = MeanIoU(num_classes=2, per_class=True)
    reference.update(preds, target)
    assert _equal(metric.compute(), reference.compute())
