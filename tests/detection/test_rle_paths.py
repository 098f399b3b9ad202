"""Both CPU paths of RLE masks, the compiled one (detection/rle_numba.py, where numba is installed) and the
vectorised fallback (rle_numpy.py decoding, searchsorted intersections), against pycocotools: mask IoU on runs
(crowd IoU, empty and full masks, masks touching the edges, odd sizes), the decoded runs, and segm mAP."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from lightning_evalkit.detection import masks as masks_module
from lightning_evalkit.detection.masks import run_masks
from lightning_evalkit.detection.rle import check_rles, runs_from_rles
from lightning_evalkit.detection.rle_numpy import decode_packed, decode_run_arrays
from lightning_evalkit.functional import mask_iou, mean_average_precision
from tests._coco_reference import pycocotools_eval
from tests._detection_data import random_masks

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture], "derandomize": True}


@pytest.fixture(params=["compiled", "numpy"])
def kernels(request, monkeypatch):
    """The kernels module the masks code uses (None on the numpy path), set for the test's duration."""
    if request.param == "numpy":
        monkeypatch.setattr(masks_module, "compiled_kernels", lambda: None)
        return None
    compiled = masks_module.compiled_kernels()
    if compiled is None:
        pytest.skip("numba is not installed (or LIGHTNING_EVALKIT_NUMBA=0): only the numpy path runs")
    return compiled


def _encode(masks: np.ndarray) -> list[dict]:
    """pycocotools RLEs of (N, H, W) masks."""
    if masks.shape[0] == 0:
        return []
    return mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))


