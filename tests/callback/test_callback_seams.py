"""Where the callback meets each metric kind: undefined then defined epochs, the clinical metrics, intervals,
the user's metric objects, and the one protocol (``_core.report``) through which every metric answers.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torchmetrics
from sklearn import metrics as skm
from torch.utils.data import DataLoader
from torchmetrics.functional.classification import (
    binary_sensitivity_at_specificity,
    multiclass_specificity_at_sensitivity,
)

import lightning_evalkit
from lightning_evalkit import AUROC, EvalCallback, SensitivityAtSpecificity, Specificity, SpecificityAtSensitivity
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions
from lightning_evalkit.functional import auroc_confidence_interval
from tests._events import read_events, scalars
from tests._score_models import ScoreDataset, ScoreModulePL, epoch_multiclass, epoch_scores, multiclass_labels
from tests.callback.test_callback import make_trainer


class OneClassEpochs(pl.LightningModule):
    """Binary validation outputs whose targets hold a single class in the epochs of ``undefined_epochs``."""

    def __init__(self, undefined_epochs: tuple[int, ...]) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.undefined_epochs = undefined_epochs
        self.seen: list[dict[str, float]] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return (self.weight**2).sum()

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        index, scores, labels = batch
        if self.current_epoch in self.undefined_epochs:
            labels = torch.ones_like(labels)  # no negative: AUROC and specificity are undefined
        return {"preds": epoch_scores(scores, index, self.current_epoch), "target": labels}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(ScoreDataset(16, seed=1), batch_size=8)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(ScoreDataset(60), batch_size=16)


class RecordMetrics(pl.Callback):
    """trainer.callback_metrics after each validation epoch, as ModelCheckpoint/EarlyStopping read them."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def _epoch_data(epoch: int) -> tuple[np.ndarray, np.ndarray]:
    data = ScoreDataset(60)
    index = torch.arange(len(data))
    return epoch_scores(data.scores, index, epoch).numpy(), data.labels.numpy()


@pytest.mark.slow
@pytest.mark.parametrize("undefined_epochs", [(0,), (1,)], ids=["undefined-then-defined", "defined-then-undefined"])
def test_a_metric_undefined_in_one_epoch_and_defined_in_another_runs_and_logs_only_defined_values(
    tmp_path: Path, undefined_epochs: tuple[int, ...]
) -> None:
    metrics = {
        "auroc": AUROC(task="binary"),
        "specificity": Specificity(task="binary", zero_division="nan"),
        "sens_at_spec": SensitivityAtSpecificity(task="binary", min_specificity=0.5),
    }
    recorder = RecordMetrics()
    trainer = make_trainer(
        "pytorch_lightning", tmp_path, [EvalCallback(metrics, plots=False), recorder], num_sanity_val_steps=0
    )
    with pytest.warns(UserWarning):
        trainer.fit(OneClassEpochs(undefined_epochs))
    defined = 1 - undefined_epochs[0]
    scores, labels = _epoch_data(defined)
    events = read_events(tmp_path)
    np.testing.assert_allclose(scalars(events, "val/auroc"), [skm.roc_auc_score(labels, scores)], rtol=1e-6)
    expected_spec = skm.recall_score(1 - labels, scores < 0.5)
    np.testing.assert_allclose(scalars(events, "val/specificity"), [expected_spec], rtol=1e-6)
    assert len(scalars(events, "val/sens_at_spec")) == 1
    for key in ("val/auroc", "val/specificity", "val/sens_at_spec"):
        assert math.isnan(recorder.epochs[undefined_epochs[0]][key])  # never a stale number for monitors
        assert not math.isnan(recorder.epochs[defined][key])


def test_a_partial_auc_interval_is_refused_when_the_callback_or_metric_is_built() -> None:
    with pytest.raises(ValueError, match=r"metrics\['pauc'\].*full AUC only.*Drop `max_fpr`.*or drop"):
        EvalCallback({"pauc": AUROC(task="binary", max_fpr=0.2)}, confidence_level=0.95)
    with pytest.raises(ValueError, match=r"AUROC\(max_fpr=0.2, confidence_level=...\).*full AUC only"):
        AUROC(task="binary", max_fpr=0.2, confidence_level=0.95)
    EvalCallback({"pauc": AUROC(task="binary", max_fpr=0.2)})  # without an interval it is fine


@pytest.mark.slow
def test_operating_point_metrics_log_their_value_and_threshold_per_class(tmp_path: Path) -> None:
    binary = EvalCallback({"sens_at_spec": SensitivityAtSpecificity(task="binary", min_specificity=0.6)}, plots=False)
    multiclass = EvalCallback(
        {"spec_at_sens": SpecificityAtSensitivity(task="multiclass", num_classes=3, min_sensitivity=0.5)},
        preds_key="mc_preds",
        target_key="mc_target",
        prefix="val_mc/",
        plots=False,
        class_names=["neg", "pos", "other"],
    )
    trainer = make_trainer("pytorch_lightning", tmp_path, [binary, multiclass], max_epochs=2)
    trainer.fit(ScoreModulePL(val_size=101))
    events = read_events(tmp_path)
    data = ScoreDataset(101)
    index = torch.arange(101)
    for epoch in range(2):
        preds = epoch_scores(data.scores, index, epoch)
        sensitivity, threshold = binary_sensitivity_at_specificity(preds, data.labels, min_specificity=0.6)
        assert scalars(events, "val/sens_at_spec")[epoch] == pytest.approx(float(sensitivity), abs=1e-6)
        assert scalars(events, "val/sens_at_spec_threshold")[epoch] == pytest.approx(float(threshold), abs=1e-6)
        mc_preds, mc_target = epoch_multiclass(data.scores, index, epoch), multiclass_labels(data.labels, index)
        specificity, thresholds = multiclass_specificity_at_sensitivity(mc_preds, mc_target, 3, min_sensitivity=0.5)
        for cls, name in enumerate(["neg", "pos", "other"]):
            logged = scalars(events, f"val_mc_per_class/spec_at_sens/{name}")[epoch]
            assert logged == pytest.approx(float(specificity[cls]), abs=1e-6)
            logged = scalars(events, f"val_mc_per_class/spec_at_sens_threshold/{name}")[epoch]
            assert logged == pytest.approx(float(thresholds[cls]), abs=1e-6)


