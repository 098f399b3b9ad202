"""Functional twins of the metric classes: the same code, run on one batch of data."""

from lightning_evalkit.functional.boxes import box_area, box_convert, box_iou
from lightning_evalkit.functional.confusion import confusion_matrix, sensitivity, specificity
from lightning_evalkit.functional.curves import (
    ThresholdCounts,
    precision_recall_from_counts,
    roc_from_counts,
    youden_threshold,
)
from lightning_evalkit.functional.detection import intersection_over_union, mean_average_precision, mean_iou
from lightning_evalkit.functional.masks import mask_iou
from lightning_evalkit.functional.rle import rle_area, rle_decode, rle_encode, rle_to_bbox
from lightning_evalkit.functional.roc import auroc, curve_counts, roc

__all__ = [
    "ThresholdCounts",
    "auroc",
    "box_area",
    "box_convert",
    "box_iou",
    "confusion_matrix",
    "curve_counts",
    "intersection_over_union",
    "mask_iou",
    "mean_average_precision",
    "mean_iou",
    "precision_recall_from_counts",
    "rle_area",
    "rle_decode",
    "rle_encode",
    "rle_to_bbox",
    "roc",
    "roc_from_counts",
    "sensitivity",
    "specificity",
    "youden_threshold",
]
