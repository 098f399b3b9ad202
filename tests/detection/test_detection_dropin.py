"""MeanAveragePrecision takes what torchmetrics users pass: backend, warnings, empty data, shapes, two IoU
types, the extended summary's ``ious``; each checked against pycocotools run here or against our own parts."""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings

import numpy as np
import pytest
import torch
from pycocotools.cocoeval import COCOeval

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.functional import mean_average_precision
from tests._coco_reference import _annotations, _coco
from tests._ddp import run_in_processes
from tests._detection_data import random_images, random_masks

BOX = torch.tensor([[0.0, 0.0, 10.0, 10.0]])


def _perfect(num_classes: int = 1) -> tuple[list[dict], list[dict]]:
    labels = torch.arange(num_classes)
    boxes = BOX.repeat(num_classes, 1)
    return [{"boxes": boxes, "scores": torch.ones(num_classes), "labels": labels}], [{"boxes": boxes, "labels": labels}]


@pytest.mark.parametrize("backend", ["pycocotools", "faster_coco_eval"])
def test_backend_is_accepted_and_changes_nothing(backend):
    preds, target = random_images(4, 6, box_format="xyxy")
    expected = mean_average_precision(preds, target)
    metric = MeanAveragePrecision(backend=backend)
    metric.update(preds, target)
    result = metric.compute()
    assert all(torch.equal(result[k], expected[k]) for k in expected)
    assert all(torch.equal(mean_average_precision(preds, target, backend=backend)[k], expected[k]) for k in expected)


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match="Expected `backend` to be one of 'pycocotools', 'faster_coco_eval', but got 'x'"
    ):
        MeanAveragePrecision(backend="x")


def test_many_detections_warn_as_torchmetrics_unless_disabled():
    boxes = BOX.repeat(4, 1)
    preds = [{"boxes": boxes, "scores": torch.rand(4), "labels": torch.zeros(4, dtype=torch.long)}]
    target = [{"boxes": BOX, "labels": torch.tensor([0])}]
    metric = MeanAveragePrecision(max_detection_thresholds=[1, 2, 3])
    with pytest.warns(UserWarning, match="Encountered more than 3 detections in a single image"):
        metric.update(preds, target)
    metric.warn_on_many_detections = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.update(preds, target)
        MeanAveragePrecision().update(preds, target)  # 4 <= 100: no warning


EMPTY = {"boxes": torch.tensor([]), "scores": torch.tensor([]), "labels": torch.tensor([]), "masks": torch.tensor([])}


def _check_undefined(result: dict, iou_types: tuple[str, ...], max_det: int = 100) -> None:
    for prefix in [""] if len(iou_types) == 1 else [f"{t}_" for t in iou_types]:
        for key in ["map", "map_50", "map_75", "map_small", "mar_1", "mar_100", "mar_large"]:
            assert result[prefix + key].item() == -1.0, prefix + key
        assert result[prefix + "map_per_class"].item() == -1.0
        assert result[prefix + f"mar_{max_det}_per_class"].item() == -1.0
    assert result["classes"].shape == (0,) and result["classes"].dtype == torch.int32


@pytest.mark.parametrize(
    ("class_metrics", "extended_summary", "average", "iou_type"),
    list(itertools.product([False, True], [False, True], ["macro", "micro"], ["bbox", "segm", ("bbox", "segm")])),
)
def test_no_box_seen_gives_undefined_values(class_metrics, extended_summary, average, iou_type):
    args = {"class_metrics": class_metrics, "extended_summary": extended_summary, "average": average}
    iou_types = (iou_type,) if isinstance(iou_type, str) else iou_type
    metric = MeanAveragePrecision(iou_type=iou_type, **args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check_undefined(metric.compute(), iou_types)  # before any update
        metric.update([EMPTY, EMPTY], [EMPTY, EMPTY])  # images without boxes
        result = metric.compute()
        _check_undefined(result, iou_types)
        _check_undefined(mean_average_precision([EMPTY], [EMPTY], iou_type=iou_type, **args), iou_types)
    if extended_summary:
        prefix = "" if len(iou_types) == 1 else "bbox_"
        assert result[prefix + "ious"] == {} and result[prefix + "precision"].shape[2] == 0


def _empty_ranks(rank: int, world_size: int) -> dict:
    metric = MeanAveragePrecision(class_metrics=True, extended_summary=True)
    if rank == 1:
        metric.update([EMPTY], [EMPTY])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: v for k, v in metric.compute().items() if k != "ious"}


