"""What a reviewer reads off each plot: class names, counts and percentages, thresholds, AP and AUC values.

Every number shown is checked against scikit-learn (or against the metric's own tested result), and the
layout rules (legend outside the curves, values clear of the mean line, top-k for many classes) against the
rendered geometry.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lightning_evalkit import AUROC, ConfusionMatrix, MeanAveragePrecision, plotting
from lightning_evalkit.callback.plot_sources import figure_builders, plot_sources, pr_curve_entries
from lightning_evalkit.classification.curve_points import roc_arrays
from lightning_evalkit.functional import curve_counts, roc_from_counts
from lightning_evalkit.plotting.matrix import pool_top_classes
from tests._detection_data import random_images

metrics = pytest.importorskip("sklearn.metrics")


def _figures(metric_list: dict[str, object], class_names: object = None) -> dict[str, Figure]:
    wanted = ("roc", "sensitivity_specificity", "precision_recall", "confusion_matrix")
    sources = plot_sources(list(metric_list.items()), {}, wanted, class_names)  # type: ignore[arg-type]
    builders = figure_builders(sources, wanted, class_names)  # type: ignore[arg-type]
    return {tag: build() for tag, build in builders}


def _binary(threshold: float = 0.5) -> tuple[dict[str, object], np.ndarray, np.ndarray]:
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 2, (400,), generator=generator)
    scores = torch.sigmoid(1.5 * (2 * target - 1) + torch.randn(400, generator=generator))
    found = {"auroc": AUROC(task="binary"), "cm": ConfusionMatrix(task="binary", threshold=threshold)}
    for metric in found.values():
        metric.update(scores, target)  # type: ignore[attr-defined]
    return found, scores.numpy(), target.numpy()


def _cell_texts(figure: Figure) -> list[str]:
    (cells,) = figure.axes[0].text_collections  # type: ignore[attr-defined]
    return cells.texts


def test_binary_roc_names_the_positive_class_and_its_auc_equals_scikit_learn() -> None:
    found, scores, target = _binary()
    roc = _figures(found, ["benign", "malignant"])["roc"]
    axes = roc.axes[0]
    assert "positive class: malignant" in axes.get_xlabel() and "positive class: malignant" in axes.get_ylabel()
    label = axes.get_lines()[0].get_label()
    shown = float(re.search(r"AUC = ([0-9.]+)", label).group(1))  # type: ignore[union-attr]
    assert shown == pytest.approx(metrics.roc_auc_score(target, scores), abs=5e-5)
    assert "positive class: 1" in _figures(found)["roc"].axes[0].get_ylabel()  # no names: the label, as sklearn


def test_binary_confusion_matrix_shows_counts_row_percentages_and_the_metrics_threshold() -> None:
    found, scores, target = _binary(threshold=0.3)
    figure = _figures(found, ["benign", "malignant"])["confusion_matrix"]
    assert "threshold 0.3" in figure.axes[0].get_title()
    expected = metrics.confusion_matrix(target, scores >= 0.3)
    share = metrics.confusion_matrix(target, scores >= 0.3, normalize="true")
    pairs = zip(expected.ravel(), share.ravel(), strict=True)
    wanted = [f"{count}\n{100 * part:.1f}%" if count else "0" for count, part in pairs]
    assert _cell_texts(figure) == wanted


def test_multilabel_confusion_titles_the_threshold_and_multiclass_does_not() -> None:
    figure = plotting.plot_confusion_matrix(np.ones((3, 2, 2)), ["a", "b", "c"], threshold=0.7)
    assert "threshold 0.7" in figure.get_suptitle()
    generator = torch.Generator().manual_seed(0)
    matrix = ConfusionMatrix(task="multiclass", num_classes=3)
    matrix.update(torch.randint(0, 3, (50,), generator=generator), torch.randint(0, 3, (50,), generator=generator))
    assert "threshold" not in _figures({"cm": matrix})["confusion_matrix"].axes[0].get_title()


def test_sensitivity_specificity_legend_sits_outside_the_axes() -> None:
    found, _, _ = _binary()
    figure = _figures(found)["sensitivity_specificity"]
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    figure.draw(renderer)
    axes = figure.axes[0]
    legend = axes.get_legend().get_window_extent(renderer)
    assert legend.y1 < axes.get_window_extent(renderer).y0  # wholly below the plotting area
    assert legend.y1 < axes.xaxis.label.get_window_extent(renderer).y0  # and below the x label


def test_per_class_ap_is_sized_by_classes_and_values_stay_clear_of_the_mean_line() -> None:
    heights = [plotting.plot_per_class_ap(np.linspace(0.2, 0.9, k), list(range(k))).get_figheight() for k in (3, 20)]
    assert heights[1] > heights[0] + 4
    figure = plotting.plot_per_class_ap([0.5, 0.7, -1.0], [0, 1, 2], ["a", "b", "c"])
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    figure.draw(renderer)
    axes_left = figure.axes[0].get_window_extent(renderer).x0
    (labels,) = figure.axes[0].text_collections  # type: ignore[attr-defined]
    assert labels.texts == ["a  0.500", "b  0.700", "c  n/a"]
    box = labels.collection.get_window_extent(renderer)
    assert box.x0 > 0 and box.x1 < axes_left  # left of the bars and of the mean line
    ink = plotting.figure_to_rgb(figure).min(axis=2) < 100
    height = ink.shape[0]
    axes_box = figure.axes[0].get_window_extent(renderer)
    rows = slice(int(height - axes_box.y1), int(height - axes_box.y0))
    assert ink[rows, : int(axes_left) - 2].sum() > 100  # the labels are drawn, not clipped away
    assert "0.6000" in figure.axes[0].get_title()  # the mean over the classes that have an AP


def test_detection_pr_legend_gives_each_class_ap_and_the_mean_equals_map_50() -> None:
    preds, target = random_images(seed=3, num_images=12, num_classes=3)
    metric = MeanAveragePrecision(box_format="xywh", extended_summary=True, class_metrics=True)
    metric.update(preds, target)
    result = metric.compute()
    figure = plotting.plot_detection_pr_curves(
        result["precision"], list(metric.rec_thresholds), list(metric.iou_thresholds), result["classes"].tolist()
    )
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert all(re.search(r"\(AP = [0-9.]+\)$", label) for label in labels)
    mean = float(re.search(r"AP = ([0-9.]+)", labels[-1]).group(1))  # type: ignore[union-attr]
    assert mean == pytest.approx(float(result["map_50"]), abs=5e-4)


def _multiclass(num_classes: int, n: int) -> tuple[AUROC, ConfusionMatrix, np.ndarray, np.ndarray]:
    generator = torch.Generator().manual_seed(num_classes)
    weights = torch.linspace(1.0, 3.0, num_classes)
    target = torch.multinomial(weights, n, replacement=True, generator=generator)
    logits = torch.randn(n, num_classes, generator=generator) + 2 * torch.nn.functional.one_hot(target, num_classes)
    probs = logits.double().softmax(1)
    auroc = AUROC(task="multiclass", num_classes=num_classes)
    matrix = ConfusionMatrix(task="multiclass", num_classes=num_classes)
    auroc.update(probs, target)
    matrix.update(probs, target)
    return auroc, matrix, probs.numpy(), target.numpy()


def test_one_vs_rest_roc_of_many_classes_draws_the_top_ten_by_support_and_the_macro_auc_of_all() -> None:
    auroc, matrix, probs, target = _multiclass(100, 3000)
    figure = _figures({"auroc": auroc, "cm": matrix})["roc"]
    axes = figure.axes[0]
    assert "10 of 100 classes" in axes.get_title()
    labels = [line.get_label() for line in axes.get_lines()]
    named = [int(label.split(" vs rest")[0]) for label in labels if " vs rest" in label]
    support = np.bincount(target, minlength=100)
    assert len(named) == 10 and sorted(support[named]) == sorted(np.sort(support)[-10:])
    for label, cls in zip(labels[:10], named, strict=True):
        shown = float(re.search(r"AUC = ([0-9.]+)", label).group(1))  # type: ignore[union-attr]
        assert shown == pytest.approx(metrics.roc_auc_score(target == cls, probs[:, cls]), abs=5e-5)
    macro = next(label for label in labels if label.startswith("macro"))
    shown = float(re.search(r"AUC = ([0-9.]+)", macro).group(1))  # type: ignore[union-attr]
    assert shown == pytest.approx(metrics.roc_auc_score(target, probs, multi_class="ovr"), abs=5e-5)


def test_confusion_matrix_of_many_classes_keeps_the_top_classes_and_pools_the_rest() -> None:
    _, matrix, probs, target = _multiclass(100, 3000)
    figure = _figures({"cm": matrix})["confusion_matrix"]
    assert "15 of 100 classes" in figure.axes[0].get_title()
    full = metrics.confusion_matrix(target, probs.argmax(1), labels=list(range(100)))
    pooled, names = pool_top_classes(full, [str(i) for i in range(100)], 15)
    kept = [int(name) for name in names[:-1]]
    support = full.sum(axis=1)
    assert sorted(support[kept]) == sorted(np.sort(support)[-15:])
    assert np.array_equal(pooled[:15, :15], full[np.ix_(kept, kept)])
    assert pooled.sum() == full.sum() and names[-1] == "other (85 classes)"
    share = pooled / pooled.sum(axis=1, keepdims=True)
    wanted = [f"{count}\n{100 * part:.1f}%" for count, part in zip(pooled.ravel(), share.ravel(), strict=True) if count]
    rest = [i for i in range(100) if i not in kept]
    correct = int(full[rest, rest].sum())  # the pooled cell: correct, then confused among the pooled classes
    wanted[-1] = f"{correct}\n+{int(pooled[-1, -1]) - correct}"
    assert _cell_texts(figure) == wanted  # blank cells are zeros, as the title says
    assert "blank cells: 0" in figure.axes[0].get_title()


def test_pr_curve_plugin_entries_are_capped_to_the_top_classes() -> None:
    auroc, _, _, target = _multiclass(100, 3000)
    entries = pr_curve_entries(plot_sources([("auroc", auroc)], {}, ("pr_curve_plugin",), None), None)
    support = np.bincount(target, minlength=100)
    shown = [int(tag.rsplit("/", 1)[1]) for tag, _ in entries]
    assert len(shown) == 10 and sorted(support[shown]) == sorted(np.sort(support)[-10:])


@pytest.mark.parametrize("seed", range(5))
def test_plotted_roc_and_auc_are_the_metrics_own(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    scores = (torch.rand(200, generator=generator) * 20).round() / 20  # ties
    target = torch.randint(0, 2, (200,), generator=generator)
    for thresholds in (None, 11):
        counts = curve_counts(scores.double(), target, task="binary", thresholds=thresholds)[0]
        fpr, tpr, auc = roc_arrays(counts)
        expected_fpr, expected_tpr, _ = (t.numpy() for t in roc_from_counts(counts))
        np.testing.assert_array_equal(fpr, expected_fpr)
        np.testing.assert_array_equal(tpr, expected_tpr)
        assert auc == float(AUROC(task="binary", thresholds=thresholds).forward(scores.double(), target))
