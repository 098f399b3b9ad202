"""A real Trainer with EvalCallback, CalibrationError, BrierScore and NetBenefit: an epoch with no sample logs nothing
and draws nothing; the next logs the references' values and writes the reliability diagram and the decision curve."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.metrics import brier_score_loss
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import BinaryCalibrationError

from lightning_evalkit import BrierScore, CalibrationError, EvalCallback, NetBenefit
from tests._events import read_events, scalars
from tests.callback.test_callback import make_trainer
from tests.callback.test_callback_seams import RecordMetrics

dcurves = pytest.importorskip("dcurves")
pd = pytest.importorskip("pandas")

SIZE = 150
THRESHOLDS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]


def _epoch_outputs(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous float32 risks (never on a bin edge) and labels of one validation epoch."""
    rng = np.random.default_rng(100 + epoch)
    labels = rng.integers(0, 2, SIZE)
    risks = 1 / (1 + np.exp(-rng.normal(-0.7 + 1.6 * labels, 1.1)))
    return torch.from_numpy(risks).float(), torch.from_numpy(labels)


class CalibrationEpochs(pl.LightningModule):
    """Validation outputs of ``_epoch_outputs``; in epoch 0 every target is ignore_index (no sample at all)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return (self.weight**2).sum()

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        (index,) = batch
        risks, labels = _epoch_outputs(self.current_epoch)
        target = labels[index] if self.current_epoch > 0 else torch.full_like(labels[index], -1)
        return {"preds": risks[index], "target": target}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.arange(16)), batch_size=8)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.arange(SIZE)), batch_size=32)


def _references(epoch: int) -> dict[str, float]:
    risks, labels = _epoch_outputs(epoch)
    edges = np.arange(11) / 10
    assert np.abs(risks.double().numpy()[:, None] - edges).min() > 1e-6  # where torchmetrics bins as we do
    data = pd.DataFrame({"y": labels.numpy(), "m": risks.double().numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = dcurves.dca(data=data, outcome="y", modelnames=["m"], thresholds=THRESHOLDS)
    model = table[table.model == "m"].set_index("threshold").net_benefit
    return {
        "val/ece": float(BinaryCalibrationError(n_bins=10)(risks, labels)),
        "val/brier": brier_score_loss(labels.numpy(), risks.double().numpy()),
        "val/nb_at_0.2": float(model[0.2]),
        "val/nb_at_0.5": float(model[0.5]),
    }


@pytest.mark.slow
def test_an_epoch_without_samples_then_one_with_them_logs_and_draws_the_references(tmp_path: Path) -> None:
    metrics = {
        "ece": CalibrationError(task="binary", n_bins=10, ignore_index=-1),
        "brier": BrierScore(task="binary", ignore_index=-1),
        "nb": NetBenefit(thresholds=THRESHOLDS, ignore_index=-1, logged_thresholds=(0.2, 0.5)),
    }
    recorder = RecordMetrics()
    callback = EvalCallback(metrics, plots=["calibration", "decision_curve", "roc"])
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback, recorder], num_sanity_val_steps=0)
    with pytest.warns(UserWarning, match="no sample was seen"):
        trainer.fit(CalibrationEpochs())
    events = read_events(tmp_path)
    for key, expected in _references(1).items():
        assert scalars(events, key) == pytest.approx([expected], abs=1e-6), key  # only the defined epoch
        assert math.isnan(recorder.epochs[0][key]) and recorder.epochs[1][key] == pytest.approx(expected, abs=1e-6)
    (logged,) = events.Scalars("val/ece")
    images = events.Tags()["images"]
    assert sorted(images) == ["val/calibration", "val/decision_curve"]
    for tag in images:
        (image,) = events.Images(tag)  # none for the epoch without samples
        assert image.step == logged.step and image.width > 300 and image.height > 300
