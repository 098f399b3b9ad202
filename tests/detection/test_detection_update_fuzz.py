"""Malformed per-image dicts fed to every public detection entry point.

A valid batch (boxes in the drawn ``box_format``, dense or RLE masks, optional ``iscrowd``/``area``/``image_id``)
gets one change at one image of one side. A malformed change must raise, at every entry point that reads the
key, the same exception type (TypeError for types and dtypes, ValueError for shapes and values) with a message
naming the argument and the image; a metric class keeps every state (and MeanAveragePrecision its pending bbox
batches) exactly as before. An entry point that does not read the key (scores for the IoU family, boxes for
segm, masks for bbox) accepts it, and so does every input the drop-in accepts on purpose (negative labels,
scores outside [0, 1], bool labels, ``torch.tensor([])`` for an empty image, integer boxes, extra keys).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lightning_evalkit as evalkit
from lightning_evalkit import functional as fn

SETTINGS = {
    "deadline": timedelta(seconds=5),  # every entry point of one example together; a hang fails it
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": True,
}


@dataclass(frozen=True)
class Entry:
    """One public entry point: a metric class (``make``) or a functional (``call``)."""

    name: str
    iou_types: tuple[str, ...]
    scores: bool  # whether it reads the predictions' scores
    make: Callable[[str], Any] | None = None
    call: Callable[[list, list, str], Any] | None = None

    def reads(self, side: str, key: str | None) -> bool:
        """Whether a change to ``key`` of ``side`` (None: the image or the list itself) reaches its checks."""
        return {
            None: True,
            "boxes": "bbox" in self.iou_types,
            "masks": "segm" in self.iou_types,
            "labels": True,
            "scores": side == "preds" and self.scores,
        }.get(key, side == "target")  # iscrowd, area, image_id: read from every target


def _map_class(iou_type: Any, **kwargs: Any) -> Callable[[str], Any]:
    return lambda box_format: evalkit.MeanAveragePrecision(box_format=box_format, iou_type=iou_type, **kwargs)


def _map_fn(iou_type: Any) -> Callable[[list, list, str], Any]:
    return lambda p, t, box_format: fn.mean_average_precision(p, t, box_format=box_format, iou_type=iou_type)


def _family_class(cls: type) -> Callable[[str], Any]:
    return lambda box_format: cls(box_format=box_format, class_metrics=True)


def _family_fn(function: Callable) -> Callable[[list, list, str], Any]:
    return lambda p, t, box_format: function(p, t, box_format=box_format, class_metrics=True)


BOTH = ("bbox", "segm")
FAMILY = [
    (evalkit.IntersectionOverUnion, fn.intersection_over_union),
    (evalkit.GeneralizedIntersectionOverUnion, fn.generalized_intersection_over_union),
    (evalkit.DistanceIntersectionOverUnion, fn.distance_intersection_over_union),
    (evalkit.CompleteIntersectionOverUnion, fn.complete_intersection_over_union),
]
ENTRIES = [
    Entry("MeanAveragePrecision(bbox)", ("bbox",), True, make=_map_class("bbox")),
    Entry("MeanAveragePrecision(bbox, extended)", ("bbox",), True, make=_map_class("bbox", extended_summary=True)),
    Entry("MeanAveragePrecision(segm)", ("segm",), True, make=_map_class("segm")),
    Entry("MeanAveragePrecision(bbox+segm)", BOTH, True, make=_map_class(BOTH, average="micro", class_metrics=True)),
    Entry("mean_average_precision(bbox)", ("bbox",), True, call=_map_fn("bbox")),
    Entry("mean_average_precision(segm)", ("segm",), True, call=_map_fn("segm")),
    Entry("mean_average_precision(bbox+segm)", BOTH, True, call=_map_fn(BOTH)),
    *(Entry(cls.__name__, ("bbox",), False, make=_family_class(cls)) for cls, _ in FAMILY),
    *(Entry(function.__name__, ("bbox",), False, call=_family_fn(function)) for _, function in FAMILY),
    Entry("MatchedIntersectionOverUnion", ("bbox",), True, make=_family_class(evalkit.MatchedIntersectionOverUnion)),
    Entry("matched_intersection_over_union", ("bbox",), True, call=_family_fn(fn.matched_intersection_over_union)),
]


class Change(NamedTuple):
    """What one change to a valid batch must give: ``error`` None where it is a valid input."""

    side: str  # "preds" or "target": the list changed
    key: str | None  # the key changed (None: the image or the list); entry points not reading it accept it
    error: type[Exception] | None
    names: tuple[str, ...]  # the message holds one of them (the argument, as the message spells it)
    index: int | None  # the image the message must name (None: a whole-list problem)


# ---------------------------------------------------------------- valid batches


def _boxes(gen: torch.Generator, count: int, box_format: str) -> torch.Tensor:
    """Valid float32 boxes, width and height >= 1 (so swapping corners always misorders them)."""
    xy = torch.randint(0, 9, (count, 2), generator=gen).float()
    wh = torch.randint(1, 6, (count, 2), generator=gen).float()
    if box_format == "xyxy":
        return torch.cat([xy, xy + wh], 1)
    if box_format == "xywh":
        return torch.cat([xy, wh], 1)
    return torch.cat([xy + wh / 2, wh], 1)


def _image(gen: torch.Generator, count: int, size: tuple[int, int], box_format: str, rle: bool) -> dict:
    masks = torch.rand(count, *size, generator=gen) < 0.5
    item = {
        "boxes": _boxes(gen, count, box_format),
        "masks": fn.rle_encode(masks) if rle else masks,
        "labels": torch.randint(0, 3, (count,), generator=gen),
    }
    return item


class Batch(NamedTuple):
    preds: list[dict]
    target: list[dict]
    dense: dict[tuple[str, int], torch.Tensor]  # each image's masks as a dense bool tensor
    box_format: str
    with_ids: bool


def _batch(
    seed: int, num_images: int, box_format: str, rle: bool, optional: tuple[bool, bool, bool], keep: int
) -> Batch:
    """Images 0..num_images-1; image ``keep`` has at least one prediction and one ground truth."""
    gen = torch.Generator().manual_seed(seed)
    with_crowd, with_area, with_ids = optional
    preds, target, dense = [], [], {}
    for index in range(num_images):
        least = 1 if index == keep else 0
        size = (int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(1, 6, (1,), generator=gen)))
        counts = torch.randint(least, 4, (2,), generator=gen).tolist()
        pred = _image(gen, counts[0], size, box_format, rle)
        pred["scores"] = torch.rand(counts[0], generator=gen)
        gt = _image(gen, counts[1], size, box_format, rle)
        if with_crowd:
            gt["iscrowd"] = torch.randint(0, 2, (counts[1],), generator=gen)
        if with_area:
            gt["area"] = torch.rand(counts[1], generator=gen) * 40
        if with_ids:
            gt["image_id"] = 100 + index
        for side, item in (("preds", pred), ("target", gt)):
            masks = item["masks"]
            dense[(side, index)] = fn.rle_decode(masks) if rle and masks else masks
            if rle and not masks:
                dense[(side, index)] = torch.zeros(0, *size, dtype=torch.bool)
        preds.append(pred)
        target.append(gt)
    return Batch(preds, target, dense, box_format, with_ids)


@st.composite
def batches(draw: Any, keep: int | None = None) -> Batch:
    """A valid batch; image ``keep`` (drawn when None) has boxes on both sides."""
    num_images = draw(st.integers(1, 3))
    keep = draw(st.integers(0, num_images - 1)) if keep is None else min(keep, num_images - 1)
    return _batch(
        draw(st.integers(0, 2**16)),
        num_images,
        draw(st.sampled_from(["xyxy", "xywh", "cxcywh"])),
        draw(st.booleans()),
        (draw(st.booleans()), draw(st.booleans()), draw(st.booleans())),
        keep,
    )


# ---------------------------------------------------------------- changes


def _names(key: str) -> tuple[str, ...]:
    return (f"`{key}`", "RLE") if key == "masks" else (f"`{key}`",)


def _count_names() -> tuple[str, ...]:
    """A per-image count that disagrees: the message names whichever key the count was taken from or checked."""
    return ("`boxes`", "`masks`", "`labels`")


def _not_tensor(draw: Any, key: str) -> Any:
    if key == "image_id":
        return draw(st.sampled_from([1.5, "7", None, [3], np.float64(2.0), True]))
    values = [3.0, "abc", None, np.zeros(2)] + ([[0.5, 1.0]] if key != "masks" else [[0.5], [{"size": [1]}]])
    return draw(st.sampled_from(values))


def _wrong_dtype(draw: Any, key: str, value: torch.Tensor) -> torch.Tensor:
    dtypes = {
        "boxes": [torch.bool, torch.complex64],
        "labels": [torch.float32, torch.float64, torch.complex64],
        "scores": [torch.int64, torch.bool, torch.int32, torch.complex64],
        "masks": [torch.complex64],
        "iscrowd": [torch.float32],
        "area": [torch.bool, torch.complex64],
    }[key]
    return value.to(draw(st.sampled_from(dtypes)))


def _wrong_shape(draw: Any, key: str, value: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, tuple]:
    """A tensor of a wrong shape, and the names its message may hold."""
    count = value.shape[0]
    if key == "boxes":
        options = [(value[:, :3], ("`boxes`",)), (value[..., None], ("`boxes`",)), (value.flatten(), ("`boxes`",))]
        options += [(torch.cat([value, value[:1]]), _count_names()), (torch.zeros(0, 3), ("`boxes`",))]
        options += [(torch.zeros(count, 0), ("`boxes`",)), (torch.tensor([]), _count_names())]
    elif key == "masks":
        options = [
            (value[:, 0], ("`masks`",)),
            (value[..., None], ("`masks`",)),
            (torch.zeros(0, size[0]), ("`masks`",)),
        ]
        options += [(torch.cat([value, value[:1]]), _count_names()), (torch.zeros(0, 0, 0), _count_names())]
        options += [(torch.zeros(count, size[0] + 1, size[1], dtype=torch.bool), ("`masks`",))]
    else:  # a per-detection or per-ground-truth vector
        options = [(torch.cat([value, value[:1]]), (f"`{key}`",)), (value[:, None], (f"`{key}`",))]
        options += [(value[:0], (f"`{key}`",)), (torch.zeros(0, 1), (f"`{key}`",)), (value[0], (f"`{key}`",))]
    return draw(st.sampled_from(options))


def _bad_values(draw: Any, key: str, value: torch.Tensor, box_format: str) -> torch.Tensor:
    """NaN or inf, misordered boxes, masks other than 0/1, a negative area."""
    value = value.clone() if key != "masks" else value.float()
    row = draw(st.integers(0, value.shape[0] - 1))
    kind = "nonfinite" if key == "scores" else draw(st.sampled_from(["nonfinite", "other"]))
    if kind == "nonfinite":
        flat = value.view(value.shape[0], -1)
        flat[row, draw(st.integers(0, flat.shape[1] - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif key == "boxes":
        column = draw(st.integers(0, 1))
        if box_format == "xyxy":
            value[row, [column, column + 2]] = value[row, [column + 2, column]]
        else:
            value[row, column + 2] = -1.0
    elif key == "masks":
        value[row, 0, 0] = draw(st.sampled_from([0.5, 2.0, -1.0]))
        dtypes = [torch.float32, torch.float64] + ([torch.int16] if value[row, 0, 0] != 0.5 else [])
        value = value.to(draw(st.sampled_from(dtypes)))
    else:  # area
        value[row] = -1.0
    return value


KINDS = ["missing", "not_tensor", "dtype", "shape", "values", "not_dict", "list", "accepted", "rle"]


@st.composite
def changes(draw: Any, batch: Batch, kind: str) -> tuple[Change, Any, Any]:
    """One change of ``kind`` to ``batch`` (its lists are changed in place); what every entry point must then do,
    and the preds and target to give."""
    preds, target = batch.preds, batch.target
    side = draw(st.sampled_from(["preds", "target"]))
    if kind == "list":  # the lists themselves
        if draw(st.booleans()):
            (preds if side == "preds" else target).pop()
            return (
                Change(side, None, ValueError, ("`preds` and `target` to have the same length",), None),
                preds,
                target,
            )
        bad = draw(st.sampled_from([dict(preds[0]), "images", None, 3]))
        change = Change(side, None, TypeError, (f"`{side}` to be a list of dicts",), None)
        return (change, bad, target) if side == "preds" else (change, preds, bad)
    index = next(i for i, (p, t) in enumerate(zip(preds, target, strict=True)) if len(p["labels"]) and len(t["labels"]))
    items = preds if side == "preds" else target
    if kind == "not_dict":
        items[index] = draw(st.sampled_from([list(items[index].values()), tuple(items[index]), None, torch.zeros(3)]))
        return Change(side, None, TypeError, (f"`{side}[{index}]`",), index), preds, target
    change = _change_image(draw, kind, items[index], side, index, batch)
    return change, preds, target


def _change_image(draw: Any, kind: str, item: dict, side: str, index: int, batch: Batch) -> Change:
    """Change one key of one image."""
    keys = ["boxes", "masks", "labels", "scores"] if side == "preds" else ["boxes", "masks", "labels"]
    optional = [] if side == "preds" else ["iscrowd", "area", "image_id"]
    if kind == "missing":
        key = draw(st.sampled_from(keys + optional))
        item.pop(key, None)
        if key in keys:
            return Change(side, key, ValueError, (f"`{side}[{index}]` to have key '{key}'",), index)
        if key == "image_id" and batch.with_ids and len(batch.target) > 1:
            return Change(side, key, ValueError, ("`image_id`",), index)
        return Change(side, key, None, (), index)
    if kind == "accepted":
        return _accepted(draw, item, side, index)
    if kind == "rle":
        return _bad_rle(draw, item, side, index, batch)
    key = draw(st.sampled_from(keys + optional))
    value = _valid_tensor(item, key, side, index, batch)
    if kind == "not_tensor":
        item[key] = _not_tensor(draw, key)
        return Change(side, key, TypeError, _names(key), index)
    if key == "image_id":  # a tensor that is not one integer, or an int that int64 cannot hold
        not_one_int = [torch.tensor([1.0]), torch.tensor([1, 2]), torch.zeros(0, dtype=torch.long), torch.tensor(True)]
        item[key] = draw(st.sampled_from([*not_one_int, 2**63, -(2**70)]))
        error = TypeError if isinstance(item[key], torch.Tensor) else ValueError
        return Change(side, key, error, ("`image_id`",), index)
    if kind == "dtype":
        item[key] = _wrong_dtype(draw, key, value)
        return Change(side, key, TypeError, _names(key), index)
    if kind == "shape":
        item[key], names = _wrong_shape(draw, key, value, tuple(batch.dense[(side, index)].shape[1:]))
        return Change(side, key, ValueError, names, index)
    if key in ("labels", "iscrowd"):  # integer keys have no bad values (negative labels are valid)
        item[key] = -value - 1
        return Change(side, key, None, (), index)
    item[key] = _bad_values(draw, key, value, batch.box_format)
    return Change(side, key, ValueError, _names(key), index)


def _valid_tensor(item: dict, key: str, side: str, index: int, batch: Batch) -> torch.Tensor:
    """The key's valid value as a tensor (dense masks; a fresh iscrowd/area where the batch has none)."""
    count = len(item["labels"])
    if key == "masks":
        return batch.dense[(side, index)]
    if key == "iscrowd":
        return item.get(key, torch.zeros(count, dtype=torch.long))
    if key == "area":
        return item.get(key, torch.ones(count))
    if key == "image_id":
        return torch.tensor(0)  # replaced whole, never changed
    return item[key]


