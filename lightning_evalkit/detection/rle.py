"""COCO run-length encoding (RLE) of binary masks, written in torch (no pycocotools at runtime).

An RLE is ``{"size": [h, w], "counts": ...}``: the lengths of alternating runs of 0s and 1s (starting with 0s)
of the mask read in column-major order. ``counts`` is either that list of ints ("uncompressed", as COCO
crowd annotations hold it) or pycocotools' compressed string: each count, after the third minus the count two
places before it, written 5 bits per character (low bits first, 0x20 = more characters follow, the last
character's 0x10 bit is the sign), offset by 48. Encoding and decoding are vectorised over every mask at once:
a batch of strings is one byte tensor, never a Python loop over characters.

Internally masks travel as *runs of foreground*: ``(start, end)`` pixel positions in column-major order.

RLE is often untrusted input (JSON files, other tools), so every count is checked before it is used: it must be an
int (or a compressed value of at most 11 characters), non-negative, at most ``height * width``, and the counts of
a mask must sum to exactly ``height * width``. The checks cannot overflow: a mask holds at most ``2**53`` pixels
(``_MAX_AREA``, so pixel counts also stay exact in float64), hence every valid count and every running total
before the first bad one fits easily in int64. A failure names the mask and where it came from ("mask 2 of image 3
in `target`"): TypeError for a wrong type, ValueError for a wrong value, the same for every entry point.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from lightning_evalkit.detection.rle_checks import _TYPE_EXPECTATION, RleImage, _mask_name, check_rles

__all__ = ["MAX_DECODE_PIXELS", "rle_area", "rle_decode", "rle_encode", "rle_to_bbox"]

MAX_DECODE_PIXELS = 2**31
"""Default ``max_pixels`` of :func:`rle_decode`: at most 2**31 pixels (N * height * width, 2 GiB of bool output)
per call. Decoding needs the output plus a scratch buffer of one mask or 16 MiB, whichever is larger."""

_MAX_CHARS = 13  # a 64-bit count needs at most ceil(64 / 5) characters
_MAX_VALUE_CHARS = 11  # a compressed value of magnitude <= 2**53 needs at most ceil(55 / 5) characters
_DECODE_CHUNK = 2**24  # pixels rle_decode paints at a time (at least one mask): its scratch buffer
_STRING_EXPECTATION = "be compressed RLE counts (ASCII '0' to 'o', at most 11 characters a value)"


class Runs(NamedTuple):
    """Foreground runs of N masks: run r of mask ``mask[r]`` covers column-major pixels [start, end)."""

    heights: Tensor  # (N,) int64
    widths: Tensor  # (N,) int64
    mask: Tensor  # (R,) int64 index of each run's mask, non-decreasing
    start: Tensor  # (R,) int64
    end: Tensor  # (R,) int64


def _segment_starts(group: Tensor, count: int) -> Tensor:
    """(count + 1,) offsets of each group in a sorted group-index vector."""
    sizes = torch.bincount(group, minlength=count) if group.numel() else group.new_zeros(count)
    return torch.cat([sizes.new_zeros(1), sizes.cumsum(0)])


def _running_in_group(values: Tensor, group: Tensor, starts: Tensor) -> Tensor:
    """Inclusive running sum of ``values`` within each group of a sorted ``group`` (``starts``: its offsets).

    One batch-wide cumsum: it may wrap around int64, but the difference to the group's start is exact modulo
    2**64, so each group's running sums are exact as long as they fit in int64.
    """
    running = torch.cumsum(values, 0)
    before_group = torch.cat([running.new_zeros(1), running])[starts[:-1]]
    return running - before_group[group]


class _BadCountsError(Exception):
    """Mask ``index`` of the batch has malformed counts; :func:`rle_counts` names it (image, position) and raises
    ``error`` instead."""

    def __init__(self, index: int, error: type[Exception], expectation: str, got: str | None = None) -> None:
        super().__init__(expectation)
        self.index, self.error, self.expectation, self.got = index, error, expectation, got


def _string_chars(strings: Sequence[bytes], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Characters of compressed strings, minus 48 (C,), the string of each (C,), and each string's end (S,)."""
    lengths = torch.tensor([len(s) for s in strings], dtype=torch.long)
    joined = bytearray(b"".join(strings))
    chars = torch.frombuffer(joined, dtype=torch.uint8) if joined else torch.zeros(0, dtype=torch.uint8)
    string_of_char = torch.repeat_interleave(torch.arange(len(strings)), lengths).to(device)
    ends = torch.where(lengths > 0, torch.cumsum(lengths, 0) - 1, -1).to(device)
    return chars.to(device=device, dtype=torch.long) - 48, string_of_char, ends


