"""Argument checks and batch formatting shared by every classification metric.

Formatting validates one batch completely and returns flat tensors; it never touches metric state, so the
classes call it before they change anything.

Layouts after formatting (M = number of scored elements):
    binary:     values (M,),   target (M,)    in {0, 1}; ignore_index entries dropped
    multiclass: values (M, C), target (M,)    in [0, C); ignore_index entries dropped
    multilabel: values (M, L), target (M, L)  in {0, 1}, or -1 where target was ignore_index

The values are the input itself, checked and never transformed: probabilities, logits or raw scores, float32
(float16, bfloat16 and integer input widened, which is exact) or float64. Logits become probabilities only
where a probability is compared with a threshold (:func:`to_probabilities`, float64), so ranking them never
merges distinct inputs into ties.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from lightning_evalkit._core.checks import (
    check_choice,
    check_finite,
    check_integer,
    check_positive_int,
    check_same_shape,
    check_tensor,
    format_shape,
)

Task = Literal["binary", "multiclass", "multilabel"]
TASKS = ("binary", "multiclass", "multilabel")
AVERAGES = ("macro", "micro", "weighted", "none")
INPUT_FORMATS = ("probs", "logits", "scores")


def check_task(task: str | None) -> str:
    """Validate ``task`` (required: the metrics never infer it from the data) and return it."""
    check_choice("task", task, TASKS)
    return str(task)


def check_classification_args(
    task: str | None, num_classes: int | None, num_labels: int | None, ignore_index: int | None, input_format: str
) -> int:
    """Validate the arguments every classification metric takes.

    Binary and multilabel targets are 0/1, so an ``ignore_index`` of 0 or 1 would drop every negative or every
    positive: it is an error. A multiclass ``ignore_index`` may be a real class index, which is then left out.

    Returns:
        The number of score columns: 1 for binary, ``num_classes`` or ``num_labels`` otherwise.
    """
    check_choice("task", task, TASKS)
    check_choice("input_format", input_format, INPUT_FORMATS)
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise TypeError(f"Expected `ignore_index` to be an int or None, but got {type(ignore_index).__name__}.")
    if task != "multiclass" and ignore_index in (0, 1):
        raise ValueError(
            f"Expected `ignore_index` to be neither 0 nor 1 with task={task!r} (it would drop every "
            f"{'negative' if ignore_index == 0 else 'positive'} target), but got {ignore_index}."
        )
    if task == "binary":
        return 1
    name, value = ("num_classes", num_classes) if task == "multiclass" else ("num_labels", num_labels)
    if value is None:
        raise ValueError(f"Expected `{name}` (an int >= 2) with task={task!r}, but got None.")
    check_positive_int(name, value, minimum=2)
    return value


def check_threshold(threshold: float, input_format: str = "probs") -> float:
    """Validate a decision threshold; a value ``>= threshold`` is positive.

    Probabilities and logits take a probability in [0, 1]; raw scores any finite float, in score units.
    """
    want = "a finite float" if input_format == "scores" else "a float in [0, 1]"
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"Expected `threshold` to be {want}, but got {type(threshold).__name__}.")
    inside = math.isfinite(threshold) if input_format == "scores" else 0.0 <= threshold <= 1.0
    if not inside:
        raise ValueError(f"Expected `threshold` to be {want}, but got {threshold}.")
    return float(threshold)


def _check_target_values(target: Tensor, high: int, ignore_index: int | None) -> None:
    if target.numel() == 0 or target.dtype == torch.bool:
        return
    low_value, high_value = torch.aminmax(target)
    if int(low_value) >= 0 and int(high_value) < high:
        return  # the common case, decided by one pass
    valid = (target >= 0) & (target < high)
    if ignore_index is not None:
        valid |= target == ignore_index
    if not bool(valid.all()):
        bad = int(target[~valid][0])
        allowed = "0 and 1" if high == 2 else f"class indices in [0, {high - 1}]"
        if ignore_index is not None:
            allowed += f" (or ignore_index={ignore_index})"
        raise ValueError(f"Expected `target` to contain only {allowed}, but got {bad}.")


def _check_values(preds: Tensor, input_format: str) -> Tensor:
    """Check float preds as the format requires: probabilities in [0, 1], logits and scores finite."""
    if input_format != "probs":
        check_finite("preds", preds)
        return preds
    note = "(probabilities; pass input_format='logits' or 'scores' for unbounded values)"
    check_finite("preds", preds, within=(0.0, 1.0), range_note=note)
    return preds


def sigmoid64(logits: Tensor) -> Tensor:
    """float64 ``1 / (1 + exp(-x))``, the same for a value wherever it sits in a tensor.

    torch's vectorised sigmoid and its scalar tail loop differ in the last bit for some inputs; exp, add and
    divide do not, so the probability of a logit never depends on the batch it came in. Injective only for
    |x| below about 36 (1 - 2**-53 is the largest probability under 1): beyond, distinct logits share 1.0.
    """
    return (logits.to(torch.float64).neg().exp_() + 1.0).reciprocal_()


_LIMB_BITS = 30  # three int64 limbs cut each term at 2**-90; sums of up to 2**33 terms cannot overflow
_NORMALISER_ELEMENTS = 1 << 20  # logits per chunk of rows while normalising


def softmax_normaliser64(logits: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row float64 ``(top, total)`` of (M, C) logits: ``softmax[:, c] = exp(logits[:, c] - top) / total``.

    ``top`` is the row maximum and ``total`` the sum of ``exp(logits - top)`` over the row, added exactly in
    fixed point (:func:`_order_free_sum`), so it does not depend on the order of the classes. Rows whose
    softmax is equal (a permutation of the other classes, a shift by a constant that subtracts exactly, as
    integer-valued logits do) get the same bits; ``logit - logsumexp`` split them by rounding
    ``top + log(total)`` at the scale of ``top`` and by summing in the row's order.

    Example:
        >>> top, total = softmax_normaliser64(torch.tensor([[0.0, 1.0, 2.0], [3.0, 1.0, 2.0], [2.0, 0.0, 1.0]]))
        >>> top.tolist(), total[0] == total[1] == total[2]
        ([2.0, 3.0, 2.0], tensor(True))
    """
    top = logits.amax(-1).to(torch.float64) if logits.shape[0] else logits.new_zeros(0, dtype=torch.float64)
    rows = max(1, _NORMALISER_ELEMENTS // max(1, logits.shape[-1]))
    totals = [
        _order_free_sum((logits[lo : lo + rows].to(torch.float64) - top[lo : lo + rows, None]).exp_())
        for lo in range(0, logits.shape[0], rows)
    ]
    return top, torch.cat(totals) if totals else top.clone()


def _order_free_sum(terms: Tensor) -> Tensor:
    """Row sums of (M, C) float64 terms in [0, 1] that do not depend on the order of the terms (overwrites them).

    Each term is cut at 2**-90 into three 30-bit integer limbs (scaling by a power of two and taking the
    integer part are exact); integer sums are exact in any order, and the carried limbs are rounded to
    float64 the same way whenever they are the same.
    """
    limbs = []
    for _ in range(3):
        whole = terms.mul_(2.0**_LIMB_BITS).floor()
        limbs.append(whole.to(torch.int64).sum(-1))
        terms.sub_(whole)
    high, middle, low = limbs
    middle = middle + (low >> _LIMB_BITS)
    high = high + (middle >> _LIMB_BITS)
    mask = (1 << _LIMB_BITS) - 1
    middle, low = (middle & mask).double(), (low & mask).double()
    unit = 2.0**-_LIMB_BITS
    return high.double() * unit + (middle * unit**2 + low * unit**3)


def apply_softmax64(logits: Tensor, normaliser: tuple[Tensor, Tensor]) -> Tensor:
    """float64 ``exp(logits - top) / total``, ``normaliser = (top, total)`` broadcast against ``logits``.

    Subtraction, exp and division give the same bits for a value wherever it sits, so exact mode (class columns
    in blocks) and binned mode (whole batches) compute identical probabilities.
    """
    top, total = normaliser
    return (logits.to(torch.float64) - top).exp_().div_(total)


def to_probabilities(values: Tensor, task: str, input_format: str) -> Tensor:
    """Formatted values as probabilities where the format is logits (float64); others are returned as they are."""
    if input_format != "logits":
        return values
    if task != "multiclass":
        return sigmoid64(values)
    top, total = softmax_normaliser64(values)
    return apply_softmax64(values, (top.unsqueeze(-1), total.unsqueeze(-1)))


def threshold_in_dtype(thresholds: Tensor, dtype: torch.dtype) -> Tensor:
    """The smallest values of ``dtype`` at or above each float64 threshold.

    For a score ``s`` of that dtype, ``s >= result`` exactly when ``s >= threshold`` in float64, so counting
    float32 scores needs no float64 copy of them.
    """
    narrow = thresholds.to(dtype)
    rounded_down = narrow.to(torch.float64) < thresholds
    return torch.where(rounded_down, torch.nextafter(narrow, torch.full_like(narrow, float("inf"))), narrow)


def _check_preds_tensor(preds: object, target: object) -> tuple[Tensor, Tensor]:
    preds = check_tensor("preds", preds)
    target = check_tensor("target", target)
    check_integer("target", target)
    if preds.is_complex():
        raise TypeError(f"Expected `preds` to have a floating-point dtype, but got {preds.dtype}.")
    return preds, target


def _as_float(preds: Tensor) -> Tensor:
    # integer or bool preds are hard 0/1 predictions: scores of exactly 0 or 1; half precision is widened
    return preds if preds.dtype in (torch.float32, torch.float64) else preds.to(torch.float32)


def _class_last(x: Tensor, columns: int) -> Tensor:
    """(N, C, ...) -> (N * ..., C)."""
    return x.movedim(1, -1).reshape(-1, columns)


def format_scores(
    preds: object, target: object, task: str, columns: int, ignore_index: int | None, input_format: str
) -> tuple[Tensor, Tensor]:
    """Validate one batch and return ``(values, target)`` in the flat layout of this module (values untransformed)."""
    preds, target = _check_preds_tensor(preds, target)
    if task == "multiclass":
        if not preds.is_floating_point():
            raise TypeError(f"Expected `preds` to have a floating-point dtype, but got {preds.dtype}.")
        _check_multiclass_shape(preds, target, columns)
        _check_target_values(target, columns, ignore_index)
        scores, flat_target = _class_last(_as_float(preds), columns), target.reshape(-1)
        keep = None if ignore_index is None else flat_target != ignore_index
        scores = _check_values(scores if keep is None else scores[keep], input_format)
        return scores, (flat_target if keep is None else flat_target[keep]).long()
    check_same_shape("preds", preds, "target", target)
    if task == "multilabel":
        _check_multilabel_shape(preds, columns)
    _check_target_values(target, 2, ignore_index)
    if task == "multilabel":
        scores, flat_target = _class_last(_as_float(preds), columns), _class_last(target, columns).long()
        if ignore_index is not None:
            flat_target = flat_target.masked_fill(flat_target == ignore_index, -1)
        return _check_values(scores, input_format), flat_target
    scores, flat_target = _as_float(preds).reshape(-1), target.reshape(-1).long()
    if ignore_index is not None:
        keep = flat_target != ignore_index
        scores, flat_target = scores[keep], flat_target[keep]
    return _check_values(scores, input_format), flat_target


def format_labels(
    preds: object,
    target: object,
    task: str,
    columns: int,
    ignore_index: int | None,
    input_format: str,
    threshold: float,
) -> tuple[Tensor, Tensor]:
    """Validate one batch and return hard ``(predicted, target)`` labels in the flat layout of this module.

    Binary and multilabel values are positive iff ``value >= threshold`` (logits: their float64 sigmoid);
    multiclass takes the arg-max of the values, or accepts integer class predictions shaped like ``target``.
    """
    if task == "multiclass" and isinstance(preds, Tensor) and not preds.is_floating_point():
        _, target_t = _check_preds_tensor(preds, target)
        check_same_shape("preds", preds, "target", target_t)
        _check_target_values(target_t, columns, ignore_index)
        _check_predicted_classes(preds, columns)
        predicted, flat_target = preds.reshape(-1).long(), target_t.reshape(-1).long()
        if ignore_index is not None:
            keep = flat_target != ignore_index
            predicted, flat_target = predicted[keep], flat_target[keep]
        return predicted, flat_target
    scores, flat_target = format_scores(preds, target, task, columns, ignore_index, input_format)
    if task == "multiclass":
        return scores.argmax(dim=-1), flat_target
    scores = to_probabilities(scores, task, input_format)
    cut = threshold_in_dtype(torch.tensor(threshold, dtype=torch.float64, device=scores.device), scores.dtype)
    return (scores >= cut).long(), flat_target


def _check_predicted_classes(preds: Tensor, columns: int) -> None:
    if preds.numel() and (bool(preds.min() < 0) or bool(preds.max() >= columns)):
        bad = int(preds[(preds < 0) | (preds >= columns)][0])
        raise ValueError(f"Expected integer `preds` to contain class indices in [0, {columns - 1}], but got {bad}.")


def _check_multiclass_shape(preds: Tensor, target: Tensor, columns: int) -> None:
    expected = (target.shape[0], columns, *target.shape[1:]) if target.ndim else None
    if expected is None or tuple(preds.shape) != expected:
        want = format_shape(expected) if expected is not None else "(N, C, ...)"
        raise ValueError(
            f"Expected `preds` to have shape {want} (N, C, ...) for target of shape "
            f"{format_shape(target.shape)} and num_classes={columns}, but got {format_shape(preds.shape)}."
        )


def _check_multilabel_shape(preds: Tensor, columns: int) -> None:
    if preds.ndim < 2 or preds.shape[1] != columns:
        raise ValueError(
            f"Expected `preds` and `target` to have shape (N, {columns}, ...) for num_labels={columns}, "
            f"but got {format_shape(preds.shape)}."
        )
