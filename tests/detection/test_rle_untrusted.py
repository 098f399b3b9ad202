"""RLE from untrusted sources (issue 16): each reproducer of a malformed or oversized RLE, as a plain test.

Counts that overflow int64 must not wrap around to height * width, garbage must not raise a bare
UnicodeEncodeError / TypeError / OverflowError, every message names the mask (and the image), and decoding must not
allocate more than about twice its output, nor start at all on a declared size beyond ``max_pixels``.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.detection.rle import MAX_DECODE_PIXELS
from lightning_evalkit.functional import mask_iou, rle_area, rle_decode, rle_encode, rle_to_bbox
from tests._memory import can_reset_peak, peak_rise_mib

GOOD = {"size": [2, 2], "counts": [1, 2, 1]}
# int64 wrap-arounds: each sums to 4 modulo 2**64
WRAPS_TO_AREA = [
    [2**63 - 1, 2**63 - 1, 6],  # the first run alone is 2**63 - 1 pixels of a 2 x 2 mask
    [0, 2**62, 2**62, 2**62, 2**62 + 4],  # the foreground totals 2**63: rle_area was -2**63
    [4, 2**64],
]
FUNCTIONS = [rle_area, rle_decode, rle_to_bbox, lambda rles: mask_iou(rles, [GOOD])]


def _with_bad_third(counts: object) -> list[dict]:
    return [GOOD, GOOD, {"size": [2, 2], "counts": counts}]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("counts", WRAPS_TO_AREA)
def test_counts_wrapping_around_int64_to_the_area_are_refused(function, counts):
    with pytest.raises(ValueError, match=r"`counts` of mask 2 in `(rles|masks_a)` to be non-negative and sum to"):
        function(_with_bad_third(counts))


@pytest.mark.parametrize("counts", WRAPS_TO_AREA[:2])
def test_int64_tensor_counts_wrapping_around_are_refused(counts):
    with pytest.raises(ValueError, match="`counts` of mask 0 in `rles`"):
        rle_area([{"size": [2, 2], "counts": torch.tensor(counts)}])


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("counts", ["é4", "4\u2603", b"\xc3\xa9"])
def test_non_ascii_compressed_counts_name_the_mask(function, counts):
    with pytest.raises(ValueError, match=r"`counts` of mask 2 in `(rles|masks_a)` to be compressed RLE counts"):
        function(_with_bad_third(counts))


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("counts", [[1, None, 3], None, [1.0, 2, 1], [True, 3]])
def test_none_and_other_non_ints_in_counts_name_the_mask(function, counts):
    with pytest.raises(TypeError, match=r"`counts` of mask 2 in `(rles|masks_a)` to be a str, bytes or list of ints"):
        function(_with_bad_third(counts))


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("counts", [[2**70], [1, 2**70, 3], [2**63], [-(2**70), 4]])
def test_counts_beyond_int64_give_a_value_error_naming_the_mask(function, counts):
    with pytest.raises(ValueError, match=r"`counts` of mask 2 in `(rles|masks_a)` to be non-negative"):
        function(_with_bad_third(counts))


def test_an_overlong_compressed_value_is_refused_before_it_can_overflow():
    # 13 characters hold 65 bits: pycocotools' own decoder shifts them out of a 64-bit long
    overlong = "P" * 12 + "4"  # 4 with 12 leading continuation characters of zero bits
    with pytest.raises(ValueError, match="at most 11 characters"):
        rle_area([{"size": [2, 2], "counts": overlong}])


def test_a_declared_size_beyond_2_53_pixels_is_refused():
    with pytest.raises(ValueError, match=r"`size` of mask 0 in `rles` .* height \* width <= 2\*\*53"):
        rle_area([{"size": [2**27, 2**27], "counts": [2**54]}])
    assert rle_area([{"size": [2**26, 2**27], "counts": [2**52, 2**52]}]).tolist() == [2**52]


def test_a_bool_in_size_is_refused_even_beside_the_equal_int_size():
    # {(1, 1), (True, 1)} is one element: the size check must look at each size before merging equal ones
    rles = [{"size": [1, 1], "counts": [0, 1]}, {"size": [True, 1], "counts": [0, 1]}]
    for function in FUNCTIONS:
        with pytest.raises(ValueError, match=r"`size` of mask 1 in `(rles|masks_a)` to be \[height, width\] of"):
            function(rles)
    preds = [{"masks": rles, "labels": torch.zeros(2, dtype=torch.long), "scores": torch.ones(2)}]
    target = [{"masks": rles[:1], "labels": torch.zeros(1, dtype=torch.long)}]
    with pytest.raises(ValueError, match=r"`size` of mask 1 of image 0 in `preds` to be \[height, width\] of"):
        MeanAveragePrecision(iou_type="segm").update(preds, target)


@pytest.mark.parametrize("side", ["preds", "target"])
@pytest.mark.parametrize("counts", [WRAPS_TO_AREA[1], "é4", [1, None, 3], [2**70]])
def test_mean_ap_names_mask_and_image_and_keeps_its_state(side, counts):
    def image(masks: list[dict]) -> dict:
        return {"masks": masks, "labels": torch.zeros(len(masks), dtype=torch.long), "scores": torch.ones(len(masks))}

    metric = MeanAveragePrecision(iou_type="segm")
    metric.update([image([GOOD])], [image([GOOD])])
    before = copy.deepcopy(metric.metric_state)
    preds, target = [image([GOOD]), image([GOOD] * 3)], [image([GOOD]), image([GOOD] * 3)]
    (preds if side == "preds" else target)[1]["masks"][2] = {"size": [2, 2], "counts": counts}
    error = TypeError if counts == [1, None, 3] else ValueError
    with pytest.raises(error, match=f"`counts` of mask 2 of image 1 in `{side}` to be"):
        metric.update(preds, target)
    after = metric.metric_state
    for key, value in before.items():
        pairs = zip(value, after[key], strict=True) if isinstance(value, list) else [(value, after[key])]
        assert all(torch.equal(x, y) for x, y in pairs), key


def test_rles_must_be_a_list():
    with pytest.raises(TypeError, match="Expected `rles` to be a list of COCO RLE dicts, but got dict"):
        rle_area(GOOD)
    with pytest.raises(TypeError, match="Expected `masks_b` to be a tensor"):
        mask_iou([GOOD], GOOD)


def test_mask_iou_needs_one_size_on_both_sides():
    with pytest.raises(ValueError, match=r"same \(H, W\), but got \(2, 2\) and \(3, 3\)"):
        mask_iou([GOOD], [{"size": [3, 3], "counts": [9]}])
    with pytest.raises(ValueError, match=r"same \(H, W\)"):
        mask_iou(torch.ones(1, 2, 2, dtype=torch.bool), torch.ones(1, 3, 3, dtype=torch.bool))


def test_a_huge_declared_mask_is_refused_before_any_allocation():
    huge = [{"size": [100_000, 100_000], "counts": [5, 1, 100_000**2 - 6]}]
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"at most `max_pixels` = 2147483648 pixels, but got 1 x 100000 x 100000"):
        rle_decode(huge)
    assert time.perf_counter() - started < 1.0
    assert rle_area(huge).tolist() == [1]  # runs only: nothing dense
    assert rle_to_bbox(huge).tolist() == [[0.0, 5.0, 1.0, 1.0]]
    assert mask_iou(huge, huge).tolist() == [[1.0]]


def test_max_pixels_is_the_callers_to_raise():
    rles = [{"size": [3, 4], "counts": [5, 1, 6]}] * 2
    assert MAX_DECODE_PIXELS == 2**31
    with pytest.raises(ValueError, match="`max_pixels` = 23 pixels, but got 2 x 3 x 4 = 24"):
        rle_decode(rles, max_pixels=23)
    assert rle_decode(rles, max_pixels=24).sum().item() == 2
    assert rle_decode(rles, max_pixels=None).sum().item() == 2
    with pytest.raises(ValueError, match="`max_pixels` to be an int >= 0 or None"):
        rle_decode(rles, max_pixels=-1)


@pytest.mark.skipif(not can_reset_peak(), reason="needs a resettable resident high-water mark (Linux)")
def test_decoding_a_6000x6000_one_pixel_mask_peaks_below_three_outputs():
    rle = [{"size": [6000, 6000], "counts": [5, 1, 6000 * 6000 - 6]}]
    rle_decode([{"size": [4, 4], "counts": [5, 1, 10]}])  # warm up torch's kernels
    out: list[torch.Tensor] = []
    rise = peak_rise_mib(lambda: out.append(rle_decode(rle)))
    output_mib = out[0].numel() / 2**20
    assert out[0].sum().item() == 1 and bool(out[0][0, 5, 0])
    assert rise < 3 * output_mib, f"decoding {output_mib:.0f} MiB raised the peak by {rise:.0f} MiB"


@pytest.mark.skipif(not can_reset_peak(), reason="needs a resettable resident high-water mark (Linux)")
def test_decoding_many_masks_needs_little_beyond_the_output():
    masks = torch.zeros(256, 512, 512, dtype=torch.bool)
    masks[:, 100:200, 50:60] = True
    rles = rle_encode(masks)
    out: list[torch.Tensor] = []
    rise = peak_rise_mib(lambda: out.append(rle_decode(rles)))
    assert torch.equal(out[0], masks)
    # the bar: no intermediate copy larger than the output, so at most twice the output (the old code
    # rose by 20x); a tighter bound failed under a busy test worker, whose allocator holds freed pages
    assert rise < 2 * masks.numel() / 2**20, f"decoding 64 MiB raised the peak by {rise:.0f} MiB"


def test_decode_paints_touching_runs_and_masks_as_pycocotools():
    counts = [0, 2, 0, 3, 1, 0, 2, 4]  # zero-length runs between touching runs, ending on a zero run
    rles = [{"size": [3, 4], "counts": counts}, {"size": [3, 4], "counts": [0, 12]}, {"size": [3, 4], "counts": [12]}]
    expected = np.stack([mask_utils.decode(mask_utils.frPyObjects(r, 3, 4)) for r in rles])
    assert torch.equal(rle_decode(rles), torch.from_numpy(expected).bool())