def _bad_string(chars: Tensor, last: Tensor, position: Tensor, string_of_char: Tensor, ends: Tensor) -> int | None:
    """Index of the first malformed string: a character outside '0' to 'o', a value of more than
    ``_MAX_VALUE_CHARS`` characters (it could overflow), or a string not ending on a value's last character."""
    bad = (chars < 0) | (chars > 63) | (position >= _MAX_VALUE_CHARS)
    has_end = ends >= 0
    bad[ends[has_end]] |= ~last[ends[has_end]]
    return int(string_of_char[bad.nonzero()[0, 0]]) if bool(bad.any()) else None


def _decode_strings(strings: Sequence[bytes], device: torch.device) -> tuple[Tensor, Tensor]:
    """Counts of compressed strings: (V,) int64 values and (V,) their string index (_BadCountsError for the first
    malformed string, by its index in ``strings``)."""
    chars, string_of_char, ends = _string_chars(strings, device)
    last = (chars & 0x20) == 0  # the character ending a value
    value_of_char = torch.cumsum(last.long(), 0) - last.long()
    num_values = int(last.sum())
    first_char = _segment_starts(value_of_char, num_values + 1)[:-1]
    position = torch.arange(chars.numel(), device=device) - first_char[value_of_char]
    bad = _bad_string(chars, last, position, string_of_char, ends)
    if bad is not None:
        raise _BadCountsError(bad, ValueError, _STRING_EXPECTATION)
    shift = 5 * position  # at most 50: no bit leaves int64
    values = torch.zeros(num_values, dtype=torch.long, device=device)
    values.index_add_(0, value_of_char, (chars & 0x1F) << shift)  # disjoint bits: the sum is the OR
    sign = last & ((chars & 0x10) != 0)
    values[value_of_char[sign]] |= -1 << (shift[sign] + 5)
    return values, string_of_char[last]


