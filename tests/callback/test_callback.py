"""EvalCallback in a real Trainer: logged scalars equal scikit-learn, one image per plot per epoch, PR curves."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from tensorboard.util.tensor_util import make_ndarray

from lightning_evalkit import AUROC, ConfusionMatrix, EvalCallback, Sensitivity, Specificity
from tests._events import read_events, scalars
from tests._score_models import (
    ScoreDataset,
    ScoreModuleLightning,
    ScoreModulePL,
    epoch_multiclass,
    epoch_scores,
    multiclass_labels,
)

BINARY_PLOTS = ["roc", "sensitivity_specificity", "precision_recall", "confusion_matrix"]
CLASS_NAMES = ["neg", "pos", "other"]


def binary_callback() -> EvalCallback:
    return EvalCallback(
        {
            "auroc": AUROC(task="binary"),
            "sensitivity": Sensitivity(task="binary"),
            "specificity": Specificity(task="binary"),
            "confmat": ConfusionMatrix(task="binary"),
        }
    )


def multiclass_callback(**kwargs: Any) -> EvalCallback:
    return EvalCallback(
        {
            "auroc": AUROC(task="multiclass", num_classes=3),
            "auroc_class": AUROC(task="multiclass", num_classes=3, average="none"),
            "confmat": ConfusionMatrix(task="multiclass", num_classes=3),
        },
        **{
            "preds_key": "mc_preds",
            "target_key": "mc_target",
            "prefix": "val_mc/",
            "test_prefix": "test_mc/",
            "class_names": CLASS_NAMES,
            **kwargs,
        },
    )


def reference(size: int, epoch: int) -> dict[str, float]:
    """scikit-learn on the predictions the module makes at ``epoch`` over all ``size`` samples."""
    data = ScoreDataset(size)
    index = torch.arange(size)
    scores = epoch_scores(data.scores, index, epoch).numpy()
    labels = data.labels.numpy()
    mc_scores = epoch_multiclass(data.scores, index, epoch).numpy()
    mc_labels = multiclass_labels(data.labels, index).numpy()
    per_class = skm.roc_auc_score(mc_labels, mc_scores, multi_class="ovr", average=None)
    return {
        "auroc": skm.roc_auc_score(labels, scores),
        "sensitivity": skm.recall_score(labels, scores >= 0.5),
        "specificity": skm.recall_score(labels, scores >= 0.5, pos_label=0),
        "mc_auroc": skm.roc_auc_score(mc_labels, mc_scores, multi_class="ovr", average="macro"),
        **{f"mc_auroc_{name}": auc for name, auc in zip(CLASS_NAMES, per_class, strict=True)},
    }


def make_trainer(package: str, tmp_path: Path, callbacks: list[Any], **kwargs: Any) -> Any:
    pl = importlib.import_module(package)
    loggers = importlib.import_module(f"{package}.loggers")
    options = {
        "max_epochs": 2,
        "limit_train_batches": 2,
        "num_sanity_val_steps": 2,
        "accelerator": "cpu",
        "devices": 1,
        "logger": loggers.TensorBoardLogger(str(tmp_path), name="", version=""),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
    }
    return pl.Trainer(callbacks=callbacks, **{**options, **kwargs})


def assert_close(logged: list[float], expected: list[float]) -> None:
    # TensorBoard stores float32: compare to the float64 reference at float32 resolution.
    np.testing.assert_allclose(logged, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_fit_and_test_log_scikit_learn_values_plots_and_pr_curves(tmp_path: Path) -> None:
    from pytorch_lightning.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/auroc", mode="max")
    transform = multiclass_callback(output_transform=lambda outputs, batch: (outputs["mc_preds"], outputs["mc_target"]))
    trainer = make_trainer(
        "pytorch_lightning", tmp_path, [binary_callback(), transform, checkpoint], enable_checkpointing=True
    )
    trainer.fit(ScoreModulePL(val_size=101))
    trainer.test(ScoreModulePL(val_size=101), verbose=False)
    events = read_events(tmp_path)
    expected = [reference(101, epoch) for epoch in (0, 1)]
    for name in ("auroc", "sensitivity", "specificity"):
        assert_close(scalars(events, f"val/{name}"), [e[name] for e in expected])
    assert_close(scalars(events, "val_mc/auroc"), [e["mc_auroc"] for e in expected])
    for name in CLASS_NAMES:
        assert_close(scalars(events, f"val_mc_per_class/auroc_class/{name}"), [e[f"mc_auroc_{name}"] for e in expected])
    # test_step runs after fit, at the last epoch's predictions (current_epoch is 2 then).
    assert_close(scalars(events, "test/auroc"), [reference(101, 2)["auroc"]])
    assert checkpoint.best_model_score == pytest.approx(max(scalars(events, "val/auroc")))
    images = events.Tags()["images"]
    for tag in [f"val/{p}" for p in BINARY_PLOTS] + ["val_mc/roc", "val_mc/confusion_matrix"]:
        assert len(events.Images(tag)) == 2, tag  # one per validation epoch, none from the sanity check
        # At the step of that epoch's scalars (Lightning's epoch-end step), not one step later.
        assert [image.step for image in events.Images(tag)] == [event.step for event in events.Scalars("val/auroc")]
    assert {f"test/{p}" for p in BINARY_PLOTS} <= set(images)
    pr_curves = events.PluginTagToContent("pr_curves")
    assert {"val/pr_curve", "test/pr_curve"} | {f"val_mc/pr_curve/{n}" for n in CLASS_NAMES} <= set(pr_curves)
    data = ScoreDataset(101)
    assert len(events.Tensors("val/pr_curve")) == 2
    grid = make_ndarray(events.Tensors("val/pr_curve")[-1].tensor_proto)  # rows tp, fp, tn, fn, precision, recall
    scores = epoch_scores(data.scores, torch.arange(101), 1).numpy()
    for column, threshold in ((0, 0.0), (100, 0.5)):  # 201 thresholds evenly spaced in [0, 1]
        predicted = scores >= threshold
        assert grid[0, column] == np.sum(predicted & (data.labels.numpy() == 1))
        assert grid[1, column] == np.sum(predicted & (data.labels.numpy() == 0))


def test_metric_collection_and_no_tensorboard_logger_warns_once(tmp_path: Path) -> None:
    from pytorch_lightning.loggers import CSVLogger
    from torchmetrics import MetricCollection

    from lightning_evalkit.callback.eval_callback import EvalCallbackWarning

    collection = MetricCollection({"sensitivity": Sensitivity(task="binary"), "auroc": AUROC(task="binary")})
    callback = EvalCallback(collection)
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback], logger=CSVLogger(str(tmp_path)))
    with pytest.warns(EvalCallbackWarning, match="no logger that takes images") as record:
        trainer.fit(ScoreModulePL(val_size=40))
    assert sum(issubclass(w.category, EvalCallbackWarning) for w in record) == 1
    expected = reference(40, 1)
    assert float(trainer.callback_metrics["val/auroc"]) == pytest.approx(expected["auroc"], rel=1e-6)
    assert float(trainer.callback_metrics["val/sensitivity"]) == pytest.approx(expected["sensitivity"], rel=1e-6)


@pytest.mark.skipif(ScoreModuleLightning is None, reason="the unified `lightning` package is not installed")
def test_lightning_pytorch_trainer(tmp_path: Path) -> None:
    assert ScoreModuleLightning is not None
    trainer = make_trainer("lightning.pytorch", tmp_path, [binary_callback()], max_epochs=1)
    trainer.fit(ScoreModuleLightning(val_size=37))
    events = read_events(tmp_path)
    assert_close(scalars(events, "val/auroc"), [reference(37, 0)["auroc"]])
    assert len(events.Images("val/roc")) == 1


def test_callback_is_a_callback_of_each_installed_package() -> None:
    import pytorch_lightning

    assert isinstance(binary_callback(), pytorch_lightning.Callback)
    if ScoreModuleLightning is not None:
        import lightning.pytorch

        assert isinstance(binary_callback(), lightning.pytorch.Callback)
