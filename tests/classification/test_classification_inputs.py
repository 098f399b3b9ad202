"""Bad input gets a clear error and loses nothing; undefined values warn and return NaN."""

from __future__ import annotations

import re
import warnings

import pytest
import torch

import lightning_evalkit as ek

METRIC_TYPES = [ek.Sensitivity, ek.Specificity, ek.ConfusionMatrix, ek.ROC, ek.AUROC]


def _state(metric) -> dict:
    return {
        name: [t.clone() for t in v] if isinstance(v, list) else v.clone() for name, v in metric.metric_state.items()
    }


def _assert_same_state(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for name in before:
        a, b = before[name], after[name]
        if isinstance(a, list):
            assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True)), name
        else:
            assert torch.equal(a, b), name


BINARY_BAD = [
    (
        torch.rand(4),
        torch.tensor([0, 1, 1]),
        ValueError,
        "Expected `preds` and `target` to have the same shape, but got (4,) and (3,).",
    ),
    (
        torch.rand(3),
        torch.tensor([0.0, 1.0, 1.0]),
        TypeError,
        "Expected `target` to have an integer dtype, but got torch.float32.",
    ),
    (torch.rand(3), torch.tensor([0, 2, 1]), ValueError, "Expected `target` to contain only 0 and 1, but got 2."),
    (
        torch.tensor([0.1, float("nan"), 0.3]),
        torch.tensor([0, 1, 1]),
        ValueError,
        "Expected `preds` to be finite, but got NaN.",
    ),
    (
        torch.tensor([0.1, float("inf"), 0.3]),
        torch.tensor([0, 1, 1]),
        ValueError,
        "Expected `preds` to be finite, but got inf.",
    ),
    (
        torch.tensor([0.1, 1.5, 0.3]),
        torch.tensor([0, 1, 1]),
        ValueError,
        "Expected `preds` (probabilities; pass input_format='logits' or 'scores' for unbounded values) "
        "to lie in [0, 1], but got 1.5.",
    ),
    ([0.1, 0.2], torch.tensor([0, 1]), TypeError, "Expected `preds` to be a torch.Tensor, but got list."),
]


@pytest.mark.parametrize("metric_type", METRIC_TYPES)
@pytest.mark.parametrize(("preds", "target", "error", "message"), BINARY_BAD)
def test_binary_bad_input_raises_and_keeps_state(metric_type, preds, target, error, message):
    metric = metric_type(task="binary")
    metric.update(torch.tensor([0.2, 0.8]), torch.tensor([0, 1]))
    before = _state(metric)
    with pytest.raises(error, match=re.escape(message)):
        metric.update(preds, target)
    _assert_same_state(before, _state(metric))


MULTICLASS_BAD = [
    (
        torch.rand(4, 3),
        torch.tensor([0, 1, 2]),
        "Expected `preds` to have shape (3, 3) (N, C, ...) for target of shape (3,) and num_classes=3, but got (4, 3).",
    ),
    (
        torch.rand(3, 4),
        torch.tensor([0, 1, 2]),
        "Expected `preds` to have shape (3, 3) (N, C, ...) for target of shape (3,) and num_classes=3, but got (3, 4).",
    ),
    (
        torch.rand(3, 3),
        torch.tensor([0, 3, 2]),
        "Expected `target` to contain only class indices in [0, 2], but got 3.",
    ),
    (
        torch.rand(3, 3),
        torch.tensor([0, -1, 2]),
        "Expected `target` to contain only class indices in [0, 2], but got -1.",
    ),
]


@pytest.mark.parametrize("metric_type", METRIC_TYPES)
@pytest.mark.parametrize(("preds", "target", "message"), MULTICLASS_BAD)
def test_multiclass_bad_input_raises_and_keeps_state(metric_type, preds, target, message):
    metric = (
        metric_type(task="multiclass", num_classes=3, thresholds=10)
        if metric_type in (ek.ROC, ek.AUROC)
        else metric_type(task="multiclass", num_classes=3)
    )
    metric.update(torch.rand(2, 3), torch.tensor([0, 2]))
    before = _state(metric)
    with pytest.raises(ValueError, match=re.escape(message)):
        metric.update(preds, target)
    _assert_same_state(before, _state(metric))


def test_integer_class_predictions_out_of_range_are_rejected():
    metric = ek.Sensitivity(task="multiclass", num_classes=3)
    with pytest.raises(
        ValueError, match=re.escape("Expected integer `preds` to contain class indices in [0, 2], but got 5.")
    ):
        metric.update(torch.tensor([0, 5]), torch.tensor([0, 1]))


