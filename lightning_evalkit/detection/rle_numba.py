# mypy: disable-error-code="assignment"
# (numba infers int64 throughout; mypy reads these kernels as Python, where ints and numpy ints differ)
"""Compiled (numba) CPU kernels for COCO RLE masks: compressed strings straight to indexed runs, and the
intersections of mask pairs by merging their runs, as pycocotools' ``rleDecode`` and ``rleIou`` do.

Optional: this module imports only where numba is installed (``pip install numba``; wheels, no compiler), and
``masks.py`` loads it on first use. Without it (or with ``LIGHTNING_EVALKIT_NUMBA=0``) the vectorised numpy
decoder (rle_numpy.py) and the searchsorted intersections (masks.py) run: they stay the fallback and, with the
torch decoder, the reference these kernels are tested against.

Why compiled (segm benchmark, 200 images of 480x640, 16,456 masks, 2.5M characters, 1.2M runs, one thread, CPU
time on a shared 2-core VM): the numpy decoder makes about 40 passes over arrays of that size, 184 ms for the
detections where this one pass takes 13 ms; the searchsorted intersections cost ~35 ms where merging each pair's
runs costs ~4 ms. Whole segm mAP on RLE in hand: 3-6x slower than hotcoco 1.3.0 before, on par now (~60 ms
each in the same process; the numpy path, also faster now, stays ~3x behind). A vectorised numpy pass costs a
few ms at this size, so no numpy formulation of 40 passes comes near.
Fresh memory is the other cost: five int64 arrays per run made the decoder 2.5x slower than reused buffers, so it
writes only the two int32 run bounds the merge reads. The price: numba's import and the cached kernels' load,
once per process (~0.5 s and ~130 MiB of resident memory on this machine); the first compile, once per machine,
takes a few seconds more (``cache=True`` keeps the machine code in ``__pycache__``).

The decoder takes what the numpy decoder takes and returns the few arrays the merge needs (``PackedRuns`` in
rle_numpy.py); it reports failure (``ok = False``) for anything malformed, and the caller then falls back to the
numpy decoder or the reference, which names the bad mask.
"""

from __future__ import annotations

import numba
import numpy as np

_MAX_VALUE_CHARS = 11  # as rle._MAX_VALUE_CHARS: a longer compressed value could overflow
_BIG = np.iinfo(np.int64).max


@numba.njit(cache=True, nogil=True, inline="always")
def _quotient(value, divisor, inverse):
    """``value // divisor`` for 0 <= value <= 2**53 by a float product, corrected to the exact floor (an integer
    division costs several times more, and the decoder needs one per run)."""
    quotient = np.int64(value * inverse)
    while quotient * divisor > value:
        quotient -= 1
    while (quotient + 1) * divisor <= value:
        quotient += 1
    return quotient


@numba.njit(cache=True, nogil=True, inline="always")
def _read_value(chars, c, stop):
    """(value, next character, ok) of the compressed value starting at character ``c`` of a string ending at
    ``stop``: 5 bits a character, low bits first, 0x20 = more follow, the last one's 0x10 the sign; not ok for a
    character outside '0' to 'o', a value longer than 11 characters, or a string ending inside a value."""
    value = np.int64(0)
    shift = 0
    while c < stop and shift < 5 * _MAX_VALUE_CHARS:
        code = np.int64(chars[c]) - 48
        if code < 0 or code > 63:
            return value, c, False
        value |= (code & 31) << shift
        shift += 5
        c += 1
        if code < 32:  # the last character of the value
            if code & 16:
                value |= np.int64(-1) << shift
            return value, c, True
    return value, c, False