@pytest.mark.slow
def test_the_callback_leaves_the_users_metric_as_it_was_and_logs_its_level(tmp_path: Path) -> None:
    auroc = AUROC(task="binary")
    callback = EvalCallback({"auroc": auroc}, confidence_level=0.9, plots=False)
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback], max_epochs=1)
    trainer.fit(ScoreModulePL(val_size=101))
    assert auroc.confidence_level is None and callback.metrics["auroc"].confidence_level is None
    scores, labels = ScoreDataset(101).scores, ScoreDataset(101).labels
    preds = epoch_scores(scores, torch.arange(101), 0)
    _, lower, upper = auroc_confidence_interval(preds, labels, task="binary", level=0.9)
    events = read_events(tmp_path)
    assert scalars(events, "val/auroc_ci_lower") == pytest.approx([float(lower)], abs=1e-6)
    assert scalars(events, "val/auroc_ci_upper") == pytest.approx([float(upper)], abs=1e-6)


class ToyReport(torchmetrics.Metric):
    """A metric that answers the protocol: one extra value and a ROC image of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.add_state("count", torch.zeros(()), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.count += preds.numel()

    def compute(self) -> torch.Tensor:
        return self.count

    def check_report(self, name: str, options: ReportOptions) -> list[str]:
        return [f"{name} says hello"]

    def logged_values(self, name: str, value: Any, options: ReportOptions) -> list[LoggedValue]:
        return [LoggedValue(f"{name}_seen", float(value), False), LoggedValue(f"{name}_half", 0.5, False, label=1)]

    def plot_kinds(self) -> dict[str, int]:
        return {"roc": -1}  # before any metric of ours

    def plot_sources(self, value: Any, plots: Any, options: ReportOptions) -> list[PlotSource]:
        from lightning_evalkit import plotting

        return [PlotSource("roc", "roc", lambda names: plotting.plot_roc([0.0, 1.0], [0.0, 1.0], title="toy"))]


@pytest.mark.slow
def test_any_metric_answering_the_protocol_is_logged_and_drawn_and_any_other_logs_its_value(tmp_path: Path) -> None:
    metrics = {
        "toy": ToyReport(),
        "auroc": AUROC(task="binary"),
        "accuracy": torchmetrics.classification.BinaryAccuracy(),
    }
    callback = EvalCallback(metrics, plots=["roc"], class_names=["neg", "pos"])
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback], max_epochs=1)
    with pytest.warns(UserWarning, match="toy says hello"):
        trainer.fit(ScoreModulePL(val_size=101))
    events = read_events(tmp_path)
    assert scalars(events, "val/toy_seen") == [101.0] and scalars(events, "val_per_class/toy_half/pos") == [0.5]
    scores, labels = ScoreDataset(101).scores, ScoreDataset(101).labels
    preds = epoch_scores(scores, torch.arange(101), 0)
    expected = skm.accuracy_score(labels.numpy(), preds.numpy() > 0.5)  # torchmetrics: positive iff > threshold
    assert scalars(events, "val/accuracy") == pytest.approx([expected], abs=1e-6)
    assert events.Tags()["images"] == ["val/roc"]  # one ROC image: the toy's, chosen by its priority


@pytest.mark.slow
def test_a_warning_that_holds_every_epoch_is_said_once_per_run_from_our_code(tmp_path: Path) -> None:
    metrics = {"auroc": AUROC(task="binary"), "specificity": Specificity(task="binary", zero_division="nan")}
    trainer = make_trainer(
        "pytorch_lightning", tmp_path, [EvalCallback(metrics, plots=False)], max_epochs=4, num_sanity_val_steps=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(OneClassEpochs(undefined_epochs=(0, 1, 2, 3)))
    ours = [w for w in caught if "undefined" in str(w.message) or "did not log" in str(w.message)]
    texts = [str(w.message) for w in ours]
    assert len(texts) == len(set(texts)) >= 3, texts  # AUROC's, Specificity's and the callback's: once each
    package = os.path.dirname(lightning_evalkit.__file__)
    assert all(w.filename.startswith(package) for w in ours), [(w.filename, str(w.message)[:40]) for w in ours]


def test_per_class_values_have_a_tensorboard_group_of_their_own() -> None:
    from lightning_evalkit.callback.eval_callback import per_class_prefix

    assert per_class_prefix("val/") == "val_per_class/" and per_class_prefix("test/") == "test_per_class/"
