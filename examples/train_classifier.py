"""Train a small MLP on scikit-learn's breast-cancer data with EvalCallback logging to TensorBoard.

Run ``python examples/train_classifier.py`` for the default demo (it runs ``fit --config
configs/classifier.yaml``), or use any LightningCLI command line, e.g.
``python examples/train_classifier.py fit --config configs/classifier.yaml --trainer.max_epochs 5``.
The positive class is "malignant" (scikit-learn's label 0).
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LightningCLI
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "classifier.yaml"


class BreastCancerData(pl.LightningDataModule):
    """scikit-learn's breast-cancer set, standardised with the training split's statistics."""

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.3, seed: int = 0) -> None:
        super().__init__()
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed

    def setup(self, stage: str) -> None:
        from sklearn.datasets import load_breast_cancer

        features, labels = load_breast_cancer(return_X_y=True)
        x = torch.tensor(features, dtype=torch.float32)
        y = torch.tensor(1 - labels, dtype=torch.long)  # 1 = malignant, the class a screening test looks for
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.seed))
        split = int(len(y) * (1 - self.val_fraction))
        train, val = order[:split], order[split:]
        mean, std = x[train].mean(0), x[train].std(0)
        x = (x - mean) / std
        self.train_set, self.val_set = TensorDataset(x[train], y[train]), TensorDataset(x[val], y[val])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


class BreastCancerClassifier(pl.LightningModule):
    """A two-layer MLP; validation_step returns {"preds": probabilities, "target": labels} for EvalCallback."""

    def __init__(self, hidden: int = 32, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(30, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.binary_cross_entropy_with_logits(self(x), y.float())
        self.log("train/loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"preds": torch.sigmoid(self(x)), "target": y}

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self.validation_step(batch, batch_idx)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class _DropLitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_lightning() -> None:
    """Keep the demo's output to what it reports: drop Lightning's litlogger advert and a torch-version notice.

    Nothing that concerns this run is hidden; the training and evaluation warnings still show.
    """
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_DropLitLoggerTip())
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropLitLoggerTip())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*is deprecated")


def report(trainer: pl.Trainer) -> None:
    """Print the last validation epoch's metrics and how to look at the curves."""
    results = trainer.callback_metrics
    for key, label in (
        ("val/sensitivity", "sensitivity"),
        ("val/specificity", "specificity"),
        ("val/auroc", "ROC-AUC"),
    ):
        if key in results:
            print(f"{label:>12}: {float(results[key]):.4f}")
    logger = trainer.logger
    if logger is not None and logger.save_dir is not None:
        print("\nCurves, confusion matrix and PR curves are in TensorBoard:")
        print(f"  bash scripts/tensorboard.sh {logger.save_dir}")


def main(args: list[str] | None = None) -> LightningCLI:
    """LightningCLI entry point; with no arguments, fit with configs/classifier.yaml."""
    quiet_lightning()
    if args is None and not sys.argv[1:]:
        args = ["fit", "--config", str(DEFAULT_CONFIG)]
    cli = LightningCLI(BreastCancerClassifier, BreastCancerData, args=args, save_config_kwargs={"overwrite": True})
    if cli.trainer.is_global_zero and cli.subcommand in ("fit", "validate"):
        report(cli.trainer)
    return cli


if __name__ == "__main__":
    main()
