"""The metrics on a CUDA device give exactly the CPU numbers (runs where CUDA exists: `pytest -m cuda`)."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit import AUROC, ROC, ConfusionMatrix, MeanAveragePrecision, Sensitivity
from lightning_evalkit.functional import rle_encode

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)"),
]


def _run(metric: torch.nn.Module, device: str, batches: list[tuple]) -> object:
    metric = metric.to(device)
    for preds, target in batches:
        metric.update(_to(preds, device), _to(target, device))
    return _to(metric.compute(), "cpu")


def _to(value: object, device: str) -> object:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: _to(item, device) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to(item, device) for item in value)
    return value


def _assert_equal(a: object, b: object) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()  # type: ignore[attr-defined]
        for key in a:
            _assert_equal(a[key], b[key])  # type: ignore[index]
    elif isinstance(a, list | tuple):
        for x, y in zip(a, b, strict=True):  # type: ignore[call-overload]
            _assert_equal(x, y)
    else:
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("input_format", ["probs", "logits", "scores"])
@pytest.mark.parametrize("thresholds", [None, [0.1, 0.5, 0.9]])
def test_classification_on_cuda_equals_cpu(input_format: str, thresholds: list[float] | None) -> None:
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn(3, 500, generator=gen)
    preds = raw.sigmoid() if input_format == "probs" else raw
    target = torch.randint(0, 2, (3, 500), generator=gen)
    batches = [(preds[i], target[i]) for i in range(3)]
    cut = 0.0 if input_format == "scores" else 0.5
    for make in (
        lambda: AUROC(task="binary", thresholds=thresholds, input_format=input_format),
        lambda: ROC(task="binary", thresholds=thresholds, input_format=input_format),
        lambda: Sensitivity(task="binary", input_format=input_format, threshold=cut),
        lambda: ConfusionMatrix(task="binary", input_format=input_format, threshold=cut),
    ):
        _assert_equal(_run(make(), "cuda", batches), _run(make(), "cpu", batches))


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_mean_average_precision_on_cuda_equals_cpu(iou_type: str) -> None:
    gen = torch.Generator().manual_seed(1)
    preds, target = [], []
    for _ in range(6):
        boxes = torch.rand(5, 2, generator=gen) * 40
        boxes = torch.cat([boxes, boxes + 5 + torch.rand(5, 2, generator=gen) * 20], 1)
        masks = torch.zeros(5, 64, 64, dtype=torch.bool)
        for i, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
            masks[i, y1:y2, x1:x2] = True
        labels = torch.randint(0, 3, (5,), generator=gen)
        jitter = boxes + torch.randn(5, 4, generator=gen)
        preds.append({"boxes": jitter, "scores": torch.rand(5, generator=gen), "labels": labels, "masks": masks})
        target.append({"boxes": boxes, "labels": labels, "masks": rle_encode(masks)})
    make = lambda: MeanAveragePrecision(iou_type=iou_type, class_metrics=True)  # noqa: E731
    _assert_equal(_run(make(), "cuda", [(preds, target)]), _run(make(), "cpu", [(preds, target)]))


def test_detection_confusion_and_operating_point_on_cuda_equal_cpu() -> None:
    from lightning_evalkit import DetectionConfusionMatrix, DetectionOperatingPoint
    from tests._detection_data import random_images

    preds, target = random_images(4, 9, scale=6)
    batches = [(preds[:5], target[:5]), (preds[5:], target[5:])]
    for make in (
        lambda: DetectionConfusionMatrix(num_classes=4, iou_threshold=0.4, score_threshold=0.3, box_format="xywh"),
        lambda: DetectionOperatingPoint(box_format="xywh"),
    ):
        _assert_equal(_run(make(), "cuda", batches), _run(make(), "cpu", batches))
