"""The bulk bbox parse decides exactly as the per-image walk: the same batch, or the same error."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.detection.inputs.bulk import parse_boxes_in_bulk
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.inputs.walk import _parse_walk
from tests._detection_data import random_images

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}
FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16]
INT_DTYPES = [torch.int64, torch.int32, torch.uint8, torch.bool]


def _outcome(parse, *args):
    try:
        return "ok", parse(*args)
    except (TypeError, ValueError) as error:
        return type(error), str(error)


def _assert_same_outcome(preds, target, box_format="xywh", require_scores=True):
    walk = _outcome(_parse_walk, preds, target, box_format, ("bbox",), require_scores, None)
    ours = _outcome(parse_detection_inputs, preds, target, box_format, ("bbox",), require_scores)
    if walk[0] != "ok":
        assert ours == walk
        assert parse_boxes_in_bulk(preds, target, box_format, require_scores, None) is None
        return False
    assert ours[0] == "ok", ours
    for name, value in walk[1]._asdict().items():
        other = getattr(ours[1], name)
        if isinstance(value, torch.Tensor):
            assert value.dtype == other.dtype and value.device == other.device, name
            torch.testing.assert_close(other, value, rtol=0, atol=0, equal_nan=True, msg=name)
        else:
            assert value == other, name
    return parse_boxes_in_bulk(preds, target, box_format, require_scores, None) is not None


def _kind(draw, broken: list[str]) -> str:
    """Mostly a valid idiom; a broken one at the batch's error rate."""
    if draw(st.integers(0, 99)) < draw(st.shared(st.sampled_from([0, 0, 3, 30]), key="error_rate")):
        return draw(st.sampled_from(broken))
    return draw(st.sampled_from(["plain", "plain", "empty_idiom"]))


def _vector(draw, values: torch.Tensor, dtypes: list[torch.dtype]) -> object:
    """A per-image vector as users write it: some dtype, ``torch.tensor([])`` when empty, or broken."""
    kind = _kind(draw, ["float", "column", "short", "list", "scalar"])
    if kind == "empty_idiom" and values.numel() == 0:
        return torch.tensor([])
    if kind == "float":
        return values.float()
    if kind == "column":
        return values.reshape(-1, 1)
    if kind == "short":
        return values[1:]
    if kind == "list":
        return values.tolist()
    if kind == "scalar":
        return values.sum()
    return values.to(draw(st.sampled_from(dtypes)))


def _boxes(draw, boxes: torch.Tensor) -> object:
    kind = _kind(draw, ["nan", "negative", "three", "bool", "int"])
    if kind == "empty_idiom" and boxes.shape[0] == 0:
        return torch.tensor([])
    if kind == "nan" and boxes.shape[0]:
        return torch.cat([boxes[:-1], torch.full((1, 4), torch.nan, dtype=boxes.dtype)])
    if kind == "negative" and boxes.shape[0]:
        return torch.cat([boxes[:-1], torch.tensor([[5.0, 5, -1, 2]], dtype=boxes.dtype)])
    if kind == "three":
        return boxes[:, :3]
    if kind == "bool":
        return boxes != 0
    if kind == "int":
        return boxes.long()
    return boxes.to(draw(st.sampled_from(FLOAT_DTYPES[:2])))


