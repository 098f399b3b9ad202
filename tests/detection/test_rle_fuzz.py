"""Fuzzing every entry point that takes COCO RLE with malformed RLE dicts (issue 16).

Each malformed RLE has one expected exception type (TypeError for a wrong type, ValueError for a wrong value) that
rle_area, rle_decode, rle_to_bbox, mask_iou (either side) and ``MeanAveragePrecision(iou_type="segm").update`` all
raise, with a message naming the mask (and the image); the metric's state is unchanged after the rejected update;
every example stays within a deadline and a bound on peak memory. Valid RLE still equals pycocotools.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.functional import mask_iou, rle_area, rle_decode, rle_encode, rle_to_bbox
from tests._memory import peak_rise_mib

SETTINGS = {
    "deadline": timedelta(seconds=5),  # generous for a loaded machine; a dense 40 GB attempt takes far longer
    "suppress_health_check": [HealthCheck.too_slow],
    "derandomize": True,
}
MAX_RISE_MIB = 64  # no example here needs more than a few MiB


def compress(counts: list[int]) -> bytes:
    """pycocotools' compressed string of any Python ints (no 64-bit limit, so it can write malformed values)."""
    out = []
    for i, count in enumerate(counts):
        value = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            char, value = value & 0x1F, value >> 5
            more = value != -1 if char & 0x10 else value != 0
            out.append(48 + (char | 0x20 if more else char))
    return bytes(out)


@st.composite
def valid_counts(draw: st.DrawFn, pixels: int) -> list[int]:
    """Run lengths summing to ``pixels``, zero-length runs included (pycocotools accepts them)."""
    cuts = sorted(draw(st.lists(st.integers(0, pixels), max_size=6)))
    return [b - a for a, b in itertools.pairwise([0, *cuts, pixels])]


class Case(NamedTuple):
    """A malformed RLE and the exception type every entry point must raise for it."""

    rle: Any
    error: type[Exception]


def _not_dicts(height: int, width: int) -> st.SearchStrategy[Case]:
    good = {"size": [height, width], "counts": [height * width]}
    missing = [{"counts": good["counts"]}, {"size": good["size"]}, {}, {"size": good["size"], "cnts": [1]}]
    return st.sampled_from([None, 3, 2.5, "abc", b"xy", [height, width], (4,), *missing]).map(
        lambda rle: Case(rle, TypeError)
    )


def _bad_sizes(height: int, width: int) -> st.SearchStrategy[Case]:
    nan, inf = float("nan"), float("inf")
    sizes = [[height], [height, width, 1], [-1, width], [height, -width], None, 5, "hw", [height + 0.5, width]]
    sizes += [["2", width], [True, width], [2**27, 2**27], [nan, width], [height, inf], {"h": height, "w": width}]
    return st.sampled_from(sizes).map(lambda size: Case({"size": size, "counts": [height * width]}, ValueError))


@st.composite
def _wrong_types(draw: st.DrawFn, height: int, width: int) -> Case:
    """counts of a wrong type, or a list holding something other than ints, or a float/bool tensor."""
    counts = draw(valid_counts(height * width))
    kind = draw(st.sampled_from(["counts", "element", "tensor"]))
    if kind == "counts":
        bad: Any = draw(st.sampled_from([None, 2.5, 7, {"a": 1}, {1, 2}, bytearray(b"4"), memoryview(b"4")]))
    elif kind == "element":
        position = draw(st.integers(0, len(counts)))
        wrong = draw(st.sampled_from([None, 1.0, "3", True, [1], b"1", float("nan"), np.float64(1.0)]))
        bad = [*counts[:position], wrong, *counts[position:]]
    else:
        bad = torch.tensor(counts, dtype=draw(st.sampled_from([torch.float32, torch.float64, torch.bool])))
    return Case({"size": [height, width], "counts": bad}, TypeError)


@st.composite
def _bad_values(draw: st.DrawFn, height: int, width: int) -> list[int]:
    """Run lengths that are ints but wrong: negative, huge, wrapping around 2**64 to the area, or a wrong sum."""
    pixels = height * width
    counts = draw(valid_counts(pixels))
    position = draw(st.integers(0, len(counts) - 1))
    kind = draw(st.sampled_from(["negative", "huge", "wrap", "sum"]))
    if kind == "negative":
        counts[position] = -draw(st.integers(1, 2**70))
    elif kind == "huge":
        counts[position] = draw(st.sampled_from([pixels + 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**70]))
    elif kind == "wrap":  # parts of 2**64 added to some counts: the int64 total wraps to exactly the area
        cuts = sorted(draw(st.lists(st.integers(1, 2**64 - 1), min_size=1, max_size=3, unique=True)))
        for part in (b - a for a, b in itertools.pairwise([0, *cuts, 2**64])):
            counts[draw(st.integers(0, len(counts) - 1))] += part
    else:
        counts = draw(st.lists(st.integers(0, 3 * pixels), max_size=6).filter(lambda c: sum(c) != pixels))
    return counts