def _masks(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """Rectangles of random density, a third of them pushed against an edge, with an empty and a full mask."""
    out = np.zeros((count, height, width), dtype=bool)
    for i in range(count):
        y0, x0 = int(rng.integers(0, height)), int(rng.integers(0, width))
        y1, x1 = int(rng.integers(y0, height + 1)), int(rng.integers(x0, width + 1))
        if rng.random() < 0.33:  # touching the edges: the first/last row or column, runs across columns
            y0, x1 = 0, width
        out[i, y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < rng.choice([0.1, 0.6, 1.0])
    kind = rng.integers(0, 4)
    if count and kind == 0:
        out[0] = False
    elif count and kind == 1:
        out[-1] = True
    return out


@settings(max_examples=40, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    counts=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    height=st.sampled_from([1, 2, 7, 13, 31]),
    width=st.sampled_from([1, 3, 8, 17, 29]),
)
def test_mask_iou_on_runs_equals_pycocotools(kernels, seed, counts, height, width):
    rng = np.random.default_rng(seed)
    rle_a = _encode(_masks(rng, counts[0], height, width))
    rle_b = _encode(_masks(rng, counts[1], height, width))
    crowd = rng.random(counts[1]) < 0.4
    expected = np.asarray(mask_utils.iou(rle_a, rle_b, crowd.astype(np.uint8).tolist())).reshape(counts)
    ours = mask_iou(rle_a, rle_b, torch.from_numpy(crowd))
    np.testing.assert_array_equal(ours.numpy(), expected)


def test_mask_iou_of_empty_and_single_pixel_masks(kernels):
    masks = np.zeros((4, 5, 3), dtype=bool)
    masks[1, 0, 0] = masks[2, 4, 2] = True  # the first and the last pixel
    masks[3] = True
    rles = _encode(masks)
    for crowd in ([0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1]):
        expected = np.asarray(mask_utils.iou(rles, rles, crowd))
        np.testing.assert_array_equal(mask_iou(rles, rles, torch.tensor(crowd).bool()).numpy(), expected)


def _reference_runs(images):
    return run_masks(runs_from_rles(images))


def _decode(images, kernels):
    """The path's decoded masks as (offsets, start, end, boxes, areas) tensors; None where it declines."""
    if kernels is None:
        arrays = decode_run_arrays(images)
        if arrays is None:
            return None
        offsets = np.searchsorted(arrays.mask, np.arange(arrays.heights.size + 1))
        fields = (offsets, arrays.start, arrays.end, arrays.boxes, arrays.areas)
    else:
        packed = decode_packed(images, kernels)
        if packed is None:
            return None
        fields = tuple(packed)
    return [torch.from_numpy(np.ascontiguousarray(f)).long() for f in fields]


def _expected(images):
    ref = _reference_runs(images)
    offsets = torch.searchsorted(ref.runs.mask, torch.arange(ref.base.numel() + 1))
    return [offsets, ref.runs.start, ref.runs.end, ref.boxes, ref.areas]


@settings(max_examples=30, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    sizes=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=4),
    as_str=st.booleans(),
)
def test_decoded_runs_equal_the_reference(kernels, seed, sizes, as_str):
    rng = np.random.default_rng(seed)
    images = []
    for count, height, width in sizes:
        rles = _encode(_masks(rng, count, height, width))
        if as_str:
            rles = [{"size": r["size"], "counts": r["counts"].decode()} for r in rles]
        images.append(check_rles(rles))
    got = _decode(images, kernels)
    if not any(image.counts for image in images):
        assert got is None
        return
    assert got is not None
    for name, value, want in zip(("offsets", "start", "end", "boxes", "areas"), got, _expected(images), strict=True):
        assert torch.equal(value, want), name


def test_long_values_and_large_masks(kernels):
    rng = np.random.default_rng(1)
    sparse = rng.random((3, 700, 900)) < 0.0005  # counts of many characters
    images = [check_rles(_encode(sparse)), check_rles(_encode(np.ones((2, 2000, 3), dtype=bool)))]
    got = _decode(images, kernels)
    assert got is not None
    for value, want in zip(got, _expected(images), strict=True):
        assert torch.equal(value, want)


@pytest.mark.parametrize(
    "counts",
    [
        "",  # empty string
        "0 ",  # a character below '0'
        "p",  # a character above 'o'
        "1`",  # ends inside a value
        "````````````0",  # a value of 13 characters
        "3",  # sums to 3, not 4
        "5",  # sums past the pixels
        "02O",  # a negative count (-1)
        "0a2",  # a count past the pixels left
    ],
)
def test_malformed_strings_are_declined_and_the_reference_names_them(kernels, counts):
    image = check_rles([{"size": [2, 2], "counts": counts}])
    assert _decode([image], kernels) is None
    preds = [{"masks": [{"size": [2, 2], "counts": "04"}], "scores": torch.ones(1), "labels": torch.zeros(1).long()}]
    target = [{"masks": [{"size": [2, 2], "counts": counts}], "labels": torch.zeros(1).long()}]
    with pytest.raises((TypeError, ValueError), match="mask 0 of image 0 in `target`"):
        mean_average_precision(preds, target, iou_type="segm")


def _as_rle(items: list[dict]) -> list[dict]:
    return [{**item, "masks": _encode(item["masks"].numpy())} for item in items]


@pytest.mark.filterwarnings("ignore:No ground truth was counted")
@settings(max_examples=15, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_images=st.integers(1, 6),
    size=st.sampled_from([(11, 13), (2, 9), (9, 2), (17, 5)]),
)
def test_segm_map_on_rle_equals_pycocotools(kernels, seed, num_images, size):
    preds, target = random_masks(seed, num_images, size=size)  # 20% crowd ground truths
    ours = mean_average_precision(_as_rle(preds), _as_rle(target), iou_type="segm", extended_summary=True)
    reference = pycocotools_eval(preds, target, iou_type="segm")
    for key in ("precision", "recall", "scores"):
        np.testing.assert_allclose(ours[key].numpy(), reference[key], rtol=0, atol=1e-12, err_msg=key)


def _uncompressed(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE (as crowd annotations hold it): run lengths of the column-major pixels, 0s first."""
    counts, current, run = [], False, 0
    for value in mask.T.reshape(-1).tolist():
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    return {"size": list(mask.shape), "counts": [*counts, run]}


@pytest.mark.filterwarnings("ignore:No ground truth was counted")
@settings(max_examples=10, **SETTINGS)
@given(seed=st.integers(0, 2**31 - 1), num_images=st.integers(1, 5))
def test_segm_map_with_uncompressed_crowd_rles_equals_pycocotools(kernels, seed, num_images):
    """Crowd ground truths as uncompressed counts, the rest compressed: one side packed, the other not."""
    preds, target = random_masks(seed, num_images, size=(12, 9))
    target_rle = []
    for item in target:
        crowd = item["iscrowd"].tolist()
        dense = item["masks"].numpy()
        compressed = _encode(dense)
        rles = [_uncompressed(m) if c else r for m, c, r in zip(dense, crowd, compressed, strict=True)]
        for rle, mask in zip(rles, dense, strict=True):  # the helper writes what pycocotools decodes
            if isinstance(rle["counts"], list):
                assert np.array_equal(mask_utils.decode(mask_utils.frPyObjects(rle, *rle["size"])), mask)
        target_rle.append({**item, "masks": rles})
    ours = mean_average_precision(_as_rle(preds), target_rle, iou_type="segm", extended_summary=True)
    reference = pycocotools_eval(preds, target, iou_type="segm")
    for key in ("precision", "recall", "scores"):
        np.testing.assert_allclose(ours[key].numpy(), reference[key], rtol=0, atol=1e-12, err_msg=key)


@pytest.mark.parametrize(
    "sizes", [([0, 3], [False, 3]), ([4, 1], [4, True]), ([1, 1], [True, True]), ([5, 2], [5.0, 2], [True, 2])]
)
def test_a_bool_size_is_refused_wherever_it_hides(sizes):
    """The fast size check reads only the distinct sizes, unless a 0 or 1 is among them (a bool equals those)."""
    rles = [{"size": size, "counts": [size[0] * size[1]]} for size in sizes]
    with pytest.raises(ValueError, match=r"Expected `size` of mask \d"):
        check_rles(rles)


def test_the_compiled_path_is_off_without_numba_or_when_switched_off(monkeypatch):
    from lightning_evalkit._core.compiled import compiled_module

    compiled = masks_module.compiled_kernels
    try:
        monkeypatch.setenv("LIGHTNING_EVALKIT_NUMBA", "0")
        compiled_module.cache_clear()
        assert compiled() is None
        monkeypatch.delenv("LIGHTNING_EVALKIT_NUMBA")
        monkeypatch.setitem(sys.modules, "numba", None)  # as if numba were not installed: its import fails
        monkeypatch.delitem(sys.modules, "lightning_evalkit.detection.rle_numba", raising=False)
        monkeypatch.delattr(sys.modules["lightning_evalkit.detection"], "rle_numba", raising=False)
        compiled_module.cache_clear()
        assert compiled() is None
        rles = _encode(np.ones((2, 3, 4), dtype=bool))
        np.testing.assert_array_equal(mask_iou(rles, rles).numpy(), np.ones((2, 2)))
    finally:
        compiled_module.cache_clear()