@numba.njit(cache=True, nogil=True)
def decode_strings(chars, lengths, pixels, heights, template):
    """(ok, offsets, start, end, boxes, areas) of the concatenated compressed strings ``chars`` (uint8;
    ``lengths`` characters per mask, masks of ``pixels`` pixels and ``heights`` rows): per mask its first run
    (``offsets`` (N + 1,)), its area and inclusive box (x0 > x1 when empty); per run its column-major
    [start, end) within its mask, of ``template``'s dtype (int32 where every mask holds fewer than 2**31 pixels:
    the runs are most of the memory written, and fresh memory is what this pass costs most).

    One pass: each value is read, its delta undone (``+= counts[k - 2]`` for k > 2), checked (0 <= count <=
    pixels left), and every odd count > 0 is a foreground run. Counts stay within 2**53 and values within 2**55:
    nothing overflows. Not ok (and nothing else meaningful) for the first malformed string.
    """
    num = lengths.size
    cap = chars.size // 2 + 1  # a run is an odd count: at most one per two characters
    start = np.empty(cap, template.dtype)
    end = np.empty(cap, template.dtype)
    offsets = np.empty(num + 1, np.int64)
    boxes = np.empty((num, 4), np.int64)
    areas = np.empty(num, np.int64)
    c = 0
    r = 0
    ok = True
    for m in range(num):
        n_pix = pixels[m]
        height = heights[m]
        inverse = 1.0 / max(height, 1)
        offsets[m] = r
        stop = c + lengths[m]
        pos = 0
        k = 0
        area = 0
        column = 0
        column_start = 0
        x0, y0, x1, y1 = _BIG, _BIG, -1, -1
        zeros = 0  # the last count of 0s (counts[k - 2] when k is even)
        ones = 0  # the last count of 1s: the values come in pairs, 0s then 1s
        while c < stop:
            code = np.int64(chars[c]) - 48
            if code >= 0 and code < 32:  # a one-character value (most, by the delta coding)
                value = code - 32 if code >= 16 else code
                c += 1
            else:
                value, c, ok = _read_value(chars, c, stop)
            zeros = value + zeros if k > 2 else value
            k += 1
            if not ok or zeros < 0 or zeros > n_pix - pos:
                ok = False
                break
            pos += zeros
            if c >= stop:  # a mask may end on a count of 0s
                break
            code = np.int64(chars[c]) - 48
            if code >= 0 and code < 32:
                value = code - 32 if code >= 16 else code
                c += 1
            else:
                value, c, ok = _read_value(chars, c, stop)
            ones = value + ones if k > 2 else value
            k += 1
            if not ok or ones < 0 or ones > n_pix - pos:
                ok = False
                break
            count = ones
            if count > 0:
                start[r] = pos
                end[r] = pos + count
                area += count
                row0 = pos - column_start
                if row0 >= height:
                    if row0 < 2 * height:
                        column += 1
                        column_start += height
                    else:
                        column = _quotient(pos, height, inverse)
                        column_start = column * height
                    row0 = pos - column_start
                col0 = column
                if row0 + count <= height:  # within one column
                    col1 = col0
                    row1 = row0 + count - 1
                else:  # a run crossing a column spans every row
                    col1 = _quotient(pos + count - 1, height, inverse)
                    row0 = 0
                    row1 = height - 1
                x0 = min(x0, col0)
                x1 = max(x1, col1)
                y0 = min(y0, row0)
                y1 = max(y1, row1)
                r += 1
            pos += count
        if not ok or pos != n_pix:
            ok = False
            break
        areas[m] = area
        boxes[m, 0] = x0
        boxes[m, 1] = y0
        boxes[m, 2] = x1
        boxes[m, 3] = y1
    offsets[num] = r
    # views, not copies: a buffer holds one slot per two characters, about one per run in COCO data
    return ok, offsets, start[:r], end[:r], boxes, areas


@numba.njit(cache=True, nogil=True)
def pair_intersections(a_offsets, a_start, a_end, a_boxes, b_offsets, b_start, b_end, b_boxes, a_idx, b_idx):
    """(P,) pixels shared by masks a[a_idx[p]] and b[b_idx[p]]: their runs merged (``offsets``: (N + 1,) first
    run of each mask; runs sorted within a mask), skipped where their inclusive boxes do not meet."""
    out = np.zeros(a_idx.size, np.int64)
    for p in range(a_idx.size):
        i = a_idx[p]
        j = b_idx[p]
        if max(a_boxes[i, 0], b_boxes[j, 0]) > min(a_boxes[i, 2], b_boxes[j, 2]) or max(
            a_boxes[i, 1], b_boxes[j, 1]
        ) > min(a_boxes[i, 3], b_boxes[j, 3]):
            continue
        u = a_offsets[i]
        u_stop = a_offsets[i + 1]
        v = b_offsets[j]
        v_stop = b_offsets[j + 1]
        shared = 0
        while u < u_stop and v < v_stop:
            low = max(a_start[u], b_start[v])
            high = min(a_end[u], b_end[v])
            if high > low:
                shared += high - low
            if a_end[u] <= b_end[v]:
                u += 1
            else:
                v += 1
        out[p] = shared
    return out