def _undo_delta(values: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """Inverse of pycocotools' ``x -= cnts[i - 2]`` for i > 2: two running sums per group (odd, even >= 2)."""
    starts = _segment_starts(group, num_groups)
    index = torch.arange(values.numel(), device=values.device) - starts[group]
    out = values.clone()
    for chain in ((index % 2 == 1), (index % 2 == 0) & (index >= 2)):
        out = torch.where(chain, _running_in_group(torch.where(chain, values, 0), group, starts), out)
    return out


def _sum_expectation(pixels: int) -> str:
    return f"be non-negative and sum to height * width = {pixels}"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _list_counts(counts: Sequence[Any] | Tensor, pixels: int, device: torch.device, index: int) -> Tensor:
    """(V,) int64 tensor of uncompressed counts: ints (not bools) in [0, pixels], checked before conversion so that
    none can overflow; their sum is checked later, batch-wide."""
    if isinstance(counts, Tensor):  # an empty one of any dtype, as ``torch.tensor([])`` is, holds no count
        if counts.numel() and (counts.is_floating_point() or counts.is_complex() or counts.dtype == torch.bool):
            raise _BadCountsError(index, TypeError, _TYPE_EXPECTATION, f"a tensor of {counts.dtype}")
        if counts.ndim > 1:  # a flattened matrix would be read in an order nobody chose
            raise _BadCountsError(index, ValueError, "be one-dimensional", f"a tensor of shape {tuple(counts.shape)}")
        return counts.to(device=device, dtype=torch.long).reshape(-1)
    wrong = [] if all(type(v) is int for v in counts) else [v for v in counts if not _is_int(v)][:1]
    if wrong:
        got = f"a {type(counts).__name__} holding {type(wrong[0]).__name__}"
        raise _BadCountsError(index, TypeError, _TYPE_EXPECTATION, got)
    if len(counts) and (min(counts) < 0 or max(counts) > pixels):
        raise _BadCountsError(index, ValueError, _sum_expectation(pixels))
    return torch.as_tensor(counts, dtype=torch.long, device=device).reshape(-1)


def _ascii(counts: str | bytes, index: int) -> bytes:
    if isinstance(counts, bytes):
        return counts
    if not counts.isascii():
        raise _BadCountsError(index, ValueError, _STRING_EXPECTATION)
    return counts.encode("ascii")


def _locate(images: Sequence[RleImage], index: int) -> tuple[RleImage, int]:
    """The image holding mask ``index`` of the batch, and the mask's index within that image."""
    for image in images[:-1]:
        if index < len(image.counts):
            return image, index
        index -= len(image.counts)
    return images[-1], index


def _counts_error(images: Sequence[RleImage], bad: _BadCountsError) -> Exception:
    """The exception naming the bad mask (its image, its position there) and what is wrong with its counts."""
    image, local = _locate(images, bad.index)
    got = f"{image.counts[local]!r:.60}" if bad.got is None else bad.got
    name = _mask_name(image.first + local, image.where)
    return bad.error(f"Expected `counts` of {name} to {bad.expectation}, but got {got}.")


def _parse_counts(every: list[Any], pixels: list[int], device: torch.device) -> tuple[list[Tensor], list[Tensor]]:
    """Counts of every mask (compressed strings all at once, lists one by one) and the mask index of each."""
    strings = [i for i, c in enumerate(every) if isinstance(c, str | bytes)]
    parts, owners = [], []
    if strings:
        raw = [_ascii(every[i], i) for i in strings]
        try:
            values, which = _decode_strings(raw, device)
        except _BadCountsError as bad:  # its index is the string's: make it the mask's
            raise _BadCountsError(strings[bad.index], bad.error, bad.expectation) from None
        parts.append(_undo_delta(values, which, len(strings)))
        owners.append(torch.tensor(strings, dtype=torch.long, device=device)[which])
    for i, counts in enumerate(every):
        if not isinstance(counts, str | bytes):
            parts.append(_list_counts(counts, pixels[i], device, i))
            owners.append(torch.full_like(parts[-1], i))
    return parts, owners


def rle_counts(images: Sequence[RleImage], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run lengths of checked RLEs, all images at once: (counts (V,), mask index of each (V,), heights (N,),
    widths (N,)); a TypeError or ValueError naming the first malformed mask."""
    device = torch.device(device)
    sizes = [(image.height, image.width) for image in images for _ in image.counts]
    heights = torch.tensor([s[0] for s in sizes], dtype=torch.long, device=device)
    widths = torch.tensor([s[1] for s in sizes], dtype=torch.long, device=device)
    every = [c for image in images for c in image.counts]
    try:
        parts, owners = _parse_counts(every, [h * w for h, w in sizes], device)
        counts = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=device)
        owner = torch.cat(owners) if owners else counts
        if len(parts) > 1 and bool((owner[1:] < owner[:-1]).any()):  # strings came first: restore mask order
            order = torch.sort(owner, stable=True).indices
            counts, owner = counts[order], owner[order]
        _check_counts(counts, owner, heights * widths)
    except _BadCountsError as bad:
        raise _counts_error(images, bad) from None
    return counts, owner, heights, widths


def _check_counts(counts: Tensor, owner: Tensor, pixels: Tensor) -> None:
    """Every count within [0, pixels], every running total within pixels, and the last exactly pixels.

    Exact despite int64: until the first bad count, counts and totals are at most 2**53 (``_MAX_AREA``), so the
    first bad count or total is below 2**55 and seen as it is.
    """
    limit = pixels[owner]
    ends = _running_in_group(counts, owner, _segment_starts(owner, pixels.numel()))
    out_of_range = (counts < 0) | (counts > limit) | (ends > limit)
    bad = torch.zeros_like(pixels, dtype=torch.bool).index_put_((owner,), out_of_range, accumulate=True)
    bad |= torch.zeros_like(pixels).index_add_(0, owner, counts) != pixels
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise _BadCountsError(index, ValueError, _sum_expectation(int(pixels[index])))


def runs_from_counts(counts: Tensor, owner: Tensor, heights: Tensor, widths: Tensor) -> Runs:
    """Foreground runs from checked run lengths (odd positions within each mask are the 1s)."""
    starts = _segment_starts(owner, heights.numel())
    index = torch.arange(counts.numel(), device=counts.device) - starts[owner]
    end = _running_in_group(counts, owner, starts)
    keep = (index % 2 == 1) & (counts > 0)
    return Runs(heights, widths, owner[keep], end[keep] - counts[keep], end[keep])


def _rle_list(rles: Any, name: str) -> Sequence[Any]:
    if not isinstance(rles, Sequence) or isinstance(rles, str | bytes):
        raise TypeError(f"Expected `{name}` to be a list of COCO RLE dicts, but got {type(rles).__name__}.")
    return rles


def runs_from_rles(
    rles: Sequence[dict] | Sequence[RleImage], device: torch.device | str = "cpu", where: str = ""
) -> Runs:
    """Foreground runs of COCO RLE dicts (compressed or uncompressed counts; each its own size, named as
    "mask i {where}"), or of checked images of them."""
    images = [r for r in rles if isinstance(r, RleImage)]
    if len(images) != len(rles):
        images = [check_rles([r], where, first=i) for i, r in enumerate(rles)]
    return runs_from_counts(*rle_counts(images, device))


def runs_from_masks(masks: Tensor) -> Runs:
    """Foreground runs of (N, H, W) masks (any dtype; nonzero is foreground), column-major like COCO."""
    num, height, width = masks.shape
    flat = (masks != 0).transpose(1, 2).reshape(num, height * width)
    edge = torch.zeros(num, 1, dtype=torch.bool, device=masks.device)
    change = torch.cat([edge, flat, edge], 1)
    change = change[:, 1:] ^ change[:, :-1]
    mask, position = change.nonzero(as_tuple=True)  # row-major: per mask, alternately a run start and end
    sizes = torch.full((num,), 1, dtype=torch.long, device=masks.device)
    return Runs(sizes * height, sizes * width, mask[0::2], position[0::2], position[1::2])


def counts_from_runs(runs: Runs) -> tuple[Tensor, Tensor]:
    """pycocotools' run lengths of each mask (starting with 0s, no trailing empty run): (counts, owner)."""
    num, device = runs.heights.numel(), runs.heights.device
    per_mask = torch.bincount(runs.mask, minlength=num) if runs.mask.numel() else runs.heights.new_zeros(num)
    slots = 2 * per_mask + 2  # boundaries: 0, start, end, ..., start, end, h * w
    offset = torch.cat([slots.new_zeros(1), slots.cumsum(0)])
    bounds = torch.empty(int(offset[-1]), dtype=torch.long, device=device)
    bounds[offset[:-1]] = 0
    bounds[offset[1:] - 1] = runs.heights * runs.widths
    run_start = _segment_starts(runs.mask, num)
    local = torch.arange(runs.mask.numel(), device=device) - run_start[runs.mask]
    slot = offset[runs.mask] + 1 + 2 * local
    bounds[slot], bounds[slot + 1] = runs.start, runs.end
    owner = torch.repeat_interleave(torch.arange(num, device=device), slots)
    same = owner[1:] == owner[:-1]
    counts, owner = (bounds[1:] - bounds[:-1])[same], owner[1:][same]
    # pycocotools ends on the last run: a mask ending in foreground has no trailing zero-length run of 0s
    is_last = torch.ones(owner.numel(), dtype=torch.bool, device=device)
    is_last[:-1] = owner[1:] != owner[:-1]
    keep = ~(is_last & (counts == 0) & (per_mask[owner] > 0))
    return counts[keep], owner[keep]


def _encode_strings(counts: Tensor, owner: Tensor, num: int) -> list[bytes]:
    """pycocotools' compressed strings of run lengths, all masks at once."""
    starts = _segment_starts(owner, num)
    index = torch.arange(counts.numel(), device=counts.device) - starts[owner]
    previous = torch.cat([counts.new_zeros(2), counts])[: counts.numel()]
    values = torch.where(index > 2, counts - previous, counts)
    chars, emitted, more = [], [], torch.ones_like(values, dtype=torch.bool)
    for _ in range(_MAX_CHARS):
        low = values & 0x1F
        values = values >> 5
        go_on = torch.where((low & 0x10) != 0, values != -1, values != 0)
        chars.append(torch.where(go_on, low | 0x20, low) + 48)
        emitted.append(more)
        more = more & go_on
    char_table, emit_table = torch.stack(chars, 1), torch.stack(emitted, 1)
    flat = char_table[emit_table].to(torch.uint8).cpu().numpy().tobytes()
    per_value = emit_table.sum(1)
    per_mask = torch.zeros(num, dtype=torch.long, device=counts.device).index_add_(0, owner, per_value)
    ends = per_mask.cumsum(0).tolist()
    return [flat[a:b] for a, b in zip([0, *ends], ends, strict=False)]


def rle_encode(masks: Tensor) -> list[dict]:
    """COCO RLE dicts of (N, H, W) masks, byte-identical to pycocotools' ``mask.encode``.

    Args:
        masks: Tensor (N, H, W) of any dtype; nonzero pixels are foreground.

    Returns:
        One ``{"size": [H, W], "counts": bytes}`` per mask (decode ``counts`` to str for JSON).

    Example:
        >>> import torch
        >>> mask = torch.zeros(1, 3, 4, dtype=torch.bool); mask[0, 1:, 1:3] = True
        >>> rle_encode(mask)
        [{'size': [3, 4], 'counts': b'42102'}]
        >>> bool((rle_decode(rle_encode(mask)) == mask).all())
        True
    """
    if not isinstance(masks, Tensor) or masks.ndim != 3:
        raise ValueError(f"Expected `masks` to be a tensor of shape (N, H, W), but got {masks!r:.80}.")
    counts, owner = counts_from_runs(runs_from_masks(masks))
    height, width = int(masks.shape[1]), int(masks.shape[2])
    return [{"size": [height, width], "counts": s} for s in _encode_strings(counts, owner, masks.shape[0])]


def _check_decode_size(num: int, height: int, width: int, max_pixels: int | None) -> None:
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels < 0):
        raise ValueError(f"Expected `max_pixels` to be an int >= 0 or None, but got {max_pixels!r}.")
    if max_pixels is not None and num * height * width > max_pixels:
        raise ValueError(
            f"Expected `rles` to decode to at most `max_pixels` = {max_pixels} pixels, but got {num} x {height} x "
            f"{width} = {num * height * width}; pass a larger `max_pixels` to decode them, or use rle_area, "
            "rle_to_bbox or mask_iou, which never decode."
        )


def _paint_runs(runs: Runs, num: int, height: int, width: int) -> Tensor:
    """(num, height, width) bool masks of foreground runs, painted a few masks at a time.

    The scratch buffer of a step holds one uint8 per pixel of its masks: 255 (-1 modulo 256) where a run ends, + 1
    where one starts (starts are distinct; a start may meet the previous run's end), then an in-place cumsum whose
    wrapping uint8 arithmetic leaves 1 on the runs and 0 elsewhere. Peak memory: the output plus that buffer.
    """
    out = torch.empty(num, height, width, dtype=torch.bool, device=runs.mask.device)
    pixels = height * width
    step = max(1, _DECODE_CHUNK // max(pixels, 1))
    firsts = torch.arange(0, num + step, step, device=runs.mask.device).clamp(max=num)
    bounds = torch.searchsorted(runs.mask, firsts).tolist()
    for k, first in enumerate(firsts[:-1].tolist()):
        count, low, high = min(step, num - first), bounds[k], bounds[k + 1]
        flat = torch.zeros(count * pixels, dtype=torch.uint8, device=out.device)
        offset = (runs.mask[low:high] - first) * pixels
        start, end = offset + runs.start[low:high], offset + runs.end[low:high]
        flat[end[end < flat.numel()]] = 255
        flat[start] += 1
        flat.cumsum_(0)
        out[first : first + count] = flat.view(torch.bool).view(count, width, height).transpose(1, 2)
    return out


def rle_decode(
    rles: Sequence[dict], device: torch.device | str = "cpu", *, max_pixels: int | None = MAX_DECODE_PIXELS
) -> Tensor:
    """(N, H, W) bool masks of COCO RLE dicts that share one size (compressed or uncompressed counts).

    Args:
        rles: COCO RLE dicts ``{"size": [H, W], "counts": str | bytes | list of ints}``, all of one size.
        device: Where to decode.
        max_pixels: The most pixels (N * H * W) to allocate: a larger request (such as a declared
            100000 x 100000 mask) is refused with a ValueError before anything is decoded. Defaults to
            :data:`MAX_DECODE_PIXELS` (2**31, 2 GiB of output); None for no limit.

    Returns:
        Bool tensor (N, H, W), equal to pycocotools' ``mask.decode``; peak memory is the output plus one mask (or
        16 MiB, whichever is larger).

    Raises:
        TypeError: an RLE, or its counts, of the wrong type. The message names the mask.
        ValueError: a malformed size or counts, or too many pixels. The message names the mask.

    Example:
        >>> rle_decode([{"size": [2, 3], "counts": [1, 2, 3]}]).int()
        tensor([[[0, 1, 0],
                 [1, 0, 0]]], dtype=torch.int32)
    """
    image = check_rles(_rle_list(rles, "rles"), "in `rles`")
    num, height, width = len(image.counts), max(image.height, 0), max(image.width, 0)
    _check_decode_size(num, height, width, max_pixels)
    return _paint_runs(runs_from_counts(*rle_counts([image], device)), num, height, width)


def rle_area(rles: Sequence[dict], device: torch.device | str = "cpu") -> Tensor:
    """(N,) int64 foreground pixel count of each RLE, from the run lengths without decoding.

    Example:
        >>> rle_area([{"size": [2, 3], "counts": [1, 2, 3]}])
        tensor([2])
    """
    runs = runs_from_rles(_rle_list(rles, "rles"), device, "in `rles`")
    return torch.zeros_like(runs.heights).index_add_(0, runs.mask, runs.end - runs.start)


def runs_boxes(runs: Runs) -> Tensor:
    """(N, 4) int64 inclusive pixel box (x0, y0, x1, y1) of each mask; x0 > x1 for an empty mask."""
    num, height = runs.heights.numel(), runs.heights[runs.mask]
    col0, col1 = runs.start // height, (runs.end - 1) // height
    row0 = torch.where(col0 == col1, runs.start % height, 0)  # a run crossing a column spans every row
    row1 = torch.where(col0 == col1, (runs.end - 1) % height, height - 1)
    big = torch.iinfo(torch.long).max
    lows = torch.full((num, 2), big, dtype=torch.long, device=runs.mask.device)
    highs = torch.full((num, 2), -1, dtype=torch.long, device=runs.mask.device)
    index = runs.mask[:, None].expand(-1, 2)
    lows = lows.scatter_reduce(0, index, torch.stack([col0, row0], 1), "amin")
    highs = highs.scatter_reduce(0, index, torch.stack([col1, row1], 1), "amax")
    return torch.cat([lows, highs], 1)


def rle_to_bbox(rles: Sequence[dict], device: torch.device | str = "cpu") -> Tensor:
    """(N, 4) float64 xywh box of each RLE as pycocotools' ``toBbox`` gives it ([0, 0, 0, 0] when empty).

    Example:
        >>> rle_to_bbox([{"size": [2, 3], "counts": [1, 2, 3]}])
        tensor([[0., 0., 2., 2.]], dtype=torch.float64)
    """
    boxes = runs_boxes(runs_from_rles(_rle_list(rles, "rles"), device, "in `rles`"))
    empty = boxes[:, 0] > boxes[:, 2]
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2] + 1], 1).double()
    return torch.where(empty[:, None], 0.0, xywh)