@st.composite
def _bad_lists(draw: st.DrawFn, height: int, width: int) -> Case:
    counts = draw(_bad_values(height, width))
    fits = all(-(2**63) <= c < 2**63 for c in counts)
    as_tensor = fits and draw(st.booleans())
    return Case({"size": [height, width], "counts": torch.tensor(counts) if as_tensor else counts}, ValueError)


@st.composite
def _bad_strings(draw: st.DrawFn, height: int, width: int) -> Case:
    """Compressed counts that are malformed, given as str or as bytes alike (the same ValueError)."""
    valid = compress(draw(valid_counts(height * width))).decode()
    kind = draw(st.sampled_from(["values", "garbage", "non_ascii", "unterminated", "overlong"]))
    if kind == "values":
        text = compress(draw(_bad_values(height, width))).decode()
    elif kind in ("garbage", "non_ascii"):
        outside = "".join(map(chr, [*range(32, 48), *range(112, 127)]))
        alphabet = (
            st.sampled_from(outside)
            if kind == "garbage"
            else st.characters(min_codepoint=128, exclude_categories=["Cs"])
        )
        position = draw(st.integers(0, len(valid)))
        text = valid[:position] + draw(alphabet) + valid[position:]
    elif kind == "unterminated":  # ends inside a value (0x20 set on the last character)
        text = valid + draw(st.sampled_from("PQo`"))
    else:  # a value spread over 12 or more characters: pycocotools' 64-bit decoder would shift bits out
        text = "P" * draw(st.integers(11, 20)) + valid
    counts = text.encode() if draw(st.booleans()) else text
    return Case({"size": [height, width], "counts": counts}, ValueError)


def malformed(height: int, width: int) -> st.SearchStrategy[Case]:
    """Every kind of malformed RLE for masks of height x width."""
    return st.one_of(
        _not_dicts(height, width),
        _bad_sizes(height, width),
        _wrong_types(height, width),
        _bad_lists(height, width),
        _bad_strings(height, width),
    )


def _image(masks: list, scores: bool) -> dict:
    item = {"masks": masks, "labels": torch.zeros(len(masks), dtype=torch.long)}
    return {**item, "scores": torch.linspace(1, 0.5, len(masks))} if scores else item


def _state(metric: MeanAveragePrecision) -> dict[str, list[torch.Tensor]]:
    return {k: [t.clone() for t in v] if isinstance(v, list) else [v.clone()] for k, v in metric.metric_state.items()}


def _assert_same_state(before: dict[str, list[torch.Tensor]], metric: MeanAveragePrecision) -> None:
    after = _state(metric)
    assert before.keys() == after.keys()
    for key in before:
        assert len(before[key]) == len(after[key]) and all(map(torch.equal, before[key], after[key])), key


