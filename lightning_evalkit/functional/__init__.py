"""Functional twins of the metric classes: the same code, run on one batch of data."""

from lightning_evalkit.functional.boxes import box_area, box_convert, box_iou, mask_iou
from lightning_evalkit.functional.confusion import confusion_matrix, sensitivity, specificity
from lightning_evalkit.functional.curves import (
    ThresholdCounts,
    precision_recall_from_counts,
    roc_from_counts,
    youden_threshold,
)
from lightning_evalkit.functional.detection import matched_intersection_over_union, mean_average_precision, mean_iou
from lightning_evalkit.functional.intersection import (
    complete_box_iou,
    complete_intersection_over_union,
    distance_box_iou,
    distance_intersection_over_union,
    generalized_box_iou,
    generalized_intersection_over_union,
    intersection_over_union,
    plain_box_iou,
)
from lightning_evalkit.functional.roc import auroc, curve_counts, roc

__all__ = [
    "ThresholdCounts",
    "auroc",
    "box_area",
    "box_convert",
    "box_iou",
    "complete_box_iou",
    "complete_intersection_over_union",
    "confusion_matrix",
    "curve_counts",
    "distance_box_iou",
    "distance_intersection_over_union",
    "generalized_box_iou",
    "generalized_intersection_over_union",
    "intersection_over_union",
    "mask_iou",
    "matched_intersection_over_union",
    "mean_average_precision",
    "mean_iou",
    "plain_box_iou",
    "precision_recall_from_counts",
    "roc",
    "roc_from_counts",
    "sensitivity",
    "specificity",
    "youden_threshold",
]
