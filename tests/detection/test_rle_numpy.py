"""The numpy RLE decoder (detection/rle_numpy.py) gives exactly the reference torch path's indexed runs, and
declines (None) whatever it does not take, so that the reference decodes it or names the bad mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from lightning_evalkit.detection.masks import run_masks
from lightning_evalkit.detection.rle import check_rles, runs_from_rles
from lightning_evalkit.detection.rle_numpy import decode_run_arrays


def _reference(images):
    return run_masks(runs_from_rles(images))


def _assert_same(images):
    fast = decode_run_arrays(images)
    assert fast is not None
    ref = _reference(images)
    pairs = [
        (fast.heights, ref.runs.heights),
        (fast.widths, ref.runs.widths),
        (fast.mask, ref.runs.mask),
        (fast.start, ref.runs.start),
        (fast.end, ref.runs.end),
        (fast.base, ref.base),
        (fast.global_start, ref.starts),
        (fast.coverage_before, ref.coverage_before),
        (fast.boxes, ref.boxes),
        (fast.areas, ref.areas),
    ]
    for got, expected in pairs:
        assert torch.equal(torch.from_numpy(got), expected)


def _images(seed: int, sizes: list[tuple[int, int, int]], density: float, as_str: bool) -> list:
    rng = np.random.default_rng(seed)
    images = []
    for count, height, width in sizes:
        masks = rng.random((height, width, count)) < density
        if count:  # some rectangles (long runs, multi-character values) and an empty and a full mask
            masks[: height // 2, : width // 3, 0] = True
            if count > 2:
                masks[..., 1], masks[..., 2] = False, True
        rles = mask_utils.encode(np.asfortranarray(masks.astype(np.uint8)))
        if as_str:
            rles = [{"size": r["size"], "counts": r["counts"].decode()} for r in rles]
        images.append(check_rles(rles))
    return images


@settings(deadline=None, max_examples=40)
@given(
    seed=st.integers(0, 2**31 - 1),
    sizes=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=4),
    density=st.sampled_from([0.02, 0.3, 0.5, 0.97]),
    as_str=st.booleans(),
)
def test_numpy_decoder_equals_reference(seed, sizes, density, as_str):
    images = _images(seed, sizes, density, as_str)
    if not any(image.counts for image in images):
        assert decode_run_arrays(images) is None
        return
    _assert_same(images)


def test_large_masks_with_long_values():
    _assert_same(_images(0, [(4, 600, 900), (3, 2000, 3)], 0.001, False))


@pytest.mark.parametrize(
    "counts",
    [
        [1, 2, 3],  # uncompressed: the reference's
        "",  # empty string
        "0 ",  # a character below '0'
        "p",  # a character above 'o'
        "1`",  # ends inside a value
        "``````````````0",  # a value of 15 characters
        "3",  # sums to 3, not 4
        "5",  # sums past the pixels
        "02O",  # a negative count (-1)
    ],
)
def test_numpy_decoder_declines_what_it_does_not_take(counts):
    image = check_rles([{"size": [2, 2], "counts": counts}])
    assert decode_run_arrays([image]) is None
