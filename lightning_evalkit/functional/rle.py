"""COCO run-length encoding (RLE) of binary masks, written in torch (no pycocotools at runtime).

An RLE is ``{"size": [h, w], "counts": ...}``: the lengths of alternating runs of 0s and 1s (starting with 0s)
of the mask read in column-major order. ``counts`` is either that list of ints ("uncompressed", as COCO
crowd annotations hold it) or pycocotools' compressed string: each count, after the third minus the count two
places before it, written 5 bits per character (low bits first, 0x20 = more characters follow, the last
character's 0x10 bit is the sign), offset by 48. Encoding and decoding are vectorised over every mask at once:
a batch of strings is one byte tensor, never a Python loop over characters.

Internally masks travel as *runs of foreground*: ``(start, end)`` pixel positions in column-major order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["rle_area", "rle_decode", "rle_encode", "rle_to_bbox"]

_COUNTS_TYPES = (str, bytes, list, tuple, Tensor)
_MAX_CHARS = 13  # a 64-bit count needs at most ceil(64 / 5) characters


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


def _decode_strings(strings: Sequence[bytes], device: torch.device) -> tuple[Tensor, Tensor]:
    """Counts of compressed strings: (V,) int64 counts and (V,) their string index."""
    lengths = torch.tensor([len(s) for s in strings], dtype=torch.long)
    joined = b"".join(strings)
    if not joined:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    chars = torch.frombuffer(bytearray(joined), dtype=torch.uint8).to(device=device, dtype=torch.long) - 48
    string_of_char = torch.repeat_interleave(torch.arange(len(strings)), lengths).to(device)
    last = (chars & 0x20) == 0  # the character ending a count
    bad = (chars < 0) | (chars > 63)
    string_ends = (torch.cumsum(lengths, 0) - 1)[lengths > 0].to(device)
    bad[string_ends] |= ~last[string_ends]  # a string must end on a count's last character
    if bool(bad.any()):
        index = int(string_of_char[bad.nonzero()[0, 0]])
        raise ValueError(f"Expected compressed RLE counts, but got {strings[index]!r:.60} (string {index}).")
    value_of_char = torch.cumsum(last.long(), 0) - last.long()
    num_values = int(last.sum())
    first_char = _segment_starts(value_of_char, num_values)[:-1]
    shift = 5 * (torch.arange(chars.numel(), device=device) - first_char[value_of_char])
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
        running = torch.cumsum(torch.where(chain, values, 0), 0)
        before_group = torch.cat([running.new_zeros(1), running])[starts[:-1]]
        out = torch.where(chain, running - before_group[group], out)
    return out


class RleImage(NamedTuple):
    """One image's masks given as COCO RLE dicts, checked: their common size and their counts."""

    height: int
    width: int
    counts: list[Any]  # str, bytes, or a sequence of ints per mask
    where: str = ""  # where the masks came from, for messages ("of image 3 in `target`")


def _rle_size(rle: Any, index: int, where: str) -> tuple[int, int]:
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        got = type(rle).__name__ if not isinstance(rle, dict) else f"keys {sorted(map(str, rle))}"
        raise TypeError(f"Expected RLE {index} {where} to be a dict with keys 'size' and 'counts', but got {got}.")
    size = rle["size"]
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        height = width = -1
    if height < 0 or width < 0 or any(isinstance(v, bool) or v != int(v) for v in size):
        raise ValueError(
            f"Expected `size` of RLE {index} {where} to be [height, width] of ints >= 0, but got {size!r}."
        )
    counts = rle["counts"]
    if not isinstance(counts, _COUNTS_TYPES):
        raise TypeError(
            f"Expected `counts` of RLE {index} {where} to be a str, bytes or list of ints, but got "
            f"{type(counts).__name__}."
        )
    return height, width


