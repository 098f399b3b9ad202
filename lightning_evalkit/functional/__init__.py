"""Functional twins of the metric classes: the same code, run on one batch of data."""

from lightning_evalkit.classification.auc_intervals import (
    auroc_confidence_interval,
    delong_interval_from_counts,
    delong_test,
)
from lightning_evalkit.classification.brier import brier_score
from lightning_evalkit.classification.calibration import calibration_curve, calibration_error
from lightning_evalkit.classification.confusion import confusion_matrix, sensitivity, specificity
from lightning_evalkit.classification.curves import (
    ThresholdCounts,
    precision_recall_from_counts,
    roc_from_counts,
)
from lightning_evalkit.classification.net_benefit import DecisionCurve, net_benefit
from lightning_evalkit.classification.operating_points import (
    operating_point_from_counts,
    optimal_threshold,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    youden_threshold,
)
from lightning_evalkit.classification.rate_intervals import (
    sensitivity_confidence_interval,
    specificity_confidence_interval,
)
from lightning_evalkit.classification.roc import auroc, curve_counts, roc
from lightning_evalkit.detection.boxes import box_area, box_convert, box_iou
from lightning_evalkit.detection.detection_confusion import detection_confusion_matrix
from lightning_evalkit.detection.intersection import (
    complete_box_iou,
    complete_intersection_over_union,
    distance_box_iou,
    distance_intersection_over_union,
    generalized_box_iou,
    generalized_intersection_over_union,
    intersection_over_union,
    matched_intersection_over_union,
    plain_box_iou,
)
from lightning_evalkit.detection.lvis.lvis_map import lvis_mean_average_precision
from lightning_evalkit.detection.masks import mask_iou
from lightning_evalkit.detection.mean_ap import mean_average_precision
from lightning_evalkit.detection.operating_point import detection_operating_point
from lightning_evalkit.detection.rle import rle_area, rle_decode, rle_encode, rle_to_bbox
from lightning_evalkit.detection.segmentation import mean_iou
from lightning_evalkit.detection.tide.breakdown import detection_error_breakdown
from lightning_evalkit.statistics.binomial import binomial_interval
from lightning_evalkit.statistics.delong import delong_covariance

__all__ = [
    "DecisionCurve",
    "ThresholdCounts",
    "auroc",
    "auroc_confidence_interval",
    "binomial_interval",
    "box_area",
    "box_convert",
    "box_iou",
    "brier_score",
    "calibration_curve",
    "calibration_error",
    "complete_box_iou",
    "complete_intersection_over_union",
    "confusion_matrix",
    "curve_counts",
    "distance_box_iou",
    "distance_intersection_over_union",
    "generalized_box_iou",
    "generalized_intersection_over_union",
    "delong_covariance",
    "detection_error_breakdown",
    "delong_interval_from_counts",
    "delong_test",
    "detection_confusion_matrix",
    "detection_operating_point",
    "intersection_over_union",
    "lvis_mean_average_precision",
    "mask_iou",
    "matched_intersection_over_union",
    "mean_average_precision",
    "mean_iou",
    "net_benefit",
    "plain_box_iou",
    "operating_point_from_counts",
    "optimal_threshold",
    "precision_recall_from_counts",
    "rle_area",
    "rle_decode",
    "rle_encode",
    "rle_to_bbox",
    "roc",
    "roc_from_counts",
    "sensitivity",
    "sensitivity_at_specificity",
    "sensitivity_confidence_interval",
    "specificity",
    "specificity_at_sensitivity",
    "specificity_confidence_interval",
    "youden_threshold",
]
