"""Pieces of the Trainer configuration matrix: a module, a warning/value recorder, the metrics of each row.

Module-level classes, so that ddp_spawn can pickle them into its processes.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from torchmetrics import MetricCollection

from lightning_evalkit import AUROC, Sensitivity

POLARISED = 24  # the first samples score 0.1 or 0.9, so every rank's first batch gives thresholds 0.3/0.5 equal counts


class MatrixDataset(Dataset):
    """(index, score, label): scores rounded to 0.01 (ties), correlated with the labels."""

    def __init__(self, size: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, size)
        scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.0, 1.0).round(2)
        scores[:POLARISED] = np.where(scores[:POLARISED] < 0.4, 0.1, 0.9)
        self.scores, self.labels = torch.tensor(scores), torch.tensor(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        return index, self.scores[index], self.labels[index]


class MatrixModule(pl.LightningModule):
    """Predicts the dataset's own scores (cast by the Trainer's precision), on one or several validation sets."""

    def __init__(self, val_sizes: tuple[int, ...] = (45,), batch_size: int = 8, drop_last: bool = False) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.val_sizes, self.batch_size, self.drop_last = val_sizes, batch_size, drop_last

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return (self.weight.float() ** 2).sum()

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        _, scores, labels = batch
        return {
            "preds": scores if scores.dtype in (torch.float16, torch.bfloat16) else scores.float(),
            "target": labels,
        }

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(MatrixDataset(16, seed=99), batch_size=8)

    def val_dataloader(self) -> list[DataLoader]:
        return [
            DataLoader(MatrixDataset(size, seed=index), batch_size=self.batch_size, drop_last=self.drop_last)
            for index, size in enumerate(self.val_sizes)
        ]


def make_metrics(kind: str, **sync: Any) -> Any:
    """The metrics of a row: "plain" (exact and binned AUROC, Sensitivity) or "groups_on"/"groups_off"."""
    if kind == "plain":
        return {
            "auroc": AUROC(task="binary", **sync),
            "binned_auroc": AUROC(task="binary", thresholds=[0.1, 0.3, 0.5, 0.7, 0.9], **sync),
            "sensitivity": Sensitivity(task="binary", **sync),
        }
    return MetricCollection(
        {"s03": Sensitivity(task="binary", threshold=0.3), "s05": Sensitivity(task="binary", threshold=0.5)},
        compute_groups=kind == "groups_on",
    )


class Recorder(pl.Callback):
    """Records, on every rank, each validation's logged "val/" values and every warning; writes them at teardown."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = str(out_dir)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._catcher = warnings.catch_warnings(record=True)
        self.caught = self._catcher.__enter__()
        warnings.simplefilter("always")
        self.values: list[dict[str, float]] = []

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            metrics = trainer.callback_metrics
            self.values.append({key: float(value) for key, value in metrics.items() if key.startswith("val/")})

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._catcher.__exit__(None, None, None)
        records = [
            {"category": w.category.__name__, "message": str(w.message), "filename": w.filename} for w in self.caught
        ]
        path = Path(self.out_dir, f"rank{trainer.global_rank}.json")
        path.write_text(json.dumps({"values": self.values, "warnings": records}))
