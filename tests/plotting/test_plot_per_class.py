"""A per-class classification metric draws its values as sorted bars: all classes up to 30, above that the best
and worst 15 (texts equal to the values), and every such metric gets its own image in the callback."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
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


def _label_boxes(figure: Figure) -> list[Bbox]:
    """Pixel boxes of the bar labels (glyph outlines placed at their offsets)."""
    (labels,) = figure.axes[0].text_collections  # type: ignore[attr-defined]
    collection = labels.collection
    places = collection.get_offset_transform().transform(collection.get_offsets())
    boxes = []
    for path, (x, y) in zip(collection.get_paths(), places, strict=True):
        box = path.transformed(collection.get_transform()).get_extents()
        boxes.append(Bbox.from_extents(box.x0 + x, box.y0 + y, box.x1 + x, box.y1 + y))
    return boxes


def test_above_thirty_classes_an_empty_ruled_row_separates_the_best_from_the_worst() -> None:
    values = np.random.default_rng(3).random(200)
    values[[7, 9]] = np.nan
    figure = plot_per_class_values(values, "sensitivity", title="Sensitivity per class (val)")
    axes = figure.axes[0]
    title = axes.get_title()
    assert title.startswith("Sensitivity per class (val)\n30 of 200 classes shown: the best 15 and the worst 15")
    assert "(2 classes n/a: undefined)" in title and f"mean over 198 classes {np.nanmean(values):.4f}" in title
    (labels,) = axes.text_collections  # type: ignore[attr-defined]
    rows = [y for _, y in labels.collection.get_offsets()]
    assert rows == [*range(15), *range(16, 31)]  # row 15 is the gap
    (note,) = axes.texts
    assert note.get_text() == "168 classes not shown" and note.get_position()[1] == 15
    rules = sorted(line.get_ydata()[0] for line in axes.get_lines() if line.get_color() == "0.25")
    assert rules == [14.5, 15.5]
    few = plot_per_class_values(np.r_[np.full(35, np.nan), [0.5, 0.1, 0.9, 0.3, 0.7]], "specificity")
    assert few.axes[0].text_collections[0].texts == ["37  0.900", "39  0.700", "35  0.500", "38  0.300", "36  0.100"]
    assert "5 of 40 classes shown: every defined one" in few.axes[0].get_title() and not few.axes[0].texts


@pytest.mark.parametrize("count", [3, 30, 200])
def test_every_label_is_inside_the_figure_left_of_the_bars_and_apart_from_its_neighbours(count: int) -> None:
    values = np.random.default_rng(count).random(count)
    values[1] = np.nan
    names = [f"a long class name {i}" for i in range(count)]
    figure = plot_per_class_values(values, "sensitivity", names)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    figure.draw(renderer)
    width, height = figure.canvas.get_width_height()
    axes = figure.axes[0]
    box = axes.get_tightbbox(renderer)
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
    plot_area = axes.get_window_extent(renderer)
    labels = _label_boxes(figure)
    assert all(label.x0 > 0 and label.x1 < plot_area.x0 for label in labels)  # left of the bars, not clipped
    tops_down = sorted(labels, key=lambda label: -label.y1)
    assert all(upper.y0 > lower.y1 for upper, lower in itertools.pairwise(tops_down))  # no overlap
    assert min(label.height for label in labels) >= 7  # at least 7 px glyphs: legible at actual size
    for note in axes.texts:  # the gap row's note stays within the bars' width
        extent = note.get_window_extent(renderer)
        assert plot_area.x0 < extent.x0 and extent.x1 < plot_area.x1
