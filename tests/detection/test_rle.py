"""Our COCO RLE codec (functional/rle.py) against pycocotools' mask API on random masks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from lightning_evalkit.functional import rle_area, rle_decode, rle_encode, rle_to_bbox

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}


def _reference_encode(masks: torch.Tensor) -> list[dict]:
    if masks.shape[0] == 0:
        return []
    return mask_utils.encode(np.asfortranarray(masks.permute(1, 2, 0).numpy().astype(np.uint8)))


@st.composite
def mask_stacks(draw: st.DrawFn) -> torch.Tensor:
    """(N, H, W) bool masks of odd and even sizes: random density, plus empty, full and one-pixel masks."""
    num, height, width = draw(st.integers(0, 4)), draw(st.integers(1, 19)), draw(st.integers(1, 19))
    seed, density = draw(st.integers(0, 2**31 - 1)), draw(st.sampled_from([0.0, 0.05, 0.5, 0.95, 1.0]))
    gen = torch.Generator().manual_seed(seed)
    masks = torch.rand(num, height, width, generator=gen) < density
    for i in range(num):
        kind = draw(st.sampled_from(["random", "empty", "full", "pixel"]))
        if kind != "random":
            masks[i] = kind == "full"
        if kind == "pixel":
            masks[i, draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))] = True
    return masks


@settings(max_examples=150, **SETTINGS)
@given(masks=mask_stacks())
def test_encode_is_byte_identical_to_pycocotools(masks):
    ours, reference = rle_encode(masks), _reference_encode(masks)
    assert [r["counts"] for r in ours] == [r["counts"] for r in reference]
    assert [list(r["size"]) for r in ours] == [list(r["size"]) for r in reference]


@settings(max_examples=150, **SETTINGS)
@given(masks=mask_stacks())
def test_decode_area_and_bbox_equal_pycocotools(masks):
    reference = _reference_encode(masks)
    if not reference:
        return
    as_json = [{"size": r["size"], "counts": r["counts"].decode("ascii")} for r in reference]
    for rles in (reference, as_json):
        decoded = rle_decode(rles)
        assert decoded.dtype == torch.bool and torch.equal(decoded, masks)
        assert torch.equal(decoded, torch.from_numpy(mask_utils.decode(reference)).permute(2, 0, 1).bool())
        np.testing.assert_array_equal(rle_area(rles).numpy(), mask_utils.area(reference))
        np.testing.assert_array_equal(rle_to_bbox(rles).numpy(), mask_utils.toBbox(reference))


@settings(max_examples=80, **SETTINGS)
@given(
    height=st.integers(1, 15),
    width=st.integers(1, 15),
    seed=st.integers(0, 2**31 - 1),
    leading_zero=st.booleans(),
)
def test_uncompressed_counts_decode_as_pycocotools_reads_them(height, width, seed, leading_zero):
    gen = torch.Generator().manual_seed(seed)
    cuts = torch.randint(0, height * width + 1, (int(torch.randint(0, 8, (1,), generator=gen)),), generator=gen)
    bounds = [0, *sorted(set(cuts.tolist()) - {0, height * width}), height * width]
    counts = [b - a for a, b in itertools.pairwise(bounds)]
    counts = [0, *counts] if leading_zero else counts
    rle = {"size": [height, width], "counts": counts}
    reference = mask_utils.frPyObjects(rle, height, width)
    expected = torch.from_numpy(mask_utils.decode(reference)).bool()
    assert torch.equal(rle_decode([rle])[0], expected)
    assert int(rle_area([rle])[0]) == int(mask_utils.area(reference))
    assert rle_encode(expected[None])[0]["counts"] == reference["counts"]


def test_large_mask_round_trip_matches_pycocotools():
    gen = torch.Generator().manual_seed(0)
    masks = torch.zeros(3, 427, 640, dtype=torch.bool)
    masks[0, 100:300, 50:600] = True
    masks[1] = torch.rand(427, 640, generator=gen) < 0.3
    reference = _reference_encode(masks)
    assert [r["counts"] for r in rle_encode(masks)] == [r["counts"] for r in reference]
    assert torch.equal(rle_decode(reference), masks)


@pytest.mark.parametrize(
    ("rles", "error", "match"),
    [
        ([{"counts": b"3"}], TypeError, "keys 'size' and 'counts'"),
        (["abc"], TypeError, "to be a dict"),
        ([{"size": [2, -1], "counts": [0]}], ValueError, "ints >= 0"),
        ([{"size": [2, 2], "counts": 3.0}], TypeError, "str, bytes or list of ints"),
        ([{"size": [2, 2], "counts": [1, 2]}], ValueError, "sum to height \\* width = 4"),
        ([{"size": [2, 2], "counts": [5, -1]}], ValueError, "non-negative"),
        ([{"size": [2, 2], "counts": "0"}], ValueError, "sum to height \\* width = 4"),
        ([{"size": [2, 2], "counts": "4\x7f"}], ValueError, "compressed RLE counts"),
        ([{"size": [2, 2], "counts": "4a"}], ValueError, "compressed RLE counts"),
    ],
)
def test_bad_rles_raise_clear_errors(rles, error, match):
    with pytest.raises(error, match=match):
        rle_decode(rles)


def test_decode_needs_one_size():
    rles = [{"size": [2, 2], "counts": [4]}, {"size": [2, 3], "counts": [6]}]
    with pytest.raises(ValueError, match="the same size"):
        rle_decode(rles)
