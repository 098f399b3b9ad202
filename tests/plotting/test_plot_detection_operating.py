"""The detection confusion matrix and F1-confidence figures: pooling keeps every count and the "none" row and
column at 80 and 1000 classes, every text stays inside the figure, and the odd inputs (no detection, recall
above 1, scores outside [0, 1]) draw."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_evalkit import plotting
from lightning_evalkit.plotting.detection_matrix import pool_detection_classes
from tests.plotting.test_plot_sizes import _inside

RNG = np.random.default_rng(3)


def _counts(classes: int) -> np.ndarray:
    counts = RNG.integers(0, 3, (classes + 1, classes + 1))
    counts[np.arange(classes), np.arange(classes)] += RNG.integers(0, 300, classes)
    counts[-1, -1] = 0
    return counts


@pytest.mark.parametrize("classes", [3, 80, 1000])
def test_pooled_matrix_keeps_every_count_and_the_none_row_and_column(classes):
    counts = _counts(classes)
    names = [f"class_{i}" for i in range(classes)] + ["none"]
    pooled, labels = pool_detection_classes(counts, names, 15)
    assert pooled.sum() == counts.sum()
    assert labels[-1] == "none" and pooled[-1, -1] == 0
    np.testing.assert_array_equal(pooled[-1].sum(), counts[-1].sum())  # background detections
    np.testing.assert_array_equal(pooled[:, -1].sum(), counts[:, -1].sum())  # missed objects
    assert pooled.shape == ((classes + 1,) * 2 if classes <= 15 else (17, 17))
    figure = plotting.plot_detection_confusion_matrix(counts, names[:-1], 0.5, 0.25)
    _inside(figure)
    assert plotting.figure_to_rgb(figure).shape[1] <= 1000


@pytest.mark.parametrize(
    ("thresholds", "best"),
    [(np.linspace(-2.0, 3.0, 500), 0.5), (np.zeros(0), float("nan")), (np.array([0.5]), 0.5)],
)
def test_f1_confidence_draws_odd_inputs(thresholds, best):
    size = thresholds.size
    recall = np.linspace(1.3, 0.0, size)  # crowd matches: recall can pass 1
    precision = np.linspace(0.2, 1.0, size)
    f1 = 2 * precision * recall / (precision + recall)
    figure = plotting.plot_f1_confidence(thresholds, f1, precision, recall, best)
    _inside(figure)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels[0].startswith("F1 (best") == (size > 0)


def test_metric_plot_draws_the_callback_figures():
    from lightning_evalkit import DetectionConfusionMatrix, DetectionOperatingPoint
    from tests._detection_data import random_images

    preds, target = random_images(1, 4, scale=6)
    confusion, operating = DetectionConfusionMatrix(4, box_format="xywh"), DetectionOperatingPoint(box_format="xywh")
    for metric in (confusion, operating):
        metric.update(preds, target)
    _, axes = confusion.plot(class_names=["a", "b", "c", "d"])
    assert axes.get_title().startswith("Detection confusion matrix, IoU >= 0.5")
    assert f"(n = {int(confusion.compute().sum())})" in axes.get_title()
    _, axes = operating.plot()
    assert axes.get_lines()[0].get_label().startswith("F1 (best")
    with pytest.raises(ValueError, match="ax=None"):
        operating.plot(ax=axes)
