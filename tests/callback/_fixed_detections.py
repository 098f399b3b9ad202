"""A LightningModule that returns fixed detections and targets: epoch 0's, then epoch 1's for every later epoch
(the callback tests' "an undefined epoch, then a defined one")."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader


class FixedDetections(pl.LightningModule):
    """Validates ``epochs[min(current_epoch, 1)]``, a (preds, target) pair of per-image lists, 4 images a batch."""

    def __init__(self, epochs: list[tuple[list[dict], list[dict]]]) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.epochs = epochs
        self.num_images = len(epochs[0][0])

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return (self.weight**2).sum()

    def validation_step(self, batch: list[int], batch_idx: int) -> dict[str, list[dict]]:
        preds, target = self.epochs[min(self.current_epoch, 1)]
        return {"preds": [preds[i] for i in batch], "target": [target[i] for i in batch]}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(range(4), batch_size=2)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(range(self.num_images), batch_size=4, collate_fn=list)