@pytest.mark.ddp
def test_every_rank_empty_under_ddp():
    for result in run_in_processes(_empty_ranks, 2):
        _check_undefined(result, ("bbox",))


@pytest.mark.parametrize("num_classes", [1, 3])
def test_per_class_shapes_are_the_same_in_class_and_functional(num_classes):
    preds, target = _perfect(num_classes)
    metric = MeanAveragePrecision(class_metrics=True)
    metric.update(preds, target)
    from_class = metric.compute()
    functional = mean_average_precision(preds, target, class_metrics=True)
    expected_shape = () if num_classes == 1 else (num_classes,)  # one element squeezed, as torchmetrics does
    for key in ("map_per_class", "mar_100_per_class", "classes"):
        assert from_class[key].shape == functional[key].shape == expected_shape, key
        assert torch.equal(from_class[key], functional[key])


def test_iou_thresholds_from_arange_still_give_map_50_and_map_75():
    thresholds = np.arange(0.5, 1.0, 0.05).tolist()
    assert 0.75 not in thresholds  # 0.7500000000000002
    preds, target = _perfect()
    result = mean_average_precision(preds, target, iou_thresholds=thresholds)
    assert result["map_50"].item() == result["map_75"].item() == 1.0
    assert mean_average_precision(preds, target, iou_thresholds=[0.6])["map_75"].item() == -1.0


def test_non_numeric_iou_thresholds_get_our_message():
    with pytest.raises(TypeError, match=r"Expected `iou_thresholds` to be None or a non-empty list of floats, but got"):
        MeanAveragePrecision(iou_thresholds=[0.5, "a"])


def test_two_iou_types_equal_two_metrics_with_prefixed_keys():
    preds, target = random_masks(2, 6)
    for item in [*preds, *target]:  # boxes around each mask's pixels
        item["boxes"] = torch.stack([_mask_box(m) for m in item["masks"]]) if len(item["masks"]) else torch.zeros(0, 4)
    both = MeanAveragePrecision(iou_type=("bbox", "segm"), class_metrics=True)
    both.update(preds, target)
    result = both.compute()
    for iou_type in ("bbox", "segm"):
        single = mean_average_precision(preds, target, iou_type=iou_type, class_metrics=True)
        for key, value in single.items():
            name = key if key == "classes" else f"{iou_type}_{key}"
            assert torch.equal(result[name], value), name


def _mask_box(mask: torch.Tensor) -> torch.Tensor:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).double()


def _pycocotools_ious(preds, target, iou_type):
    labels = sorted({int(v) for item in [*preds, *target] for v in item["labels"]})
    images = [{"id": i + 1, "height": 10, "width": 12} for i in range(len(target))]
    categories = [{"id": c} for c in labels]
    gt = _coco(images, categories, _annotations(target, "xyxy", iou_type, True))
    dt = _coco(images, categories, _annotations(preds, "xyxy", iou_type, False))
    evaluator = COCOeval(gt, dt, iouType=iou_type)
    evaluator.params.imgIds, evaluator.params.catIds = [im["id"] for im in images], labels
    evaluator.params.maxDets = [1, 2, 3]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    return {(image - 1, label): np.asarray(value) for (image, label), value in evaluator.ious.items()}


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_extended_summary_ious_equal_pycocotools(iou_type):
    preds, target = random_images(6, 8, box_format="xyxy") if iou_type == "bbox" else random_masks(6, 8)
    metric = MeanAveragePrecision(iou_type=iou_type, extended_summary=True, max_detection_thresholds=[1, 2, 3])
    metric.warn_on_many_detections = False
    metric.update(preds[:3], target[:3])
    metric.update(preds[3:], target[3:])
    ours = metric.compute()["ious"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _pycocotools_ious(preds, target, iou_type)
    assert set(ours) == set(expected)
    for key, value in expected.items():
        mine = ours[key]
        if value.size == 0:
            assert mine.numel() == 0, key
        else:
            assert mine.dtype == torch.float32
            np.testing.assert_allclose(mine.reshape(value.shape).numpy(), value, atol=1e-6, err_msg=str(key))
