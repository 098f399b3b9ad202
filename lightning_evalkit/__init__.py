"""lightning_evalkit: exact, fast, DDP-correct evaluation metrics and TensorBoard curves for PyTorch Lightning."""

from lightning_evalkit.detection import IntersectionOverUnion, MeanAveragePrecision, MeanIoU

__version__ = "0.1.0"

__all__: list[str] = []
__all__ += ["IntersectionOverUnion", "MeanAveragePrecision", "MeanIoU"]
