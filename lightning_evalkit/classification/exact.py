"""Exact-mode counting: one sort of the stored values, then counts or the AUC run by run of equal values.

The stored values are the input itself (probabilities, logits or raw scores, float32 or float64), so ranking
them never merges what the input distinguishes. Sorting uses integer keys: a float's bits, with the sign-flip
that makes signed integers order like the floats (negatives included), shifted left to carry the label in
the low bit. On CPU the keys are sorted in place by numpy (no index array, several times faster than
``torch.sort``).

AUROC never materialises the curve: the sorted keys are walked in chunks that end on a run boundary, and the
Mann-Whitney sum is accumulated in integers, so compute memory is the keys plus one chunk's temporaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn.functional import one_hot

from lightning_evalkit.classification.inputs import (
    apply_softmax64,
    sigmoid64,
    softmax_normaliser64,
    to_probabilities,
)

_CHUNK = 1 << 20
_BLOCK_ELEMENTS = 1 << 20  # values per transposed block of classes (4 MiB of float32)
_INT_OF = {torch.float32: torch.int32, torch.float64: torch.int64}


class SortedProblem(NamedTuple):
    """One binary problem sorted ascending by value.

    ``keys`` are packed ``value_key << 1 | label`` when ``labels`` is None; otherwise ``keys`` are the sorted
    float values and ``labels`` the bool labels in the same order (float64 values of magnitude 2 or more,
    whose keys leave no bit for the label).
    """

    keys: Tensor
    labels: Tensor | None
    dtype: torch.dtype


def _value_keys(values: Tensor, signed: bool = True) -> Tensor:
    """Signed integers that order like the floats: non-negative bits as they are, negative ones sign-flipped.

    ``signed=False`` promises no negative value and skips the flip.
    """
    int_dtype = _INT_OF[values.dtype]
    bits = (values + 0.0).view(int_dtype)  # a contiguous copy; adding 0.0 turns -0.0 into +0.0
    if not signed:
        return bits
    width = torch.iinfo(int_dtype).bits
    return bits.bitwise_xor_((bits >> (width - 1)) & torch.iinfo(int_dtype).max)


def _float_of_keys(keys: Tensor, dtype: torch.dtype) -> Tensor:
    """Inverse of :func:`_value_keys` (the sign-flip is its own inverse)."""
    int_dtype = _INT_OF[dtype]
    keys = keys.to(int_dtype)
    width = torch.iinfo(int_dtype).bits
    return (keys ^ ((keys >> (width - 1)) & torch.iinfo(int_dtype).max)).view(dtype)


def _sort_in_place(keys: Tensor) -> Tensor:
    if keys.device.type == "cpu":
        keys.numpy().sort()
        return keys
    return torch.sort(keys).values


def sort_problem(values: Tensor, positive: Tensor) -> SortedProblem:
    """Sort one binary problem's float32 or float64 values, carrying each label along."""
    low, high = (float(v) for v in torch.aminmax(values)) if values.numel() else (0.0, 0.0)
    keys = _value_keys(values, signed=low < 0)
    if not -2.0 < low <= high < 2.0:  # |value| < 2 leaves the top bit of the key free for the label
        if keys.dtype == torch.int32:
            keys = keys.long()
        else:
            del keys
            sorted_values, order = torch.sort(values)
            return SortedProblem(sorted_values, positive[order], values.dtype)
    keys = keys.bitwise_left_shift_(1).bitwise_or_(positive.to(keys.dtype))
    return SortedProblem(_sort_in_place(keys), None, values.dtype)


def _value_and_label(problem: SortedProblem, lo: int, hi: int) -> tuple[Tensor, Tensor]:
    if problem.labels is None:
        chunk = problem.keys[lo:hi]
        return chunk >> 1, chunk & 1
    return problem.keys[lo:hi], problem.labels[lo:hi]


def _run_end(problem: SortedProblem, index: int) -> int:
    """The first position whose value is greater than the value at ``index``."""
    keys = problem.keys
    if problem.labels is None:
        first_above = ((keys[index : index + 1] >> 1) + 1) << 1
        return int(torch.searchsorted(keys, first_above))
    return int(torch.searchsorted(keys, keys[index : index + 1], right=True))


