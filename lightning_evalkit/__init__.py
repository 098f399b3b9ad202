"""lightning_evalkit: exact, fast, DDP-correct evaluation metrics and TensorBoard curves for PyTorch Lightning."""

from lightning_evalkit.classification import AUROC, ROC, ConfusionMatrix, Sensitivity, Specificity

__version__ = "0.1.0"

__all__ = [
    "AUROC",
    "ROC",
    "ConfusionMatrix",
    "Sensitivity",
    "Specificity",
]
