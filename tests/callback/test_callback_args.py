"""EvalCallback's argument checks: each misconfiguration names what the user could pass instead."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

from lightning_evalkit import AUROC, ConfusionMatrix, EvalCallback

AUC = {"auroc": AUROC(task="binary")}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"metrics": [AUROC(task="binary")]},
            TypeError,
            "Expected `metrics` to be a dict of name -> torchmetrics.Metric or a MetricCollection, but got list. "
            'For example: EvalCallback(metrics={"auroc": AUROC(task="binary")}).',
        ),
        ({"metrics": {}}, ValueError, "Expected `metrics` to hold at least one metric, but got an empty dict."),
        (
            {"metrics": {"auroc": "AUROC"}},
            TypeError,
            "Expected `metrics['auroc']` to be a torchmetrics.Metric (such as AUROC, Sensitivity, ConfusionMatrix "
            "or MeanAveragePrecision), but got str.",
        ),
        ({"metrics": AUC, "preds_key": 0}, TypeError, "Expected `preds_key` to be a str, but got int."),
        ({"metrics": AUC, "prefix": None}, TypeError, "Expected `prefix` to be a str, but got NoneType."),
        (
            {"metrics": AUC, "output_transform": "preds"},
            TypeError,
            "Expected `output_transform` to be a callable (outputs, batch) -> (preds, target) or None, but got str.",
        ),
        ({"metrics": AUC, "plot_every_n_epochs": 0}, ValueError, "Expected `plot_every_n_epochs` to be an int >= 1"),
        (
            {"metrics": AUC, "plots": ["roc", "histogram"]},
            ValueError,
            "Expected every entry of `plots` to be one of 'roc', 'sensitivity_specificity', 'precision_recall', "
            "'confusion_matrix', 'pr_curve_plugin', 'detection_pr', 'per_class_ap', "
            "'calibration', 'decision_curve', 'per_class_values', 'detection_confusion_matrix', 'f1_confidence', "
            "'error_breakdown', but got 'histogram'.",
        ),
        (
            {"metrics": {"cm": ConfusionMatrix(task="multiclass", num_classes=3)}, "class_names": ["a", "b"]},
            ValueError,
            "Expected `class_names` to hold 3 names, one per class of `metrics['cm']`, but got 2. Pass one name "
            "per class, or class_names=None to use the indices.",
        ),
        (
            {"metrics": AUC, "class_names": "ab"},
            TypeError,
            "Expected `class_names` to be a list of names (index -> name) or a dict of label -> name, but got str.",
        ),
    ],
)
def test_bad_arguments_are_explained(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        EvalCallback(**kwargs)


def test_missing_output_keys_say_what_to_return() -> None:
    callback = EvalCallback(AUC)
    with pytest.raises(
        ValueError, match=re.escape("with keys 'preds' and 'target', but got a dict with keys ['loss']")
    ):
        callback.on_validation_batch_end(None, None, {"loss": torch.tensor(1.0)}, None, 0)
    with pytest.raises(ValueError, match=re.escape("but got None. Return {'preds': preds, 'target': target}")):
        callback.on_validation_batch_end(None, None, None, None, 0)


def test_plots_selection_and_defaults() -> None:
    assert EvalCallback(AUC, plots=False).plots == ()
    assert EvalCallback(AUC, plots=["roc"]).plots == ("roc",)
    assert "per_class_ap" in EvalCallback(AUC).plots
    callback = EvalCallback(AUC, prefix="valid/")
    assert callback.state_key != EvalCallback(AUC).state_key  # two callbacks in one Trainer keep separate state
