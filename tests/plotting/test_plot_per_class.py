"""A per-class classification metric draws its values as sorted bars: all classes up to 30, above that the best
and worst 15 (texts equal to the values), and every such metric gets its own image in the callback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from lightning_evalkit import AUROC, Sensitivity, Specificity
from lightning_evalkit.callback.plot_sources import figure_builders, plot_sources
from lightning_evalkit.plotting import plot_per_class_values


def test_bars_are_sorted_and_above_thirty_classes_the_best_and_worst_are_drawn() -> None:
    values = np.random.default_rng(0).random(200)
    values[7] = np.nan
    figure = plot_per_class_values(values, "sensitivity", [f"c{i}" for i in range(200)])
    texts = figure.axes[0].text_collections[0].texts
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
    defined = order[np.isfinite(values[order])]
    shown = np.concatenate([defined[:15], defined[-15:]])
    assert texts == [f"c{i}  {values[i]:.3f}" for i in shown]
    title = figure.axes[0].get_title()
    assert "30 of 200 classes" in title and f"mean over 199 classes {np.nanmean(values):.4f}" in title
    small = plot_per_class_values([0.2, 0.9, np.nan], "specificity")
    assert small.axes[0].text_collections[0].texts == ["1  0.900", "0  0.200", "2  n/a"]


def test_every_per_class_metric_feeds_its_own_image_equal_to_its_values() -> None:
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 40, (3000,), generator=generator)
    probs = (torch.rand(3000, 40, generator=generator) + 2 * torch.nn.functional.one_hot(target, 40)).softmax(1)
    metrics = {
        "sensitivity": Sensitivity(task="multiclass", num_classes=40, average="none"),
        "specificity": Specificity(task="multiclass", num_classes=40, average="none"),
        "auroc": AUROC(task="multiclass", num_classes=40, average="none"),
        "macro": Sensitivity(task="multiclass", num_classes=40),  # one value: no per-class image
    }
    for metric in metrics.values():
        metric.update(probs, target)
    results = {name: metric.compute() for name, metric in metrics.items()}
    sources = plot_sources(list(metrics.items()), results, ["per_class_values"], None)
    builders = dict(figure_builders(sources, ["per_class_values"], None))
    assert sorted(builders) == [
        "per_class_values/auroc",
        "per_class_values/sensitivity",
        "per_class_values/specificity",
    ]
    recall = skm.recall_score(target, probs.argmax(1), average=None, labels=list(range(40)))
    texts = builders["per_class_values/sensitivity"]().axes[0].text_collections[0].texts
    shown = {int(text.split()[0]): float(text.split()[1]) for text in texts}
    assert len(shown) == 30
    for cls, value in shown.items():
        assert value == pytest.approx(recall[cls], abs=5e-4)
