"""Half precision: casting a metric (Lightning bf16-true/16-true, .to, .half, set_dtype) changes no number."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from sklearn import metrics as skm
from torch.utils.data import DataLoader, TensorDataset

import lightning_evalkit as ek
from lightning_evalkit import functional as F

CASTS = {
    "to_bfloat16": lambda m: m.to(torch.bfloat16),
    "half": lambda m: m.half(),
    "set_dtype_float16": lambda m: m.set_dtype(torch.float16),
    "to_float64": lambda m: m.to(torch.float64),
}
TASKS = {
    "binary": {},
    "multiclass": {"num_classes": 3},
    "multilabel": {"num_labels": 3},
}


def _metrics(task: str) -> dict[str, Any]:
    kwargs = TASKS[task]
    return {
        "sensitivity": lambda: ek.Sensitivity(task=task, threshold=0.3, **kwargs),
        "specificity": lambda: ek.Specificity(task=task, **kwargs),
        "confmat": lambda: ek.ConfusionMatrix(task=task, **kwargs),
        "roc_exact": lambda: ek.ROC(task=task, **kwargs),
        "roc_binned": lambda: ek.ROC(task=task, thresholds=7, **kwargs),
        "auroc_exact": lambda: ek.AUROC(task=task, **kwargs),
        "auroc_binned": lambda: ek.AUROC(task=task, thresholds=[0.1, 0.3, 0.5, 0.7, 0.9], **kwargs),
    }


def _batch(task: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    if task == "binary":
        return torch.rand(40, generator=generator), torch.randint(0, 2, (40,), generator=generator)
    if task == "multiclass":
        return torch.rand(40, 3, generator=generator).softmax(1), torch.randint(0, 3, (40,), generator=generator)
    return torch.rand(40, 3, generator=generator), torch.randint(0, 2, (40, 3), generator=generator)


@pytest.mark.parametrize("cast", list(CASTS))
@pytest.mark.parametrize("task", list(TASKS))
def test_casts_change_no_number(task, cast):
    batches = [_batch(task, seed) for seed in range(2)]
    for name, make in _metrics(task).items():
        reference, cast_before, cast_between = make(), CASTS[cast](make()), make()
        for i, (preds, target) in enumerate(batches):
            narrow = preds.to(torch.bfloat16 if i == 0 else torch.float16)
            reference.update(narrow.float(), target)
            cast_before.update(narrow, target)
            cast_between.update(narrow, target)
            if i == 0:
                cast_between = CASTS[cast](cast_between)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = reference.compute()
            for metric in (cast_before, cast_between):
                torch.testing.assert_close(metric.compute(), expected, rtol=0, atol=0, msg=f"{name} after {cast}")
                if hasattr(metric, "thresholds") and metric.binned:
                    assert metric.thresholds.dtype == torch.float64


class _TinyModel(pl.LightningModule):
    """One linear layer scoring 1-D inputs; validation returns its sigmoid as preds (bfloat16 under bf16-true)."""

    def __init__(self, metrics: dict[str, Any]) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.metrics = torch.nn.ModuleDict(metrics)  # held by the module, so the precision plugin casts them
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch
        preds = torch.sigmoid(self.layer(x.to(self.layer.weight.dtype))).squeeze(1)
        self.seen.append((preds.detach().clone(), y))
        return {"preds": preds, "target": y}


@pytest.mark.slow
def test_trainer_bf16_true_logs_float32_answers(tmp_path):
    generator = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (96,), generator=generator)
    x = (y + torch.randn(96, generator=generator)).unsqueeze(1)
    metrics = {
        "auroc": ek.AUROC(task="binary"),
        "auroc_binned": ek.AUROC(task="binary", thresholds=[0.2, 0.4, 0.5, 0.6, 0.8]),
        "sensitivity": ek.Sensitivity(task="binary", threshold=0.5),
    }
    model = _TinyModel(metrics)
    trainer = pl.Trainer(
        precision="bf16-true",
        accelerator="cpu",
        devices=1,
        callbacks=[ek.EvalCallback(metrics=metrics, plots=False)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.validate(model, DataLoader(TensorDataset(x, y), batch_size=32))
    preds = torch.cat([p for p, _ in model.seen])
    assert preds.dtype == torch.bfloat16
    wide, target = preds.float(), torch.cat([t for _, t in model.seen])
    logged = trainer.callback_metrics
    assert float(logged["val/auroc"]) == pytest.approx(skm.roc_auc_score(target.numpy(), wide.numpy()), abs=1e-6)
    binned = F.auroc(wide, target, task="binary", thresholds=[0.2, 0.4, 0.5, 0.6, 0.8])
    assert float(logged["val/auroc_binned"]) == pytest.approx(float(binned), abs=1e-6)
    expected_sensitivity = skm.recall_score(target.numpy(), (wide >= 0.5).numpy())
    assert float(logged["val/sensitivity"]) == pytest.approx(expected_sensitivity, abs=1e-6)
