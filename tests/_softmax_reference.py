"""The float64 softmax that exact-mode multiclass logits are checked against: correctly rounded, ties exact.

A naive float64 softmax (numpy, scipy or torch) splits true ties by rounding: ``exp(x - max) / sum`` sums in the
row's order, and ``x - logsumexp`` rounds at the scale of the row maximum, so two rows whose softmax is the same
number (the other classes permuted, or all logits shifted by a constant) can differ in the last bit, and on
quantised logits that moves the AUC by about 1e-4. Here each probability is ``1 / sum_j exp(x_j - x_c)``
evaluated in 200-bit arithmetic from the exact input values and rounded to float64 once, so equal
probabilities are equal floats and distinct ones keep their order.
"""

from __future__ import annotations

import mpmath
import numpy as np
import torch


def softmax_reference(logits: torch.Tensor) -> np.ndarray:
    """Correctly rounded float64 softmax of (N, C) logits of any float dtype (read exactly as float64)."""
    rows = logits.double().numpy()
    out = np.empty_like(rows)
    with mpmath.workprec(200):
        for i, row in enumerate(rows):
            values = [mpmath.mpf(float(v)) for v in row]
            for c, x in enumerate(values):
                out[i, c] = float(1 / mpmath.fsum(sorted(mpmath.exp(y - x) for y in values)))
    return out
