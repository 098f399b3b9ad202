"""lightning_evalkit: exact, fast, DDP-correct metrics and TensorBoard curves for PyTorch Lightning."""

from lightning_evalkit.classification import (
    AUROC,
    ROC,
    BootstrapInterval,
    BrierScore,
    CalibrationError,
    ConfusionMatrix,
    DeLongTest,
    NetBenefit,
    PairedBootstrapInterval,
    Sensitivity,
    SensitivityAtSpecificity,
    Specificity,
    SpecificityAtSensitivity,
)
from lightning_evalkit.detection import (
    CompleteIntersectionOverUnion,
    DetectionConfusionMatrix,
    DetectionErrorBreakdown,
    DetectionOperatingPoint,
    DistanceIntersectionOverUnion,
    GeneralizedIntersectionOverUnion,
    ImageBootstrapInterval,
    IntersectionOverUnion,
    LVISMeanAveragePrecision,
    MatchedIntersectionOverUnion,
    MeanAveragePrecision,
    MeanIoU,
)

__version__ = "0.1.0"

__all__ = [
    "AUROC",
    "ROC",
    "BootstrapInterval",
    "PairedBootstrapInterval",
    "BrierScore",
    "CalibrationError",
    "CompleteIntersectionOverUnion",
    "DetectionErrorBreakdown",
    "ConfusionMatrix",
    "DetectionConfusionMatrix",
    "DetectionOperatingPoint",
    "DistanceIntersectionOverUnion",
    "DeLongTest",
    "EvalCallback",
    "GeneralizedIntersectionOverUnion",
    "ImageBootstrapInterval",
    "IntersectionOverUnion",
    "LVISMeanAveragePrecision",
    "MatchedIntersectionOverUnion",
    "MeanAveragePrecision",
    "MeanIoU",
    "NetBenefit",
    "Sensitivity",
    "SensitivityAtSpecificity",
    "Specificity",
    "SpecificityAtSensitivity",
]


def __getattr__(name: str) -> object:
    # EvalCallback imports pytorch_lightning (seconds): load it only when asked for, not with the metrics.
    if name == "EvalCallback":
        from lightning_evalkit.callback import EvalCallback

        return EvalCallback
    raise AttributeError(f"module 'lightning_evalkit' has no attribute {name!r}")