def _runs(problem: SortedProblem) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Per chunk of whole runs of equal values: ``(value keys, positives, size)`` of each run, ascending."""
    total, lo = problem.keys.numel(), 0
    while lo < total:
        hi = total if lo + _CHUNK >= total else _run_end(problem, lo + _CHUNK - 1)
        value, label = _value_and_label(problem, lo, hi)
        is_start = torch.ones(hi - lo, dtype=torch.bool, device=value.device)
        torch.ne(value[1:], value[:-1], out=is_start[1:])
        starts = is_start.nonzero().squeeze(1)
        del is_start
        positives_through = label.cumsum(0)
        ends = torch.cat([starts[1:], starts.new_full((1,), hi - lo)])
        positives_at_end = positives_through[ends - 1]
        run_positives = positives_at_end.diff(prepend=positives_at_end.new_zeros(1))
        yield value[starts], run_positives, ends - starts
        lo = hi


def exact_counts(problem: SortedProblem, sigmoid_thresholds: bool = False) -> tuple[Tensor, ...]:
    """``(thresholds, tp, fp, tn, fn)`` at each distinct value, thresholds ascending float64.

    With ``sigmoid_thresholds`` the values are logits and the thresholds their float64 sigmoid, so they
    compare with what :func:`sigmoid64` gives the other metrics.
    """
    runs = list(_runs(problem))
    device = problem.keys.device
    if not runs:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return (empty.double(), empty, empty, empty, empty)
    value_keys, run_positives, run_sizes = (torch.cat(parts) for parts in zip(*runs, strict=True))
    values = value_keys if problem.labels is not None else _float_of_keys(value_keys, problem.dtype)
    thresholds = sigmoid64(values) if sigmoid_thresholds else values.to(torch.float64)
    total, n_positive = problem.keys.numel(), run_positives.sum()
    tp = n_positive - (run_positives.cumsum(0) - run_positives)
    fp = (total - (run_sizes.cumsum(0) - run_sizes)) - tp
    return thresholds, tp, fp, (total - n_positive) - fp, n_positive - tp


def exact_auc(problem: SortedProblem) -> tuple[Tensor, int]:
    """``(AUC, number of positives)`` straight from the sorted problem; AUC NaN when one class is absent.

    The AUC is the Mann-Whitney U with ties counted one half over P * N, summed in integers, so it equals
    the trapezoidal area under the ROC curve up to the final division.
    """
    twice_u, n_pos, n_neg = _twice_u_packed(problem) if problem.labels is None else _twice_u_runs(problem)
    if n_pos == 0 or n_neg == 0:
        return torch.tensor(float("nan"), dtype=torch.float64), n_pos
    return torch.tensor(twice_u / (2.0 * n_pos * n_neg), dtype=torch.float64), n_pos


def _twice_u_packed(problem: SortedProblem) -> tuple[int, int, int]:
    """2U from packed keys, where a run's negatives sort before its positives.

    A positive at position i then has ``i - (positives before it)`` negatives at or below its value, so
    ``2U = 2 * (sum of positive positions - P (P - 1) / 2) - sum over runs of P_r * N_r``; the correction
    needs only the runs holding both labels, found where an even key is followed by itself plus one.
    """
    keys, total = problem.keys, problem.keys.numel()
    position_sum, n_pos, ties = 0, 0, 0
    offsets = torch.arange(min(total, _CHUNK), device=keys.device)
    for lo in range(0, total, _CHUNK):
        hi = min(lo + _CHUNK, total)
        label = keys[lo:hi] & 1
        chunk_positives = int(label.sum())
        n_pos += chunk_positives
        position_sum += int((label * offsets[: hi - lo]).sum()) + lo * chunk_positives
        window = keys[lo : min(hi + 1, total)]
        mixed = (window[1:] ^ window[:-1]) == 1  # sorted keys 2k, 2k + 1: a negative, then a positive, tie
        if bool(mixed.any()):
            ties += _tie_products(keys, mixed.nonzero().squeeze(1) + lo)
    return 2 * (position_sum - n_pos * (n_pos - 1) // 2) - ties, n_pos, total - n_pos


def _tie_products(keys: Tensor, last_negative: Tensor) -> int:
    """Sum of P_r * N_r over the runs whose last negative sits at ``last_negative`` in sorted packed ``keys``."""
    run_key = keys[last_negative]
    negatives = last_negative + 1 - torch.searchsorted(keys, run_key)
    positives = torch.searchsorted(keys, run_key + 1, right=True) - (last_negative + 1)
    return int((negatives * positives).sum())


def block_aucs(values: Tensor, positive: Tensor) -> tuple[Tensor, Tensor] | None:
    """``(AUC, positives)`` of each row of a (B, M) block of one-vs-rest problems, from one sort of its rows.

    Whole-block operations keep the per-class cost low when there are many classes. None when a value's
    magnitude is 2 or more (no free bit for the label): the caller then goes class by class.
    """
    low, high = (float(v) for v in torch.aminmax(values)) if values.numel() else (0.0, 0.0)
    if not -2.0 < low <= high < 2.0:
        return None
    keys = _value_keys(values, signed=low < 0).bitwise_left_shift_(1).bitwise_or_(positive.to(_INT_OF[values.dtype]))
    keys = _sort_in_place(keys)
    label = keys & 1
    n_pos = label.sum(1)
    position_sum = (label * torch.arange(keys.shape[1], device=keys.device)).sum(1)
    del label
    ties = torch.zeros_like(n_pos)
    mixed = (keys[:, 1:] ^ keys[:, :-1]) == 1
    for row in mixed.any(1).nonzero().flatten().tolist():
        ties[row] = _tie_products(keys[row], mixed[row].nonzero().squeeze(1))
    n_neg = keys.shape[1] - n_pos
    twice_u = 2 * (position_sum - n_pos * (n_pos - 1) // 2) - ties
    aucs = twice_u.double() / (2.0 * n_pos.double() * n_neg.double())
    return torch.where((n_pos == 0) | (n_neg == 0), float("nan"), aucs).cpu(), n_pos.cpu()


def _twice_u_runs(problem: SortedProblem) -> tuple[int, int, int]:
    """2U run by run, ``sum over runs of P_r * (2 * N_below + N_r)`` (any label order within a run)."""
    twice_u, negatives_below, n_pos = 0, 0, 0
    for _, run_positives, run_sizes in _runs(problem):
        run_negatives = run_sizes - run_positives
        below = negatives_below + (run_negatives.cumsum(0) - run_negatives)
        twice_u += int((run_positives * (2 * below + run_negatives)).sum())
        negatives_below += int(run_negatives.sum())
        n_pos += int(run_positives.sum())
    return twice_u, n_pos, negatives_below


def class_problems(
    values: Tensor, target: Tensor, task: str, columns: int, input_format: str
) -> Iterator[tuple[Tensor, Tensor]]:
    """One-vs-rest ``(values, is_positive)`` per class from the exact state, one class at a time.

    Columns are read through contiguous blocks of a few classes (a strided column is several times slower
    to scan), so no full transposed copy is made. Multiclass logits become their float64 softmax column by
    column; other values are ranked as stored.
    """
    if task == "binary":
        yield values, target == 1
        return
    norm = softmax_normaliser64(values) if task == "multiclass" and input_format == "logits" else None
    block = max(1, _BLOCK_ELEMENTS // max(1, values.shape[0]))
    for first in range(0, columns, block):
        block_values = values[:, first : first + block].T.contiguous()
        block_target = target[:, first : first + block].T.contiguous() if task == "multilabel" else None
        for offset, column in enumerate(block_values):
            c = first + offset
            if block_target is None:
                yield (column if norm is None else apply_softmax64(column, norm)), target == c
                continue
            labels = block_target[offset]
            kept = labels >= 0
            if bool(kept.all()):
                yield column, labels == 1
            else:
                yield column[kept], labels[kept] == 1


def _class_blocks(
    values: Tensor, target: Tensor, task: str, columns: int, input_format: str, classes: Tensor | None = None
) -> Iterator[tuple[Tensor, Tensor]]:
    """``(values, is_positive)`` of blocks of one-vs-rest problems, (B, M) rows, multiclass or multilabel.

    A block's classes (all ``columns``, or only ``classes``, in that order) are transposed to contiguous rows;
    multiclass logits become their float64 softmax. Multilabel targets must hold no ignored entry (every row
    the same length).
    """
    norm = softmax_normaliser64(values) if task == "multiclass" and input_format == "logits" else None
    block = max(1, _BLOCK_ELEMENTS // max(1, values.shape[0]))
    wanted = torch.arange(columns, device=values.device) if classes is None else classes.to(values.device)
    for first in range(0, wanted.numel(), block):
        index = wanted[first : first + block]
        block_values = _columns(values, index, classes is None).T.contiguous()
        if norm is not None:
            block_values = apply_softmax64(block_values, norm)
        if task == "multiclass":
            yield block_values, target == index.unsqueeze(1)
        else:
            yield block_values, _columns(target, index, classes is None).T == 1


def _columns(matrix: Tensor, index: Tensor, neighbours: bool) -> Tensor:
    """The columns ``index`` of ``matrix``: a slice when they are neighbours (no copy), else a gather."""
    if neighbours:
        return matrix[:, int(index[0]) : int(index[-1]) + 1]
    return matrix.index_select(1, index)


def _blocks_apply(task: str, target: Tensor) -> bool:
    """Whether the classes can go through :func:`_class_blocks` (not binary, no ignored multilabel entry)."""
    return task != "binary" and not (task == "multilabel" and bool((target < 0).any()))


def exact_class_aucs(
    values: Tensor, target: Tensor, task: str, columns: int, input_format: str
) -> tuple[Tensor, Tensor]:
    """``(AUC, positives)`` per class from the exact state: blocks of classes at once where they allow it."""
    if not _blocks_apply(task, target):
        results = [
            exact_auc(sort_problem(v, p)) for v, p in class_problems(values, target, task, columns, input_format)
        ]
        return torch.stack([auc for auc, _ in results]), torch.tensor([n for _, n in results])
    aucs, positives = [], []
    for block_values, block_positive in _class_blocks(values, target, task, columns, input_format):
        result = block_aucs(block_values, block_positive)
        if result is None:
            rows = [exact_auc(sort_problem(v, p)) for v, p in zip(block_values, block_positive, strict=True)]
            result = torch.stack([auc for auc, _ in rows]), torch.tensor([n for _, n in rows])
        aucs.append(result[0])
        positives.append(result[1])
    return torch.cat(aucs), torch.cat(positives)


def exact_class_counts(
    values: Tensor, target: Tensor, task: str, columns: int, input_format: str, classes: Tensor | None = None
) -> list[tuple[Tensor, ...]]:
    """:func:`exact_counts` of every class (or of ``classes``, in that order) from the exact state: blocks of
    classes at once where they allow it.

    Each class's ``(thresholds, tp, fp, tn, fn)`` equals, bit for bit, what sorting that class alone gives, so
    asking for a few classes gives exactly their entries of the full list, without the cost of the others.
    """
    sigmoid = ranks_logits(task, input_format)
    if not _blocks_apply(task, target):
        problems = class_problems(values, target, task, columns, input_format)
        if classes is None:
            return [exact_counts(sort_problem(v, p), sigmoid) for v, p in problems]
        wanted = classes.tolist()
        found = {c: exact_counts(sort_problem(v, p), sigmoid) for c, (v, p) in enumerate(problems) if c in wanted}
        return [found[c] for c in wanted]
    per_class: list[tuple[Tensor, ...]] = []
    for block_values, block_positive in _class_blocks(values, target, task, columns, input_format, classes):
        rows = block_counts(block_values, block_positive, sigmoid)
        if rows is None:
            rows = [
                exact_counts(sort_problem(v, p), sigmoid) for v, p in zip(block_values, block_positive, strict=True)
            ]
        per_class.extend(rows)
    return per_class


def block_counts(values: Tensor, positive: Tensor, sigmoid_thresholds: bool = False) -> list[tuple[Tensor, ...]] | None:
    """:func:`exact_counts` of each row of a (B, M) block, from one row-wise sort and whole-block operations.

    None when float64 values of magnitude 2 or more leave no key bit for the label (the caller goes row by row).
    The per-row results are views into block-wide tensors, split at the row boundaries.
    """
    low, high = (float(v) for v in torch.aminmax(values)) if values.numel() else (0.0, 0.0)
    keys = _value_keys(values, signed=low < 0)
    if not -2.0 < low <= high < 2.0:
        if keys.dtype != torch.int32:
            return None
        keys = keys.long()
    keys = _sort_in_place(keys.bitwise_left_shift_(1).bitwise_or_(positive.to(keys.dtype)))
    rows, width = keys.shape
    value, label = keys >> 1, keys & 1
    n_positive = label.sum(1, keepdim=True, dtype=torch.int64)
    tp = label.cumsum(1).sub_(label).neg_().add_(n_positive)  # positives at or above each position
    del label
    at_or_above = width - torch.arange(width, device=keys.device)
    fp = at_or_above - tp
    fields = [value, tp, fp, (width - n_positive) - fp, n_positive - tp]
    is_start = torch.ones_like(value, dtype=torch.bool)
    torch.ne(value[:, 1:], value[:, :-1], out=is_start[:, 1:])
    runs = is_start.sum(1)
    if int(runs.sum()) < rows * width:  # ties: keep the first position of each run
        starts = is_start.view(-1).nonzero().squeeze(1)
        fields = [field.view(-1).index_select(0, starts) for field in fields]
    else:  # all distinct: every position starts a run
        fields = [field.view(-1) for field in fields]
    del is_start
    value_at = _float_of_keys(fields[0], values.dtype)
    fields[0] = sigmoid64(value_at) if sigmoid_thresholds else value_at.to(torch.float64)
    return list(zip(*(field.split(runs.tolist()) for field in fields), strict=True))


def pooled_problem(values: Tensor, target: Tensor, task: str, columns: int, input_format: str) -> tuple[Tensor, Tensor]:
    """The micro problem: every (sample, class) pair one binary decision."""
    if task == "multiclass":
        values = to_probabilities(values, task, input_format)
        return values.reshape(-1), one_hot(target, columns).reshape(-1) == 1
    kept = target >= 0
    return values[kept], target[kept] == 1


def ranks_logits(task: str, input_format: str) -> bool:
    """Whether the ranked values are logits whose thresholds are reported as their sigmoid."""
    return input_format == "logits" and task != "multiclass"
