"""Per-detection (threshold, area range) flags kept as bits: the matched and ignored states of mAP and LVIS.

A detection's flags are (T, A) booleans; kept as bytes they are most of a metric's memory on large sets (80 of
its 112 bytes with COCO's 10 thresholds and 4 area ranges). Packed, the A flags of a threshold take
ceil(A / 8) bytes, bit a % 8 of byte a // 8 (little-endian bit order), so a state is (N, T, ceil(A / 8)) uint8
and the threshold axis stays where it was.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lightning_evalkit.detection.coco.pairs import _numpy_fits


def pack_area_flags(flags: Tensor) -> Tensor:
    """(N, T, A) bool -> (N, T, ceil(A / 8)) uint8.

    Example:
        >>> flags = torch.tensor([[[True, False, True, True]]])
        >>> pack_area_flags(flags).tolist(), unpack_area_flags(pack_area_flags(flags), 4).equal(flags)
        ([[[13]]], True)
    """
    num_areas = flags.shape[-1]
    shape = (*flags.shape[:-1], -(-num_areas // 8))
    if _numpy_fits(flags):  # one shift-or per area range: numpy's packbits along a short axis is 10x slower
        values = flags.numpy()
        packed = np.zeros(shape, dtype=np.uint8)
        for area in range(num_areas):
            packed[..., area // 8] |= values[..., area].view(np.uint8) << np.uint8(area % 8)
        return torch.from_numpy(packed)
    result = torch.zeros(shape, dtype=torch.uint8, device=flags.device)
    for area in range(num_areas):
        result[..., area // 8] |= flags[..., area].to(torch.uint8) << (area % 8)
    return result


def unpack_area_flags(packed: Tensor, num_areas: int) -> Tensor:
    """(N, T, ceil(A / 8)) uint8 -> (N, T, A) bool (see :func:`pack_area_flags`)."""
    if _numpy_fits(packed):  # unpacking the flat bytes is 20x faster than along the short last axis
        flat = np.unpackbits(np.ascontiguousarray(packed.numpy()).reshape(-1), bitorder="little")
        return torch.from_numpy(flat.view(np.bool_).reshape(*packed.shape[:-1], 8 * packed.shape[-1])[..., :num_areas])
    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    bits = (packed[..., None] >> shifts) & 1
    return bits.flatten(-2)[..., :num_areas].bool()


def unpack_area_flags_by_row(packed: Tensor, num_areas: int) -> Tensor:
    """(N, T, ceil(A / 8)) uint8 -> (T * A, N) bool: row t * A + a holds flag (t, a) of every detection (the
    layout the accumulation counts along; built per area range, 20x faster than unpacking and transposing)."""
    num_rows, num_thr = packed.shape[0], packed.shape[1]
    if _numpy_fits(packed):
        by_threshold = np.ascontiguousarray(np.moveaxis(packed.numpy(), 0, -1))  # (T, W, N)
        out = np.empty((num_thr, num_areas, num_rows), dtype=np.bool_)
        for area in range(num_areas):
            np.not_equal((by_threshold[:, area // 8] >> np.uint8(area % 8)) & np.uint8(1), 0, out=out[:, area])
        return torch.from_numpy(out.reshape(num_thr * num_areas, num_rows))
    by_area_word = packed.permute(1, 2, 0)
    rows = [((by_area_word[:, area // 8] >> (area % 8)) & 1).bool() for area in range(num_areas)]
    return torch.stack(rows, 1).reshape(num_thr * num_areas, num_rows)
