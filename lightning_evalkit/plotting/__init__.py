"""Figure builders for classification and detection curves (numpy and matplotlib only, no metric code).

Each function takes values that are already computed and returns a ``matplotlib.figure.Figure`` on an Agg
canvas; none touches ``matplotlib.pyplot``, so a long run cannot leak figures. ``curves``: ROC, sensitivity and
specificity against threshold, precision-recall, one-vs-rest ROC; ``matrix``: confusion matrices; ``detection``:
detection PR curves and per-class AP; ``per_class``: one per-class metric as sorted bars; ``errors``: TIDE's
error breakdown; ``clinical``: reliability diagrams and decision curves; ``base``, ``bars`` and ``text``: the
shared layout, bar drawing and fast text.
"""

from lightning_evalkit.plotting.base import ClassNames, MarkedPoint
from lightning_evalkit.plotting.clinical import plot_decision_curve, plot_reliability_diagram
from lightning_evalkit.plotting.curves import (
    figure_to_rgb,
    plot_precision_recall,
    plot_roc,
    plot_roc_one_vs_rest,
    plot_sensitivity_specificity,
)
from lightning_evalkit.plotting.detection import plot_detection_pr_curves, plot_per_class_ap
from lightning_evalkit.plotting.detection_matrix import plot_detection_confusion_matrix
from lightning_evalkit.plotting.errors import plot_error_breakdown
from lightning_evalkit.plotting.matrix import plot_confusion_matrix
from lightning_evalkit.plotting.operating_point import plot_f1_confidence
from lightning_evalkit.plotting.per_class import plot_per_class_values

__all__ = [
    "ClassNames",
    "MarkedPoint",
    "figure_to_rgb",
    "plot_confusion_matrix",
    "plot_decision_curve",
    "plot_detection_confusion_matrix",
    "plot_detection_pr_curves",
    "plot_f1_confidence",
    "plot_error_breakdown",
    "plot_per_class_ap",
    "plot_per_class_values",
    "plot_precision_recall",
    "plot_reliability_diagram",
    "plot_roc",
    "plot_roc_one_vs_rest",
    "plot_sensitivity_specificity",
]
