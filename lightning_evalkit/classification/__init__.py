"""Classification: the metric classes and the functional code they run.

- ``inputs``: one parse of (preds, target) per task and input format; ``confusion``: confusion counts, sensitivity,
  specificity; ``curves``, ``roc``, ``exact``: threshold counts, the one ROC and AUC (binned and exact);
  ``rate_intervals``, ``auc_intervals``: binomial and DeLong intervals of those; ``operating_points``.
- ``metrics``: Sensitivity, Specificity, ConfusionMatrix, ROC, AUROC; ``clinical_metrics``:
  SensitivityAtSpecificity, SpecificityAtSensitivity, DeLongTest; ``calibration``, ``brier``, ``net_benefit``:
  CalibrationError, BrierScore, NetBenefit (decision curves); ``bootstrap``: BootstrapInterval;
  ``paired_bootstrap``: PairedBootstrapInterval (two models on the same resamples).
- ``plots``, ``clinical_plots``, ``calibration_plots``: what each metric's ``.plot()`` and the callback draw, from
  the counts above.
"""

from lightning_evalkit.classification.bootstrap import BootstrapInterval
from lightning_evalkit.classification.brier import BrierScore
from lightning_evalkit.classification.calibration import CalibrationError
from lightning_evalkit.classification.clinical_metrics import (
    DeLongTest,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
)
from lightning_evalkit.classification.confusion_metrics import ConfusionMatrix, Sensitivity, Specificity
from lightning_evalkit.classification.curve_metrics import AUROC, ROC
from lightning_evalkit.classification.net_benefit import NetBenefit
from lightning_evalkit.classification.paired_bootstrap import PairedBootstrapInterval

__all__ = [
    "AUROC",
    "ROC",
    "BootstrapInterval",
    "PairedBootstrapInterval",
    "BrierScore",
    "CalibrationError",
    "ConfusionMatrix",
    "DeLongTest",
    "NetBenefit",
    "Sensitivity",
    "SensitivityAtSpecificity",
    "Specificity",
    "SpecificityAtSensitivity",
]