def _raises(call: Any, error: type[Exception], names: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert names in str(info.value), str(info.value)


def _metric_update_fails(data: st.DataObject, rles: list, good: list, case: Case, index: int) -> None:
    """One batch holding ``rles`` in one image of one side: rejected, naming mask and image; state unchanged."""
    metric = MeanAveragePrecision(iou_type="segm")
    metric.update([_image(good, True)], [_image(good, False)])
    before = _state(metric)
    num_images = data.draw(st.integers(1, 3))
    image, side = data.draw(st.integers(0, num_images - 1)), data.draw(st.sampled_from(["preds", "target"]))
    preds = [_image(good * data.draw(st.integers(0, 2)), True) for _ in range(num_images)]
    target = [_image(good * data.draw(st.integers(0, 2)), False) for _ in range(num_images)]
    chosen = (preds if side == "preds" else target)[image]
    chosen.update(_image(rles, side == "preds"))
    _raises(lambda: metric.update(preds, target), case.error, f"mask {index} of image {image} in `{side}`")
    _assert_same_state(before, metric)


@settings(max_examples=250, **SETTINGS)
@given(data=st.data())
def test_every_entry_point_refuses_a_malformed_rle_alike(data):
    height, width = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    case = data.draw(malformed(height, width))
    good = [{"size": [height, width], "counts": data.draw(valid_counts(height * width))}]
    before, after = good * data.draw(st.integers(0, 2)), good * data.draw(st.integers(0, 2))
    rles, index = [*before, case.rle, *after], len(before)
    dense = torch.ones(2, height, width, dtype=torch.bool)
    calls = {
        "in `rles`": [lambda: rle_area(rles), lambda: rle_decode(rles), lambda: rle_to_bbox(rles)],
        "in `masks_a`": [lambda: mask_iou(rles, dense), lambda: mask_iou(rles, good)],
        "in `masks_b`": [lambda: mask_iou(dense, rles), lambda: mask_iou(good, rles)],
    }

    def run_all() -> None:
        for where, functions in calls.items():
            for call in functions:
                _raises(call, case.error, f"mask {index} {where}")
        _metric_update_fails(data, rles, good, case, index)

    assert peak_rise_mib(run_all) < MAX_RISE_MIB


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_rles_of_different_sizes_are_refused_where_one_size_is_needed(data):
    height, width = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    other = data.draw(st.tuples(st.integers(0, 7), st.integers(0, 7)).filter(lambda s: s != (height, width)))
    first = {"size": [height, width], "counts": data.draw(valid_counts(height * width))}
    second = {"size": list(other), "counts": data.draw(valid_counts(other[0] * other[1]))}
    _raises(lambda: rle_decode([first, second]), ValueError, "in `rles` to have the same size")
    _raises(lambda: mask_iou([first], [second]), ValueError, "Expected `masks_a` and `masks_b` to have the same")
    _raises(lambda: mask_iou([first, second], [first]), ValueError, "in `masks_a` to have the same size")
    assert rle_area([first, second]).tolist() == [sum(r["counts"][1::2]) for r in (first, second)]
    metric = MeanAveragePrecision(iou_type="segm")
    metric.update([_image([first], True)], [_image([first], False)])
    before = _state(metric)
    for preds, target in (([first], [second]), ([first, second], [first])):
        _raises(lambda: metric.update([_image(preds, True)], [_image(target, False)]), ValueError, "image 0 in")  # noqa: B023
        _assert_same_state(before, metric)


@settings(max_examples=40, **SETTINGS)
@given(
    height=st.integers(2**16, 2**26),
    width=st.integers(2**16, 2**26),
    fraction=st.lists(st.floats(0, 1), max_size=4),
    num=st.integers(1, 3),
)
def test_a_huge_declared_size_is_refused_by_decode_and_never_densified_elsewhere(height, width, fraction, num):
    pixels = height * width
    cuts = sorted({int(f * pixels) for f in fraction})
    rles = [{"size": [height, width], "counts": [b - a for a, b in itertools.pairwise([0, *cuts, pixels])]}] * num
    area = sum(rles[0]["counts"][1::2])
    out: dict[str, Any] = {}

    def run_all() -> None:
        _raises(lambda: rle_decode(rles), ValueError, "at most `max_pixels` = 2147483648 pixels")
        out["area"], out["boxes"], out["iou"] = rle_area(rles), rle_to_bbox(rles), mask_iou(rles, rles)
        metric = MeanAveragePrecision(iou_type="segm")
        metric.update([_image(rles, True)], [_image(rles, False)])

    assert peak_rise_mib(run_all) < MAX_RISE_MIB
    assert out["area"].tolist() == [area] * num
    assert bool((out["iou"] == (1.0 if area else 0.0)).all())


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_valid_rles_in_every_form_equal_pycocotools(data):
    height, width = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    counts = data.draw(valid_counts(height * width))
    reference = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    assert compress(counts) == reference["counts"]  # the test's encoder writes what pycocotools writes
    form = data.draw(st.sampled_from(["list", "tuple", "tensor", "str", "bytes"]))
    given_counts = {
        "list": counts,
        "tuple": tuple(counts),
        "tensor": torch.tensor(counts, dtype=torch.int32),
        "str": reference["counts"].decode(),
        "bytes": reference["counts"],
    }[form]
    rles = [{"size": [height, width], "counts": given_counts}]
    expected = torch.from_numpy(mask_utils.decode(reference)).bool()
    decoded = rle_decode(rles)
    assert torch.equal(decoded[0], expected)
    assert rle_area(rles).tolist() == [int(mask_utils.area(reference))]
    encoded = mask_utils.encode(np.asfortranarray(expected.numpy().astype(np.uint8)))
    # the box of the mask: pycocotools' toBbox of the given counts counts a zero-length run of 1s as a pixel
    np.testing.assert_array_equal(rle_to_bbox(rles)[0].numpy(), mask_utils.toBbox(encoded))
    assert rle_encode(decoded)[0]["counts"] == encoded["counts"]
    assert torch.equal(rle_decode(rle_encode(decoded)), decoded)