def _accepted(draw: Any, item: dict, side: str, index: int) -> Change:
    """Inputs that look odd but are valid, as in torchmetrics and pycocotools."""
    kind = draw(st.sampled_from(["negative_labels", "scores", "bool_labels", "extra", "empty", "int_boxes"]))
    if kind == "negative_labels":
        item["labels"] = -item["labels"] - 1
    elif kind == "scores" and side == "preds":
        item["scores"] = item["scores"] * 10 - 5
    elif kind == "bool_labels":
        item["labels"] = item["labels"] > 0
    elif kind == "extra":
        item["extra"] = "ignored"
    elif kind == "empty":  # torch.tensor([]) for every key of this image
        for key in ("boxes", "masks", "labels", "scores", "iscrowd", "area"):
            if key in item:
                item[key] = torch.tensor([])
    else:  # integer boxes (floor keeps the corners in order)
        item["boxes"] = item["boxes"].floor().long()
    return Change(side, None, None, (), index)


def _bad_rle(draw: Any, item: dict, side: str, index: int, batch: Batch) -> Change:
    """COCO RLE masks that are malformed: a wrong size, counts not summing to it, missing keys."""
    rles = fn.rle_encode(batch.dense[(side, index)])
    height, width = rles[0]["size"]
    kind = draw(st.sampled_from(["size", "sum", "keys", "size_type", "counts"]))
    if kind == "counts":  # uncompressed counts that are not a list of ints >= 0 (the first one changed)
        pixels = height * width
        bad = [["4"], [None], [2**70], [float("nan")], [pixels - 0.5, 0.5], [True, pixels - 1], [[pixels]]]
        bad += [torch.tensor([pixels + 0.5]), torch.tensor([[pixels]]), torch.tensor([float(pixels), float("inf")])]
        bad += ["4\x7f", b"\xff"]
        item["masks"] = [{**rle, "counts": draw(st.sampled_from(bad))} if i == 0 else rle for i, rle in enumerate(rles)]
        return Change(side, "masks", ValueError, ("mask 0",), index)
    if kind == "size":  # a size the other side's masks do not have
        item["masks"] = fn.rle_encode(torch.zeros(len(rles), height + 1, width, dtype=torch.bool))
        return Change(side, "masks", ValueError, ("`masks`",), index)
    if kind == "sum":
        item["masks"] = [{"size": [height, width], "counts": [height * width + 1]} for _ in rles]
        return Change(side, "masks", ValueError, ("mask 0",), index)
    if kind == "keys":
        item["masks"] = [{"counts": rle["counts"]} for rle in rles]
        return Change(side, "masks", TypeError, ("mask 0",), index)
    item["masks"] = [{**rle, "size": [height, -width]} for rle in rles]
    return Change(side, "masks", ValueError, ("mask 0",), index)


