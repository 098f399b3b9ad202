"""lightning_evalkit: exact, fast, DDP-correct evaluation metrics and TensorBoard curves for PyTorch Lightning."""

__version__ = "0.1.0"

__all__: list[str] = []
