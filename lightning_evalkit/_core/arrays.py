"""Array conversions shared by the plots and the callback: tensors to float64 numpy, evenly spaced indices."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(values: Any) -> np.ndarray:
    """Return ``values`` (tensor, array or sequence) as a float64 numpy array on the CPU."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def downsample_indices(length: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced items of ``length``, keeping the first and the last.

    Example:
        >>> downsample_indices(10, 4).tolist()
        [0, 3, 6, 9]
        >>> downsample_indices(3, 1000).tolist()
        [0, 1, 2]
    """
    if length <= max_points:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, max_points).round().astype(np.int64))