def check_rles(rles: Sequence[Any], where: str = "", size: tuple[int, int] | None = None) -> RleImage:
    """Check a list of COCO RLE dicts that share one size (``size`` when given); -1 x -1 when the list is
    empty."""
    try:  # fast path: one pass in C-level comprehensions; anything odd takes the checking path below
        counts = [rle["counts"] for rle in rles]
        sizes = {tuple(rle["size"]) for rle in rles}
        fast = all(isinstance(rle, dict) for rle in rles) and all(isinstance(c, _COUNTS_TYPES) for c in counts)
        fast = fast and all(len(s) == 2 and all(type(v) is int and v >= 0 for v in s) for s in sizes)
    except (TypeError, KeyError, IndexError):
        fast = False
    if not fast:
        sizes = {_rle_size(rle, index, where) for index, rle in enumerate(rles)}
    if size is not None:
        sizes.add(size)
    if len(sizes) > 1:
        raise ValueError(
            f"Expected every RLE {where} to have the same size, but got {sorted(sizes)}.".replace("  ", " ")
        )
    height, width = sizes.pop() if sizes else (-1, -1)
    return RleImage(height, width, [rle["counts"] for rle in rles], where)


def rle_counts(images: Sequence[RleImage], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run lengths of checked RLEs, all images at once: (counts (V,), mask index of each (V,), heights (N,),
    widths (N,))."""
    device = torch.device(device)
    sizes = [(image.height, image.width) for image in images for _ in image.counts]
    heights = torch.tensor([s[0] for s in sizes], dtype=torch.long, device=device)
    widths = torch.tensor([s[1] for s in sizes], dtype=torch.long, device=device)
    every = [c for image in images for c in image.counts]
    strings = [i for i, c in enumerate(every) if isinstance(c, str | bytes)]
    lists = [i for i, c in enumerate(every) if not isinstance(c, str | bytes)]
    parts, owners = [], []
    if strings:
        raw = [c.encode("ascii") if isinstance(c, str) else c for c in (every[i] for i in strings)]
        values, which = _decode_strings(raw, device)
        parts.append(_undo_delta(values, which, len(strings)))
        owners.append(torch.tensor(strings, dtype=torch.long, device=device)[which])
    for i in lists:
        counts = _uncompressed_counts(every[i], *_locate(images, i)).to(device)
        parts.append(counts)
        owners.append(torch.full_like(counts, i))
    counts = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=device)
    owner = torch.cat(owners) if owners else counts
    if strings and lists:  # restore mask order
        order = torch.sort(owner, stable=True).indices
        counts, owner = counts[order], owner[order]
    _check_totals(counts, owner, heights * widths, images)
    return counts, owner, heights, widths


def _locate(images: Sequence[RleImage], i: int) -> tuple[int, RleImage]:
    """RLE ``i`` of all the images' RLEs, one after another: its index within its image, and the image."""
    for image in images:
        if i < len(image.counts):
            return i, image
        i -= len(image.counts)
    raise IndexError(i)


def _uncompressed_counts(counts: Any, i: int, image: RleImage) -> Tensor:
    """Uncompressed counts (a list of ints, or a 1-D integer tensor; integral floats pass) as (V,) int64 on the CPU.

    ValueError, naming the RLE, for anything else: elements that are not numbers (or are bools), not whole,
    not finite, beyond int64, or nested.
    """
    values: Tensor | None = None
    if isinstance(counts, Tensor) or not any(isinstance(v, bool) for v in counts):
        try:
            values = torch.as_tensor(counts, device="cpu")
            if values.is_floating_point() and not isinstance(counts, Tensor):  # not float32's 24 bits
                values = torch.as_tensor(counts, dtype=torch.float64, device="cpu")
        except (TypeError, ValueError, RuntimeError, OverflowError):
            values = None
    ok = values is not None and values.ndim == 1 and values.dtype != torch.bool and not values.is_complex()
    if ok and values is not None and values.is_floating_point():
        ok = bool(torch.isfinite(values).all()) and bool((values == values.round()).all())
        ok = ok and bool((values.abs() < 2.0**63).all())
    if not ok or values is None:
        raise ValueError(
            f"Expected the counts of RLE {i} {image.where} to be a list of ints, but got {counts!r:.60}.".replace(
                "  ", " "
            )
        )
    return values.to(torch.long)


def _check_totals(counts: Tensor, owner: Tensor, pixels: Tensor, images: Sequence[RleImage]) -> None:
    totals = torch.zeros_like(pixels).index_add_(0, owner, counts)
    negative = torch.zeros_like(pixels, dtype=torch.bool).index_put_((owner,), counts < 0, accumulate=True)
    bad = (totals != pixels) | negative
    if bool(bad.any()):
        i, image = _locate(images, int(bad.nonzero()[0, 0]))
        raise ValueError(
            f"Expected the counts of RLE {i} {image.where} to be non-negative and sum to height * width = "
            f"{image.height * image.width}, but got {image.counts[i]!r:.60}.".replace("  ", " ")
        )


def runs_from_counts(counts: Tensor, owner: Tensor, heights: Tensor, widths: Tensor) -> Runs:
    """Foreground runs from run lengths (odd positions within each mask are the 1s)."""
    starts = _segment_starts(owner, heights.numel())
    index = torch.arange(counts.numel(), device=counts.device) - starts[owner]
    running = torch.cumsum(counts, 0)
    before_mask = torch.cat([running.new_zeros(1), running])[starts[:-1]]
    end = running - before_mask[owner]
    keep = (index % 2 == 1) & (counts > 0)
    return Runs(heights, widths, owner[keep], end[keep] - counts[keep], end[keep])


def runs_from_rles(rles: Sequence[dict] | Sequence[RleImage], device: torch.device | str = "cpu") -> Runs:
    """Foreground runs of COCO RLE dicts (compressed or uncompressed counts), or of checked images of them."""
    images = [r for r in rles if isinstance(r, RleImage)]
    if len(images) != len(rles):
        images = [check_rles([r]) for r in rles]
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


def rle_decode(rles: Sequence[dict], device: torch.device | str = "cpu") -> Tensor:
    """(N, H, W) bool masks of COCO RLE dicts that share one size (compressed or uncompressed counts).

    Example:
        >>> rle_decode([{"size": [2, 3], "counts": [1, 2, 3]}]).int()
        tensor([[[0, 1, 0],
                 [1, 0, 0]]], dtype=torch.int32)
    """
    runs = runs_from_rles(rles, device)
    sizes = set(zip(runs.heights.tolist(), runs.widths.tolist(), strict=True))
    if len(sizes) > 1:
        raise ValueError(f"Expected every RLE to have the same size, but got {sorted(sizes)}.")
    height, width = sizes.pop() if sizes else (0, 0)
    pixels = height * width
    delta = torch.zeros(len(rles) * pixels + 1, dtype=torch.int32, device=runs.mask.device)
    delta.index_add_(0, runs.mask * pixels + runs.start, torch.ones_like(runs.start, dtype=torch.int32))
    delta.index_add_(0, runs.mask * pixels + runs.end, torch.full_like(runs.start, -1, dtype=torch.int32))
    flat = torch.cumsum(delta[:-1], 0) > 0
    return flat.reshape(len(rles), width, height).transpose(1, 2).contiguous()


def rle_area(rles: Sequence[dict], device: torch.device | str = "cpu") -> Tensor:
    """(N,) int64 foreground pixel count of each RLE, from the run lengths without decoding.

    Example:
        >>> rle_area([{"size": [2, 3], "counts": [1, 2, 3]}])
        tensor([2])
    """
    runs = runs_from_rles(rles, device)
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
    boxes = runs_boxes(runs_from_rles(rles, device))
    empty = boxes[:, 0] > boxes[:, 2]
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2] + 1], 1).double()
    return torch.where(empty[:, None], 0.0, xywh)
