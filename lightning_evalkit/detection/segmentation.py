"""Semantic segmentation: mean IoU from class-index maps (``mean_iou`` and the ``MeanIoU`` metric it runs)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from lightning_evalkit._core.checks import check_positive_int
from lightning_evalkit._core.rank_warnings import rank_zero_warn
from lightning_evalkit._core.state_dtypes import check_bool, keep_dtypes_apply
from lightning_evalkit.detection.mean_ap import _mean_defined

__all__ = ["MeanIoU", "mean_iou"]


def _mean_iou_check(preds: Any, target: Any, num_classes: int, ignore_index: int | None) -> None:
    """Check class-index maps: integer tensors of one shape, values in [0, num_classes) (or ignore_index)."""
    for name, value in (("preds", preds), ("target", target)):
        if not isinstance(value, Tensor):
            raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(value).__name__}.")
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"Expected `{name}` to hold integer class indices, but got dtype {value.dtype}.")
    if preds.shape != target.shape:
        raise ValueError(
            f"Expected `preds` and `target` to have the same shape, but got {tuple(preds.shape)} and "
            f"{tuple(target.shape)}."
        )
    for name, value in (("preds", preds), ("target", target)):
        values = value[value != ignore_index] if ignore_index is not None and name == "target" else value
        if values.numel() and (bool((values < 0).any()) or bool((values >= num_classes).any())):
            bad = values[(values < 0) | (values >= num_classes)][0].item()
            allowed = f"[0, {num_classes})" + ("" if ignore_index is None else f" or {ignore_index}")
            raise ValueError(f"Expected `{name}` values to lie in {allowed}, but got {bad}.")


def _mean_iou_update(
    preds: Tensor, target: Tensor, num_classes: int, ignore_index: int | None
) -> tuple[Tensor, Tensor]:
    """Per-class pixel counts (C,) of intersection and union; pixels whose target is ignore_index are
    skipped."""
    preds, target = preds.flatten(), target.flatten()
    if ignore_index is not None:
        keep = target != ignore_index
        preds, target = preds[keep], target[keep]
    intersection = torch.bincount(target[preds == target], minlength=num_classes)
    union = torch.bincount(preds, minlength=num_classes) + torch.bincount(target, minlength=num_classes)
    return intersection, union - intersection


def _mean_iou_compute(intersection: Tensor, union: Tensor, per_class: bool) -> dict[str, Tensor]:
    """IoU per class (-1 where a class never occurs in preds or target) and their mean over the defined
    ones."""
    defined = union > 0
    per_class_iou = torch.where(defined, intersection.double() / union.clamp(min=1), -1.0)
    if not bool(defined.all()):
        missing = torch.nonzero(~defined).flatten().tolist()
        rank_zero_warn(f"Classes {missing} never occur in preds or target: IoU -1, left out of the mean.", stacklevel=3)
    result = {"miou": _mean_defined(per_class_iou).float()}
    if per_class:
        result["iou_per_class"] = per_class_iou.float()
    return result


def mean_iou(
    preds: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None, per_class: bool = False
) -> dict[str, Tensor]:
    """Semantic-segmentation mean IoU from class-index maps, counts summed over all pixels given.

    The functional twin of :class:`lightning_evalkit.MeanIoU`, which documents the averaging.

    Example:
        >>> import torch
        >>> preds = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 1]])
        >>> target = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 255]])
        >>> result = mean_iou(preds, target, num_classes=3, ignore_index=255, per_class=True)
        >>> result["iou_per_class"], round(result["miou"].item(), 4)
        (tensor([0.3333, 0.6667, 0.6667]), 0.5556)
    """
    check_positive_int("num_classes", num_classes)
    _mean_iou_check(preds, target, num_classes, ignore_index)
    intersection, union = _mean_iou_update(preds, target, num_classes, ignore_index)
    return _mean_iou_compute(intersection, union, per_class)


class MeanIoU(Metric):
    """Semantic-segmentation mean IoU from class-index maps, with per-class counts summed over all data.

    For each class c, over every pixel of every update (pixels whose target is ``ignore_index`` skipped):
    intersection_c = #(pred == c and target == c), union_c = #(pred == c or target == c), and
    IoU_c = intersection_c / union_c. ``miou`` is the mean of IoU_c over the classes with union_c > 0 (a class
    absent from both preds and target is -1 in ``iou_per_class``, left out of the mean, with a warning).
    This is the dataset-level mIoU (as in mmsegmentation), not a mean of per-image IoUs.

    Args:
        num_classes: Number of classes; values of preds and target lie in [0, num_classes).
        ignore_index: Target value marking pixels to skip (e.g. 255).
        per_class: Also return ``iou_per_class`` (num_classes,).
        kwargs: Passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> metric = MeanIoU(num_classes=2)
        >>> metric.update(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 1], [0, 1]]))
        >>> round(metric.compute()["miou"].item(), 4)
        0.5833
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    intersection: Tensor
    union: Tensor

    def __init__(
        self, num_classes: int, ignore_index: int | None = None, per_class: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        check_positive_int("num_classes", num_classes)
        if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
            raise TypeError(f"Expected `ignore_index` to be None or an int, but got {type(ignore_index).__name__}.")
        check_bool("per_class", per_class)
        self.num_classes, self.ignore_index, self.per_class = num_classes, ignore_index, per_class
        self.add_state("intersection", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("union", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    _apply = keep_dtypes_apply

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add the pixel counts of integer class maps ``preds`` and ``target`` of one shape."""
        _mean_iou_check(preds, target, self.num_classes, self.ignore_index)
        intersection, union = _mean_iou_update(preds, target, self.num_classes, self.ignore_index)
        self.intersection += intersection.to(self.intersection.device)
        self.union += union.to(self.union.device)

    def compute(self) -> dict[str, Tensor]:
        """IoU per class from the summed counts and their mean."""
        return _mean_iou_compute(self.intersection, self.union, self.per_class)

    def plot(self, val: Any = None, ax: Any = None) -> tuple[Any, Any]:
        """Draw its value(s) as bars without pyplot; returns ``(figure, axes)`` as torchmetrics does."""
        from lightning_evalkit.plotting.values import plot_value_metric

        return plot_value_metric(self, val, ax)