# ---------------------------------------------------------------- checks


def _snapshot(metric: Any) -> dict[str, Any]:
    """Every state and pending batch, read from ``__dict__`` (reading a state would match the pending)."""
    fields = metric.__dict__
    states = {}
    for name in metric._defaults:
        value = fields[name]
        states[name] = [v.clone() for v in value] if isinstance(value, list) else value.clone()
    pending = [[v.clone() if isinstance(v, torch.Tensor) else v for v in b] for b in fields.get("_pending", [])]
    return {"states": states, "pending": pending}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):  # equal, bit for bit, NaN where NaN (the area a target left out)
        if not (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        return torch.equal(a, b) or (
            a.is_floating_point()
            and torch.equal(a.isnan(), b.isnan())
            and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))
        )
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b or (a is None and b is None)


def _check_message(message: str, change: Change) -> None:
    assert any(name in message for name in change.names), (message, change.names)
    if change.index is not None:
        markers = (f"image {change.index} in `", f"`{change.side}[{change.index}]`")
        assert any(marker in message for marker in markers), (message, change.index)


def _run(entry: Entry, batch: Batch, before: Batch, preds: Any, target: Any) -> tuple[Any, Any, Any]:
    """Call the functional, or update the class after a valid batch; (exception or None, metric, its snapshot)."""
    metric = snapshot = None
    if entry.make is not None:
        metric = entry.make(batch.box_format)
        metric.update(before.preds, before.target)
        snapshot = _snapshot(metric)
    try:
        if metric is not None:
            metric.update(preds, target)
        else:
            assert entry.call is not None
            entry.call(preds, target, batch.box_format)
    except Exception as error:  # the test judges every exception, crashes included
        return error, metric, snapshot
    return None, metric, snapshot


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, **SETTINGS)
@given(data=st.data())
def test_malformed_per_image_dicts_are_rejected_the_same_way_everywhere_and_leave_the_state(kind, data):
    batch = data.draw(batches(), label="batch")
    before = _batch(7, 2, batch.box_format, False, (False, False, batch.with_ids), 0)
    change, preds, target = data.draw(changes(batch, kind), label="change")
    for entry in ENTRIES:
        expected = change.error if change.key is None or entry.reads(change.side, change.key) else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            error, metric, snapshot = _run(entry, batch, before, preds, target)
            if expected is None:
                assert error is None, (entry.name, change, repr(error))
                if metric is not None:
                    metric.compute()
                continue
        assert type(error) is expected, (entry.name, change, repr(error))
        _check_message(str(error), change)
        if metric is not None:
            assert _same(_snapshot(metric), snapshot), (entry.name, change)


