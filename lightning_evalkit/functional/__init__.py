"""Functional twins of the metric classes: the same code, run on one batch of data."""

from lightning_evalkit.functional.boxes import box_area, box_convert, box_iou, mask_iou
from lightning_evalkit.functional.detection import intersection_over_union, mean_average_precision, mean_iou

__all__: list[str] = []
__all__ += [
    "box_area",
    "box_convert",
    "box_iou",
    "intersection_over_union",
    "mask_iou",
    "mean_average_precision",
    "mean_iou",
]