@st.composite
def batches(draw):
    seed, num_images = draw(st.integers(0, 2**31 - 1)), draw(st.integers(1, 5))
    preds, target = random_images(seed, num_images, max_gt=3, max_dets=4, scale=6, given_area=True)
    crowd_in, area_in, id_in = (draw(st.sampled_from(["all", "none", "all", "none", "some"])) for _ in range(3))
    for index, (pred, gt) in enumerate(zip(preds, target, strict=True)):
        pred["boxes"], gt["boxes"] = _boxes(draw, pred["boxes"]), _boxes(draw, gt["boxes"])
        pred["labels"] = _vector(draw, pred["labels"], INT_DTYPES[:3])
        gt["labels"] = _vector(draw, gt["labels"], INT_DTYPES[:3])
        pred["scores"] = _vector(draw, pred["scores"], FLOAT_DTYPES)
        for key, mode, dtypes in (("iscrowd", crowd_in, INT_DTYPES), ("area", area_in, FLOAT_DTYPES[:2])):
            if mode == "none" or (mode == "some" and index == 0):
                del gt[key]
            else:
                if key == "area" and _kind(draw, ["negative"]) == "negative":
                    gt[key] = -gt[key] - 1
                gt[key] = _vector(draw, gt[key], dtypes)
        if id_in == "all" or (id_in == "some" and index):
            gt["image_id"] = draw(st.sampled_from([index, torch.tensor(index), torch.tensor([index])]))
            if _kind(draw, ["float"]) == "float":
                gt["image_id"] = 1.0 * index
        if _kind(draw, ["missing"]) == "missing":
            item = pred if draw(st.booleans()) else gt
            del item[draw(st.sampled_from(sorted(item)))]
    return preds, target


@settings(max_examples=200, **SETTINGS)
@given(batch=batches(), box_format=st.sampled_from(["xywh", "xyxy", "cxcywh"]), require_scores=st.booleans())
def test_bulk_parse_equals_the_walk(batch, box_format, require_scores):
    preds, target = batch
    bulk = _assert_same_outcome(preds, target, box_format, require_scores)
    event("bulk" if bulk else "walk")


def test_usual_batches_take_the_bulk_path():
    preds, target = random_images(3, 6, scale=6, given_area=True)
    assert _assert_same_outcome(preds, target)
    # torchmetrics' idiom for an empty image: torch.tensor([]) (float32) for every key
    preds[0] = {"boxes": torch.tensor([]), "scores": torch.tensor([]), "labels": torch.tensor([])}
    target[1] = {key: torch.tensor([]) for key in ("boxes", "labels", "iscrowd", "area")}
    assert _assert_same_outcome(preds, target)
    target = [{**gt, "image_id": torch.tensor([index])} for index, gt in enumerate(target)]
    assert _assert_same_outcome(preds, target)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"scores": torch.tensor([0.5, float("nan")])}, r"`scores` of image 1 in `preds`"),
        ({"boxes": torch.tensor([[0.0, 0, 1, 1], [3.0, 0, -1, 1]])}, r"`boxes` of image 1 in `preds`.*box 1"),
        ({"labels": torch.tensor([0.0, 1.0])}, r"`labels` of image 1 in `preds` to have an integer dtype"),
    ],
)
def test_errors_name_the_image_and_leave_the_state(change, match):
    preds, target = random_images(1, 3, scale=6)
    preds[1] = {
        "boxes": torch.tensor([[0.0, 0, 1, 1], [3.0, 0, 1, 1]]),
        "scores": torch.tensor([0.5, 0.4]),
        "labels": torch.tensor([0, 1]),
    }
    metric = MeanAveragePrecision(box_format="xywh")
    metric.update(preds, target)
    before = {name: [t.clone() for t in getattr(metric, name)] for name in metric._defaults}
    preds[1] = {**preds[1], **change}
    with pytest.raises((TypeError, ValueError), match=match):
        metric.update(preds, target)
    for name, values in before.items():
        assert all(torch.equal(a, b) for a, b in zip(getattr(metric, name), values, strict=True)), name


@pytest.mark.parametrize("num_images", [1, 3])
@pytest.mark.parametrize("box_format", ["xywh", "xyxy", "cxcywh"])
def test_the_bulk_parse_leaves_the_inputs_as_they_were(num_images: int, box_format: str) -> None:
    # the corners are written in place on the concatenation: it must never be the caller's tensor
    preds, target = random_images(4, num_images, box_format=box_format)
    for image in (*preds, *target):
        image["boxes"] = image["boxes"].double()
    before = [image["boxes"].clone() for image in (*preds, *target)]
    batch = parse_boxes_in_bulk(preds, target, box_format, True, None)
    assert batch is not None
    for image, boxes in zip((*preds, *target), before, strict=True):
        assert torch.equal(image["boxes"], boxes)
    _assert_same_outcome(preds, target, box_format)
