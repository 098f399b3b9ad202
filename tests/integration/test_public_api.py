"""Every public name of the release before the family layout still imports from the same path."""

from __future__ import annotations

import importlib

import pytest

# The __all__ of each public module before the layout moved into family folders (read from that commit).
BEFORE_THE_LAYOUT = {
    "lightning_evalkit": (
        "AUROC ROC CompleteIntersectionOverUnion ConfusionMatrix DistanceIntersectionOverUnion DeLongTest "
        "EvalCallback GeneralizedIntersectionOverUnion IntersectionOverUnion MatchedIntersectionOverUnion "
        "MeanAveragePrecision MeanIoU Sensitivity SensitivityAtSpecificity Specificity "
        "SpecificityAtSensitivity "
    ),
    "lightning_evalkit.functional": (
        "ThresholdCounts auroc auroc_confidence_interval binomial_interval box_area box_convert box_iou "
        "complete_box_iou complete_intersection_over_union confusion_matrix curve_counts distance_box_iou "
        "distance_intersection_over_union generalized_box_iou generalized_intersection_over_union "
        "delong_covariance delong_interval_from_counts delong_test intersection_over_union mask_iou "
        "matched_intersection_over_union mean_average_precision mean_iou plain_box_iou "
        "operating_point_from_counts optimal_threshold precision_recall_from_counts rle_area rle_decode "
        "rle_encode rle_to_bbox roc roc_from_counts sensitivity sensitivity_at_specificity "
        "sensitivity_confidence_interval specificity specificity_at_sensitivity "
        "specificity_confidence_interval youden_threshold "
    ),
    "lightning_evalkit.plotting": (
        "ClassNames MarkedPoint figure_to_rgb plot_confusion_matrix plot_detection_pr_curves "
        "plot_per_class_ap plot_precision_recall plot_roc plot_roc_one_vs_rest plot_sensitivity_specificity "
    ),
    "lightning_evalkit.coco": ("coco_to_tm evaluate_coco format_summary load_coco main tm_to_coco "),
}


@pytest.mark.parametrize("module", sorted(BEFORE_THE_LAYOUT))
def test_public_names_import_from_their_old_path(module: str) -> None:
    imported = importlib.import_module(module)
    names = BEFORE_THE_LAYOUT[module].split()
    assert [name for name in names if not hasattr(imported, name)] == []
    assert set(names) <= set(imported.__all__)
