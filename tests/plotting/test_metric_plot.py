"""``Metric.plot()`` on every metric returns ``(figure, axes)`` as torchmetrics does, without pyplot.

What each figure shows is checked against the metric's own tested ``compute()`` (and scikit-learn for AUC).
"""

from __future__ import annotations

import re
import sys

import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lightning_evalkit import (
    AUROC,
    ROC,
    ConfusionMatrix,
    IntersectionOverUnion,
    MeanAveragePrecision,
    MeanIoU,
    Sensitivity,
    Specificity,
)
from lightning_evalkit.plotting.base import new_figure
from tests._detection_data import random_images

metrics = pytest.importorskip("sklearn.metrics")
GENERATOR = torch.Generator().manual_seed(7)
TARGET = torch.randint(0, 2, (200,), generator=GENERATOR)
SCORES = torch.sigmoid(2 * TARGET - 1 + torch.randn(200, generator=GENERATOR)).double()
MC_TARGET = torch.randint(0, 4, (200,), generator=GENERATOR)
MC_SCORES = (torch.randn(200, 4, generator=GENERATOR) + 2 * torch.nn.functional.one_hot(MC_TARGET, 4)).softmax(1)


def _no_pyplot_state() -> bool:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return pyplot is None or not pyplot.get_fignums()


def _check(out: object) -> tuple[Figure, Axes]:
    assert isinstance(out, tuple) and len(out) == 2
    figure, axes = out
    assert isinstance(figure, Figure) and isinstance(axes, Axes) and axes.get_figure() is figure
    assert _no_pyplot_state()
    return figure, axes


def _auc_in(label: str) -> float:
    return float(re.search(r"AUC = ([0-9.]+)", label).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize("cls", [ROC, AUROC])
def test_binary_curve_metrics_plot_their_roc_curve(cls: type) -> None:
    metric = cls(task="binary")
    metric.update(SCORES, TARGET)
    _, axes = _check(metric.plot())
    assert _auc_in(axes.get_lines()[0].get_label()) == pytest.approx(metrics.roc_auc_score(TARGET, SCORES), abs=5e-5)


def test_multiclass_roc_plots_one_curve_per_class_from_its_compute_output() -> None:
    metric = ROC(task="multiclass", num_classes=4)
    metric.update(MC_SCORES, MC_TARGET)
    for out in (metric.plot(), metric.plot(metric.compute())):
        _, axes = _check(out)
        labels = [line.get_label() for line in axes.get_lines()]
        for k in range(4):
            expected = metrics.roc_auc_score(k == MC_TARGET, MC_SCORES[:, k])
            assert _auc_in(labels[k]) == pytest.approx(expected, abs=5e-5)


def test_auroc_given_a_value_plots_that_value() -> None:
    metric = AUROC(task="binary")
    metric.update(SCORES, TARGET)
    _, axes = _check(metric.plot(metric.compute()))
    assert axes.texts[0].get_text() == f"{float(metric.compute()):.4f}"


def test_confusion_matrix_plots_its_counts_into_given_axes() -> None:
    metric = ConfusionMatrix(task="binary", threshold=0.4)
    metric.update(SCORES, TARGET)
    figure = new_figure()
    axes = figure.add_subplot()
    out_figure, out_axes = _check(metric.plot(ax=axes))
    assert out_figure is figure and out_axes is axes
    expected = metrics.confusion_matrix(TARGET, SCORES >= 0.4)
    assert [text.get_text().split("\n")[0] for text in axes.texts] == [str(v) for v in expected.ravel()]
    assert "threshold 0.4" in axes.get_title()


@pytest.mark.parametrize("cls", [Sensitivity, Specificity])
def test_sensitivity_and_specificity_plot_their_values(cls: type) -> None:
    metric = cls(task="multiclass", num_classes=4, average="none")
    metric.update(MC_SCORES, MC_TARGET)
    _, axes = _check(metric.plot())
    assert [t.get_text() for t in axes.texts] == [f"{v:.4f}" for v in metric.compute().tolist()]
    assert len(axes.patches) == 4


def _detection(extended: bool) -> MeanAveragePrecision:
    preds, target = random_images(seed=5, num_images=10)
    metric = MeanAveragePrecision(box_format="xywh", extended_summary=extended)
    metric.update(preds, target)
    return metric


def test_mean_average_precision_plots_pr_curves_with_the_extended_summary() -> None:
    figure, _ = _check(_detection(extended=True).plot())
    assert [axes.get_title().split("\n")[0] for axes in figure.axes] == ["IoU = 0.50", "IoU = 0.75"]


def test_mean_average_precision_plots_its_values_otherwise() -> None:
    metric = _detection(extended=False)
    _, axes = _check(metric.plot())
    labels = [label.get_text() for label in axes.get_yticklabels()]
    result = metric.compute()
    assert "map" in labels and "map_50" in labels
    assert axes.texts[labels.index("map")].get_text() == f"{float(result['map']):.4f}"


def test_iou_metrics_plot_their_values() -> None:
    preds, target = random_images(seed=6, num_images=8, box_format="xyxy")
    iou = IntersectionOverUnion()
    iou.update(preds, target)
    _, axes = _check(iou.plot())
    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert axes.texts[labels.index("iou")].get_text() == f"{float(iou.compute()['iou']):.4f}"
    mean_iou = MeanIoU(num_classes=3)
    masks = torch.randint(0, 3, (2, 8, 8), generator=GENERATOR)
    mean_iou.update(masks, masks.roll(1, dims=2))
    _, axes = _check(mean_iou.plot())
    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert axes.texts[labels.index("miou")].get_text() == f"{float(mean_iou.compute()['miou']):.4f}"


def test_multilabel_confusion_plots_one_panel_per_label_and_needs_its_own_figure() -> None:
    metric = ConfusionMatrix(task="multilabel", num_labels=3)
    metric.update(torch.rand(20, 3, generator=GENERATOR), torch.randint(0, 2, (20, 3), generator=GENERATOR))
    figure, _ = _check(metric.plot())
    assert len(figure.axes) == 3
    expected = metric.compute().numpy()
    assert [t.get_text().split("\n")[0] for t in figure.axes[1].texts] == [str(v) for v in expected[1].ravel()]
    with pytest.raises(ValueError, match="Expected `ax=None`"):
        metric.plot(ax=new_figure().add_subplot())
