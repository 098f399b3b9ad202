"""LightningModules for the callback tests whose validation predictions are a fixed function of the data.

Predictions depend on the sample index and the epoch, never on training, so a 1-process run and a 2-process
DDP run predict exactly the same values, and each epoch's values differ (a missing reset would show).
Classes are built per Lightning package and bound to module-level names so ddp_spawn can pickle them.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

NUM_CLASSES = 3


def binary_data(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores in [0, 1] (rounded to 0.01, so there are ties) and labels correlated with them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.0, 1.0).round(2)
    return scores, labels


def epoch_scores(scores: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
    """Binary predictions of one epoch: the base score shifted by an index- and epoch-dependent amount."""
    return (scores + 0.1 * epoch * ((index % 3) - 1)).clamp(0.0, 1.0)


def epoch_multiclass(scores: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
    """(N, 3) class probabilities of one epoch, a deterministic function of the binary score and index."""
    shifted = epoch_scores(scores, index, epoch)
    third = ((index * 7 + epoch) % 10).to(shifted.dtype) / 10.0
    raw = torch.stack([1.0 - shifted, shifted, third], 1)
    return raw / raw.sum(1, keepdim=True)


def multiclass_labels(labels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Three-class labels: the binary label, with every fifth sample moved to class 2."""
    return labels * (index % 5 != 0) + 2 * (index % 5 == 0)


class ScoreDataset(Dataset):
    """(index, score, label) triples."""

    def __init__(self, size: int, seed: int = 0) -> None:
        scores, labels = binary_data(size, seed)
        self.scores = torch.tensor(scores, dtype=torch.float64)
        self.labels = torch.tensor(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        return index, self.scores[index], self.labels[index]


def _make_module_class(package_name: str, class_name: str) -> type:
    package = importlib.import_module(package_name)

    class ScoreModule(package.LightningModule):
        def __init__(self, val_size: int = 101, batch_size: int = 16) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.val_size, self.batch_size = val_size, batch_size

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return (self.weight**2).sum()

        def _outputs(self, batch: Any) -> dict[str, torch.Tensor]:
            index, scores, labels = batch
            epoch = self.current_epoch
            return {
                "preds": epoch_scores(scores, index, epoch),
                "target": labels,
                "mc_preds": epoch_multiclass(scores, index, epoch),
                "mc_target": multiclass_labels(labels, index),
            }

        def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
            return self._outputs(batch)

        def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
            return self._outputs(batch)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.0)

        def train_dataloader(self) -> DataLoader:
            return DataLoader(ScoreDataset(32, seed=1), batch_size=8)

        def val_dataloader(self) -> DataLoader:
            return DataLoader(ScoreDataset(self.val_size), batch_size=self.batch_size)

        def test_dataloader(self) -> DataLoader:
            return DataLoader(ScoreDataset(self.val_size), batch_size=self.batch_size)

    ScoreModule.__name__ = ScoreModule.__qualname__ = class_name
    return ScoreModule


ScoreModulePL = _make_module_class("pytorch_lightning", "ScoreModulePL")
try:
    ScoreModuleLightning: type | None = _make_module_class("lightning.pytorch", "ScoreModuleLightning")
except ImportError:
    ScoreModuleLightning = None