@pytest.mark.parametrize(
    ("image_id", "error", "message"),
    [
        (
            torch.tensor(True),
            TypeError,
            "Expected `image_id` of image 1 in `target` to be an int or a one-element integer tensor, but got a "
            "tensor of shape () and dtype torch.bool.",
        ),
        (2**63, ValueError, f"Expected `image_id` of image 1 in `target` to fit in int64, but got {2**63}."),
        (
            torch.tensor([2**64 - 1], dtype=torch.uint64),
            ValueError,
            f"Expected `image_id` of image 1 in `target` to fit in int64, but got {2**64 - 1}.",
        ),
    ],
)
def test_an_image_id_that_is_a_bool_or_beyond_int64_is_rejected_by_name(image_id, error, message):
    batch = _batch(3, 2, "xyxy", False, (False, False, True), 1)
    metric = evalkit.MeanAveragePrecision()
    metric.update(batch.preds, batch.target)
    snapshot = _snapshot(metric)
    batch.target[1]["image_id"] = image_id
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        metric.update(batch.preds, batch.target)
    assert _same(_snapshot(metric), snapshot)


@pytest.mark.parametrize(
    ("counts", "error", "got"),
    [
        ([None], TypeError, "a list holding NoneType"),
        (["4"], TypeError, "a list holding str"),
        ([float("nan")], TypeError, "a list holding float"),
        ([2.5, 3.5], TypeError, "a list holding float"),
        ([True, 5], TypeError, "a list holding bool"),
        ([[6]], TypeError, "a list holding list"),
        (torch.tensor([6.5]), TypeError, "a tensor of torch.float32"),
        (torch.tensor([[6]]), ValueError, "a tensor of shape (1, 1)"),
    ],
)
def test_uncompressed_rle_counts_that_are_not_a_list_of_ints_are_rejected_by_name(counts, error, got):
    masks = torch.ones(1, 2, 3, dtype=torch.bool)
    preds = [{"masks": masks, "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}]
    target = [{"masks": masks, "labels": torch.tensor([0])}]
    metric = evalkit.MeanAveragePrecision(iou_type="segm")
    metric.update(preds, target)
    snapshot = _snapshot(metric)
    target = [{"masks": [{"size": [2, 3], "counts": counts}], "labels": torch.tensor([0])}]
    with pytest.raises(
        error,
        match=re.escape("Expected `counts` of mask 0 of image 0 in `target` to ") + ".*" + re.escape(f"but got {got}."),
    ):
        metric.update(preds, target)
    assert _same(_snapshot(metric), snapshot)
    with pytest.raises(error, match=re.escape("Expected `counts` of mask 0 in `rles` to ")):
        fn.rle_decode(target[0]["masks"])


def test_uncompressed_rle_counts_beyond_int64_are_a_value_error_naming_the_mask():
    rles = [{"size": [2, 3], "counts": [2**70]}]
    message = (
        f"Expected `counts` of mask 0 in `rles` to be non-negative and sum to height * width = 6, but got [{2**70}]."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fn.rle_decode(rles)


@st.composite
def class_maps(draw: Any) -> tuple[int, int | None, torch.Tensor, torch.Tensor, str, type[Exception] | None]:
    """(num_classes, ignore_index, preds, target, the argument named, the error) for MeanIoU: one change at most."""
    num_classes = draw(st.integers(1, 4))
    ignore_index = draw(st.sampled_from([None, 255, -1]))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    maps = [torch.randint(0, num_classes, shape, generator=gen) for _ in range(2)]
    side = draw(st.sampled_from([0, 1]))
    name = ("preds", "target")[side]
    kind = draw(st.sampled_from(["not_tensor", "dtype", "shape", "values", "accepted"]))
    error: type[Exception] | None = TypeError if kind in ("not_tensor", "dtype") else ValueError
    if kind == "not_tensor":
        maps[side] = draw(st.sampled_from([maps[side].tolist(), maps[side].numpy(), None, 1]))
    elif kind == "dtype":
        maps[side] = maps[side].to(draw(st.sampled_from([torch.float32, torch.float64, torch.bool, torch.complex64])))
    elif kind == "shape":
        maps[side] = draw(st.sampled_from([maps[side][None], maps[side].flatten()[:-1], maps[side][..., None]]))
    elif kind == "values":  # outside [0, num_classes): ignore_index only counts in target
        bad = draw(st.sampled_from([num_classes, -2, 1000] + ([ignore_index] if side == 0 and ignore_index else [])))
        maps[side].view(-1)[draw(st.integers(0, maps[side].numel() - 1))] = bad
    else:  # other integer dtypes, ignore_index in target
        maps[side] = maps[side].to(draw(st.sampled_from([torch.uint8, torch.int16, torch.int32])))
        if ignore_index is not None:
            maps[1].view(-1)[0] = ignore_index
        error = None
    return num_classes, ignore_index, maps[0], maps[1], name, error


@settings(max_examples=60, **SETTINGS)
@given(case=class_maps())
def test_malformed_class_maps_are_rejected_by_mean_iou_and_leave_its_counts(case):
    num_classes, ignore_index, preds, target, name, error = case
    metric = evalkit.MeanIoU(num_classes, ignore_index=ignore_index)
    metric.update(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    snapshot = _snapshot(metric)
    outcomes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in (
            lambda: metric.update(preds, target),
            lambda: fn.mean_iou(preds, target, num_classes, ignore_index=ignore_index),
        ):
            try:
                call()
                outcomes.append(None)
            except Exception as raised:  # the test judges every exception, crashes included
                outcomes.append(raised)
    for outcome in outcomes:
        if error is None:
            assert outcome is None, repr(outcome)
            continue
        assert type(outcome) is error, (repr(outcome), name)
        assert f"`{name}`" in str(outcome), (str(outcome), name)
    if error is not None:
        assert _same(_snapshot(metric), snapshot)