def test_multilabel_shape_and_ignore_index_messages():
    metric = ek.AUROC(task="multilabel", num_labels=3, ignore_index=-1)
    with pytest.raises(
        ValueError,
        match=re.escape("Expected `preds` and `target` to have shape (N, 3, ...) for num_labels=3, but got (4, 2)."),
    ):
        metric.update(torch.rand(4, 2), torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(
        ValueError, match=re.escape("Expected `target` to contain only 0 and 1 (or ignore_index=-1), but got 7.")
    ):
        metric.update(torch.rand(2, 3), torch.tensor([[0, 1, 7], [0, 0, 1]]))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"task": "bin"},
            ValueError,
            "Expected `task` to be one of 'binary', 'multiclass', 'multilabel', but got 'bin'.",
        ),
        (
            {"task": "multiclass"},
            ValueError,
            "Expected `num_classes` (an int >= 2) with task='multiclass', but got None.",
        ),
        (
            {"task": "multilabel"},
            ValueError,
            "Expected `num_labels` (an int >= 2) with task='multilabel', but got None.",
        ),
        ({"task": "multiclass", "num_classes": 1}, ValueError, "Expected `num_classes` to be an int >= 2, but got 1."),
        ({"task": "multiclass", "num_classes": 2.0}, TypeError, "Expected `num_classes` to be an int, but got float."),
        (
            {"task": "binary", "input_format": "probabilities"},
            ValueError,
            "Expected `input_format` to be one of 'probs', 'logits', 'scores', but got 'probabilities'.",
        ),
        (
            {"task": "binary", "ignore_index": 0.5},
            TypeError,
            "Expected `ignore_index` to be an int or None, but got float.",
        ),
    ],
)
@pytest.mark.parametrize("metric_type", METRIC_TYPES)
def test_bad_arguments(metric_type, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        metric_type(**kwargs)


@pytest.mark.parametrize("metric_type", [ek.Sensitivity, ek.Specificity, ek.AUROC])
def test_unknown_average(metric_type):
    with pytest.raises(
        ValueError,
        match=re.escape("Expected `average` to be one of 'macro', 'micro', 'weighted', 'none', but got 'samples'."),
    ):
        metric_type(task="multiclass", num_classes=3, average="samples")


@pytest.mark.parametrize(
    ("thresholds", "error", "message"),
    [
        ([0.5, 0.2, 0.9], ValueError, "Expected `thresholds` to be strictly increasing, but got [0.5, 0.2, 0.9]."),
        ([0.0, 0.5, 1.5], ValueError, "Expected `thresholds` to lie in [0, 1], but got 1.5."),
        ([-0.1, 0.5], ValueError, "Expected `thresholds` to lie in [0, 1], but got -0.1."),
        (1, ValueError, "Expected `thresholds` as an int to be >= 2, but got 1."),
        (
            torch.tensor([1, 2]),
            TypeError,
            "Expected `thresholds` to be None, an int, a list of floats or a float tensor, but got torch.int64.",
        ),
        (torch.rand(2, 2), ValueError, "Expected `thresholds` to be 1-D with at least 2 values, but got (2, 2)."),
    ],
)
@pytest.mark.parametrize("metric_type", [ek.ROC, ek.AUROC])
def test_bad_thresholds(metric_type, thresholds, error, message):
    with pytest.raises(error, match=re.escape(message)):
        metric_type(task="binary", thresholds=thresholds)


@pytest.mark.parametrize("threshold", [1.5, -0.1])
def test_bad_decision_threshold(threshold):
    with pytest.raises(
        ValueError, match=re.escape(f"Expected `threshold` to be a float in [0, 1], but got {threshold}.")
    ):
        ek.Sensitivity(task="binary", threshold=threshold)


@pytest.mark.parametrize("metric_type", [ek.Sensitivity, ek.Specificity, ek.AUROC])
@pytest.mark.parametrize("thresholds", [None, 100])
def test_compute_before_update_warns_and_returns_nan(metric_type, thresholds):
    kwargs = {"thresholds": thresholds} if metric_type is ek.AUROC else {}
    metric = metric_type(task="binary", **kwargs)
    with pytest.warns(UserWarning, match="before any"):
        assert torch.isnan(metric.compute())


@pytest.mark.parametrize("thresholds", [None, 50])
def test_auroc_with_one_class_is_nan_with_warning_and_left_out_of_macro(thresholds):
    metric = ek.AUROC(task="binary", thresholds=thresholds)
    metric.update(torch.tensor([0.2, 0.7]), torch.tensor([1, 1]))
    with pytest.warns(UserWarning, match="only one class is present"):
        assert torch.isnan(metric.compute())
    multilabel = ek.AUROC(task="multilabel", num_labels=2, thresholds=thresholds)
    multilabel.update(torch.tensor([[0.2, 0.1], [0.7, 0.9]]), torch.tensor([[1, 0], [1, 1]]))
    with pytest.warns(UserWarning, match=r"undefined \(NaN\) for classes \[0\]"):
        assert multilabel.compute().item() == 1.0


def test_undefined_sensitivity_follows_zero_division_with_warning():
    preds, target = torch.tensor([0, 0, 2]), torch.tensor([0, 0, 2])
    with pytest.warns(UserWarning, match=r"Sensitivity is undefined for classes \[1\]"):
        zero = ek.functional.sensitivity(preds, target, task="multiclass", num_classes=3, average="none")
    assert zero.tolist() == [1.0, 0.0, 1.0]
    # class 1 is absent from target and predictions: left out of the macro mean without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        absent = ek.functional.sensitivity(preds, target, task="multiclass", num_classes=3)
    assert absent.item() == 1.0
    # class 1 predicted but never true: undefined, warned, and left out with zero_division="nan"
    predicted_once = torch.tensor([0, 1, 2])
    with pytest.warns(UserWarning, match=r"Sensitivity is undefined for classes \[1\]"):
        left_out = ek.functional.sensitivity(
            predicted_once, target, task="multiclass", num_classes=3, zero_division="nan"
        )
    assert left_out.item() == 0.75
