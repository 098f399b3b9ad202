"""Mask IoU on words and runs, and segm mAP with RLE masks, against pycocotools."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.functional import mask_iou, mean_average_precision
from tests._coco_reference import pycocotools_eval
from tests._detection_data import random_masks

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}
KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100")


def _encode(masks: torch.Tensor) -> list[dict]:
    if masks.shape[0] == 0:
        return []
    return mask_utils.encode(np.asfortranarray(masks.permute(1, 2, 0).numpy().astype(np.uint8)))


def _blobs(gen: torch.Generator, count: int, height: int, width: int) -> torch.Tensor:
    """Rectangles filled at random density (so boxes overlap or not, masks touch or not)."""
    masks = torch.zeros(count, height, width, dtype=torch.bool)
    for i in range(count):
        y0, x0 = int(torch.randint(0, height, (1,), generator=gen)), int(torch.randint(0, width, (1,), generator=gen))
        y1 = y0 + int(torch.randint(0, height - y0 + 1, (1,), generator=gen))
        x1 = x0 + int(torch.randint(0, width - x0 + 1, (1,), generator=gen))
        density = float(torch.rand(1, generator=gen))
        masks[i, y0:y1, x0:x1] = torch.rand(y1 - y0, x1 - x0, generator=gen) < density
    return masks


@pytest.mark.slow
@settings(max_examples=60, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    counts=st.tuples(st.integers(0, 5), st.integers(0, 5)),
    height=st.integers(1, 24),
    # widths that take 8-, 4-, 2- and 1-byte words, and one that splits each row into several lines
    width=st.sampled_from([1, 3, 6, 12, 17, 40, 64, 2048]),
)
def test_mask_iou_equals_pycocotools_dense_rle_and_mixed(seed, counts, height, width):
    gen = torch.Generator().manual_seed(seed)
    a, b = _blobs(gen, counts[0], height, width), _blobs(gen, counts[1], height, width)
    crowd = torch.rand(counts[1], generator=gen) < 0.3
    rle_a, rle_b = _encode(a), _encode(b)
    expected = np.zeros(counts)
    if all(counts):
        expected = np.asarray(mask_utils.iou(rle_a, rle_b, crowd.numpy().astype(np.uint8).tolist()))
    for first, second in ((a, b), (rle_a, rle_b), (a, rle_b), (rle_a, b), (a.to(torch.uint8), b)):
        ours = mask_iou(first, second, crowd)
        assert ours.dtype == torch.float64 and ours.shape == counts
        np.testing.assert_array_equal(ours.numpy(), expected.reshape(counts))


def _as_rle(items: list[dict], json_strings: bool) -> list[dict]:
    out = []
    for item in items:
        rles = _encode(item["masks"])
        if json_strings:
            rles = [{"size": r["size"], "counts": r["counts"].decode("ascii")} for r in rles]
        out.append({**item, "masks": rles})
    return out


@pytest.mark.slow
@settings(max_examples=20, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), num_images=st.integers(1, 5), json_strings=st.booleans())
def test_map_with_rle_input_equals_tensor_input_and_pycocotools(seed, num_images, json_strings):
    preds, target = random_masks(seed, num_images, size=(11, 13))
    from_tensors = mean_average_precision(preds, target, iou_type="segm", extended_summary=True)
    from_rles = mean_average_precision(
        _as_rle(preds, json_strings), _as_rle(target, json_strings), iou_type="segm", extended_summary=True
    )
    reference = pycocotools_eval(preds, target, iou_type="segm")
    for key in ("precision", "recall", "scores"):
        np.testing.assert_allclose(from_rles[key].numpy(), reference[key], rtol=0, atol=1e-12, err_msg=key)
        assert torch.equal(from_rles[key], from_tensors[key]), key
    for key in KEYS:
        assert float(from_rles[key]) == float(from_tensors[key]), key


def test_images_may_mix_rle_tensors_and_empty_masks():
    preds, target = random_masks(3, 6, size=(9, 10))
    mixed_preds, mixed_target = _as_rle(preds, True), _as_rle(target, False)
    mixed_preds[0]["masks"], mixed_target[1]["masks"] = preds[0]["masks"], target[1]["masks"]
    for items in (mixed_preds, mixed_target):  # an image without masks may say so with [] or torch.tensor([])
        for item in items:
            if len(item["masks"]) == 0:
                item["masks"] = [] if isinstance(item["masks"], list) else torch.tensor([])
    ours = mean_average_precision(mixed_preds, mixed_target, iou_type="segm", extended_summary=True)
    reference = pycocotools_eval(preds, target, iou_type="segm")
    np.testing.assert_allclose(ours["precision"].numpy(), reference["precision"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("empty", [torch.tensor([]), []])
def test_an_image_with_nothing_at_all(empty):
    preds, target = random_masks(4, 3, size=(9, 10))
    nothing_pred = {
        "masks": torch.zeros(0, 9, 10, dtype=torch.bool),
        "scores": torch.zeros(0),
        "labels": torch.zeros(0),
    }
    nothing_gt = {"masks": torch.zeros(0, 9, 10, dtype=torch.bool), "labels": torch.zeros(0, dtype=torch.long)}
    reference = pycocotools_eval([nothing_pred, *preds], [nothing_gt, *target], iou_type="segm")
    given_pred, given_gt = {**nothing_pred, "masks": empty}, {**nothing_gt, "masks": empty}
    ours = mean_average_precision([given_pred, *preds], [given_gt, *target], iou_type="segm", extended_summary=True)
    np.testing.assert_allclose(ours["precision"].numpy(), reference["precision"], rtol=0, atol=1e-12)
    assert mask_iou(torch.zeros(2, 0, 3), torch.zeros(1, 0, 3)).tolist() == [[0.0], [0.0]]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            lambda p: p[1].update(masks=[{"size": [9, 11], "counts": [99]}] * len(p[1]["labels"])),
            ValueError,
            "Expected `masks` of image 1 in `preds` and `target` to have the same (H, W), but got (9, 11) and (9, 10).",
        ),
        (
            lambda p: p[1].update(masks=[{"size": [9, 10], "counts": [5]}] * len(p[1]["labels"])),
            ValueError,
            "Expected `counts` of mask 0 of image 1 in `preds` to be non-negative and sum to height * width = 90, "
            "but got [5].",
        ),
        (
            lambda p: p[1].update(masks=[{"counts": [90]}] * len(p[1]["labels"])),
            TypeError,
            "Expected mask 0 of image 1 in `preds` to be a dict with keys 'size' and 'counts' (COCO RLE), but got "
            "keys ['counts'].",
        ),
        (
            lambda p: p[1].update(masks=[{"size": [9, 10], "counts": [90]}] * (len(p[1]["labels"]) + 1)),
            ValueError,
            "Expected `labels` of image 1 in `preds` to have shape (6,), but got (5,).",
        ),
    ],
)
def test_bad_rle_input_leaves_the_metric_unchanged(change, error, message):
    seed = next(s for s in range(100) if len(random_masks(s, 3, size=(9, 10))[0][1]["labels"]))
    preds, target = random_masks(seed, 3, size=(9, 10))
    metric = MeanAveragePrecision(iou_type="segm")
    metric.update(_as_rle(preds[:1], True), _as_rle(target[:1], True))
    before = copy.deepcopy(metric.metric_state)
    bad = _as_rle(preds, True)
    change(bad)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        metric.update(bad, _as_rle(target, True))
    after = metric.metric_state
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert (
            [torch.equal(x, y) for x, y in zip(value, after[key], strict=True)]
            if isinstance(value, list)
            else (torch.equal(value, after[key]))
        ), key
