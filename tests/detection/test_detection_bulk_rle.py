"""The bulk parse of segm batches with RLE masks (detection/inputs/bulk_masks.py) decides exactly as the per-image
walk: the same batch, or the same error (the walk names it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from lightning_evalkit.detection.inputs.bulk_masks import parse_rles_in_bulk
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.inputs.walk import _parse_walk
from tests._detection_data import random_masks

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}


def _encode(masks: torch.Tensor) -> list[dict]:
    if masks.shape[0] == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.permute(1, 2, 0).numpy().astype(np.uint8)))
    return [{"size": r["size"], "counts": r["counts"].decode()} for r in rles]


def _outcome(parse, *args):
    try:
        return "ok", parse(*args)
    except (TypeError, ValueError) as error:
        return type(error), str(error)


def _same_value(a, b, name):
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.device == b.device, name
        torch.testing.assert_close(b, a, rtol=0, atol=0, equal_nan=True, msg=name)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), name
    elif isinstance(a, tuple):  # BatchMasks, RunMasks, Runs, PackedRuns, WordMasks
        assert type(a) is type(b), name
        for field, x, y in zip(a._fields, a, b, strict=True):
            _same_value(x, y, f"{name}.{field}")
    elif isinstance(a, list):  # WordMasks per image
        assert len(a) == len(b), name
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_value(x, y, f"{name}[{index}]")
    else:
        assert a == b, name


def _assert_same_outcome(preds, target, require_scores=True) -> bool:
    """The walk's outcome equals the entry point's; returns whether the bulk path took the batch."""
    walk = _outcome(_parse_walk, preds, target, "xyxy", ("segm",), require_scores, None)
    ours = _outcome(parse_detection_inputs, preds, target, "xyxy", ("segm",), require_scores)
    bulk = parse_rles_in_bulk(preds, target, require_scores, None)
    if walk[0] != "ok":
        assert ours == walk
        assert bulk is None
        return False
    assert ours[0] == "ok", ours
    for name, value in walk[1]._asdict().items():
        _same_value(value, getattr(ours[1], name), name)
    return bulk is not None


def _batch(seed: int, num_images: int, crowd: bool, area: bool, image_id: bool):
    preds, target = random_masks(seed, num_images, size=(9, 7))
    preds = [{**p, "masks": _encode(p["masks"])} for p in preds]
    out = []
    for index, item in enumerate(target):
        gt = {"masks": _encode(item["masks"]), "labels": item["labels"]}
        if crowd:
            gt["iscrowd"] = item["iscrowd"]
        if area:
            gt["area"] = item["masks"].sum((1, 2)).double() + 0.5
        if image_id:
            gt["image_id"] = 10 + index
        out.append(gt)
    return preds, out


@settings(max_examples=40, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_images=st.integers(1, 5),
    crowd=st.booleans(),
    area=st.booleans(),
    image_id=st.booleans(),
    require_scores=st.booleans(),
)
def test_usual_rle_batches_are_parsed_in_bulk_as_the_walk_parses_them(
    seed, num_images, crowd, area, image_id, require_scores
):
    preds, target = _batch(seed, num_images, crowd, area, image_id)
    assert _assert_same_outcome(preds, target, require_scores)


def _break(preds, target, how):
    if how == "bad string":
        target[0]["masks"] = [{"size": [9, 7], "counts": "0 "}] * len(target[0]["labels"])
    elif how == "size mismatch":
        preds[0]["masks"] = [{"size": [7, 9], "counts": m["counts"]} for m in preds[0]["masks"]]
    elif how == "missing mask":
        preds[0]["masks"] = preds[0]["masks"][:-1]
    elif how == "nan score":
        preds[0]["scores"] = torch.full_like(preds[0]["scores"], torch.nan)
    elif how == "negative area":
        target[0]["area"] = -torch.ones(len(target[0]["labels"]), dtype=torch.float64)
    elif how == "dense masks":
        preds[0]["masks"] = torch.zeros(len(preds[0]["labels"]), 9, 7, dtype=torch.bool)
    elif how == "empty idiom":  # torch.tensor([]) for an image without masks: the walk normalises it
        preds[0] = {"masks": torch.tensor([]), "scores": torch.tensor([]), "labels": torch.tensor([])}
    elif how == "crowd in one image":
        target[0]["iscrowd"] = torch.zeros(len(target[0]["labels"]), dtype=torch.long)
    elif how == "float labels":
        preds[0]["labels"] = preds[0]["labels"].double()
    elif how == "uncompressed":
        target[0]["masks"] = [{"size": [9, 7], "counts": [63]}] * len(target[0]["labels"])


@pytest.mark.parametrize(
    "how",
    [
        "bad string",
        "size mismatch",
        "missing mask",
        "nan score",
        "negative area",
        "dense masks",
        "empty idiom",
        "crowd in one image",
        "float labels",
        "uncompressed",
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unusual_batches_get_the_walks_batch_or_error(how, seed):
    preds, target = _batch(seed, 3, crowd=False, area=how == "negative area", image_id=False)
    preds[0] = {**preds[0], "masks": preds[0]["masks"] or [], "labels": preds[0]["labels"]}
    _break(preds, target, how)
    _assert_same_outcome(preds, target)
