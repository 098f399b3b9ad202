"""DeLong's structural components, AUC variance and paired covariance from per-score class counts.

The fast algorithm of Sun and Xu (2014) needs only the midranks of the pooled, positive and negative scores.
Within the run of samples sharing one score, those midranks differ by the count of the other class below the
run plus half the tied ones (ties count one half), so every structural component follows from the per-score
class counts. One sort, then O(number of distinct scores) work; never the P x N kernel matrix.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _runs_from_scores(scores: Tensor, positive: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(run index of each sample, positives per run, negatives per run)``, runs = distinct scores ascending."""
    _, run = torch.unique(scores, sorted=True, return_inverse=True)
    n_runs = int(run.max()) + 1 if run.numel() else 0
    pos = torch.bincount(run[positive], minlength=n_runs)
    neg = torch.bincount(run[~positive], minlength=n_runs)
    return run, pos, neg


def _placements(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(twice_area, V10, V01)`` per run: the structural components shared by every sample of a run.

    ``V10`` of a positive is (negatives below + half the tied negatives) / N, ``V01`` of a negative is
    (positives above + half the tied positives) / P. ``twice_area`` = 2 U, summed in integers so the AUC is
    exact up to its one division, bit for bit the AUROC computed from the same counts.
    """
    n_pos, n_neg = pos.sum(), neg.sum()
    twice_neg_below = 2 * (neg.cumsum(0) - neg) + neg
    twice_pos_above = 2 * (n_pos - pos.cumsum(0)) + pos
    twice_area = (pos * twice_neg_below).sum()
    return twice_area, twice_neg_below.double() / (2.0 * n_neg), twice_pos_above.double() / (2.0 * n_pos)


def _auc_and_variance(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
    """AUC and its DeLong variance from the class counts per distinct score; NaN when a class is absent.

    The variance is NaN too with a single positive or a single negative (a sample variance of one value).
    """
    return _chunked_auc_and_variance([(pos, neg)])


def _chunked_auc_and_variance(chunks: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """:func:`_auc_and_variance` over consecutive chunks of runs (ascending), never concatenated.

    Per run, ``t = 2 * negatives below + tied negatives`` (= 2N V10) and ``u = 2 * positives above + tied
    positives`` (= 2P V01), in integers; 2U = sum of P_r t_r is exact, then the centred sums are float64.
    """
    n_pos, n_neg = sum(int(p.sum()) for p, _ in chunks), sum(int(q.sum()) for _, q in chunks)
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    if n_pos == 0 or n_neg == 0:
        return nan, nan.clone()
    twice_u, negatives_before, positives_after = 0, 0, n_pos
    placements = []
    for pos, neg in chunks:
        t = neg.cumsum(0).add_(negatives_before).mul_(2).sub_(neg)
        u = pos.cumsum(0).sub_(positives_after).mul_(-2).add_(pos)
        twice_u += int((pos * t).sum())  # integer dot (torch.dot has no integer CUDA kernel)
        negatives_before, positives_after = negatives_before + int(neg.sum()), positives_after - int(pos.sum())
        placements.append((t, u))
    auc = torch.tensor(twice_u, dtype=torch.float64) / (2.0 * n_pos * n_neg)
    if n_pos < 2 or n_neg < 2:
        return auc, nan
    s10 = s01 = 0.0
    for (pos, neg), (t, u) in zip(chunks, placements, strict=True):
        s10 += float(torch.dot(pos.double(), t.double().sub_(2.0 * n_neg * float(auc)).square_()))
        s01 += float(torch.dot(neg.double(), u.double().sub_(2.0 * n_pos * float(auc)).square_()))
    s10 /= 4.0 * n_neg * n_neg * (n_pos - 1)
    s01 /= 4.0 * n_pos * n_pos * (n_neg - 1)
    return auc, torch.tensor(s10 / n_pos + s01 / n_neg, dtype=torch.float64)


def _paired_components(scores_a: Tensor, scores_b: Tensor, positive: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Both AUCs (2,) and the per-sample structural components: V10 (P, 2) and V01 (N, 2)."""
    aucs, v10s, v01s = [], [], []
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    for scores in (scores_a, scores_b):
        run, pos, neg = _runs_from_scores(scores, positive)
        twice_area, v10, v01 = _placements(pos, neg)
        aucs.append(twice_area.double() / (2.0 * n_pos * n_neg))
        v10s.append(v10[run[positive]])
        v01s.append(v01[run[~positive]])
    return torch.stack(aucs), torch.stack(v10s, 1), torch.stack(v01s, 1)


def delong_covariance(scores_a: Tensor, scores_b: Tensor, positive: Tensor) -> tuple[Tensor, Tensor]:
    """Both AUCs (2,) and their DeLong covariance matrix (2, 2) for one binary problem scored twice.

    ``positive`` is a bool tensor; the three tensors are aligned 1-D. NaN when a class is absent; the matrix
    is NaN with a single positive or a single negative.

    Example:
        >>> import torch
        >>> aucs, cov = delong_covariance(torch.tensor([0.1, 0.8, 0.4, 0.9]), torch.tensor([0.3, 0.2, 0.6, 0.7]),
        ...                               torch.tensor([False, True, False, True]))
        >>> aucs
        tensor([1.0000, 0.5000], dtype=torch.float64)
    """
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        return nan.expand(2).clone(), nan.expand(2, 2).clone()
    aucs, v10, v01 = _paired_components(scores_a, scores_b, positive)
    if n_pos < 2 or n_neg < 2:
        return aucs, torch.full((2, 2), float("nan"), dtype=torch.float64)
    c10, c01 = v10 - aucs, v01 - aucs
    return aucs, (c10.T @ c10) / ((n_pos - 1) * n_pos) + (c01.T @ c01) / ((n_neg - 1) * n_neg)


def _z_test(aucs: Tensor, covariance: Tensor) -> tuple[Tensor, Tensor]:
    """Two-sided z test of AUC_a = AUC_b: ``z = (AUC_a - AUC_b) / sd``, ``p = erfc(|z| / sqrt(2))``."""
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    z = (aucs[0] - aucs[1]) / variance.sqrt()
    return z, torch.special.erfc(z.abs() / math.sqrt(2.0))
