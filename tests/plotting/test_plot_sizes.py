"""Figures sized for TensorBoard's image cards: no wasted margins around the confusion matrix's axis names, and
natural sizes small enough that the cards shrink them little (every text still inside the figure)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from lightning_evalkit import plotting

RNG = np.random.default_rng(0)
CURVE = np.sort(RNG.random(2000))


def _matrix(classes: int, names: list[str] | None = None) -> Figure:
    counts = RNG.integers(0, 40, (classes, classes)) + np.diag(RNG.integers(50, 200, classes))
    return plotting.plot_confusion_matrix(counts, names)


def _inside(figure: Figure) -> None:
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    figure.draw(renderer)
    width, height = figure.canvas.get_width_height()
    boxes = [axes.get_tightbbox(renderer) for axes in figure.axes] + [
        t.get_window_extent(renderer) for t in figure.texts
    ]
    for box in boxes:
        assert box.x0 >= -2 and box.y0 >= -2 and box.x1 <= width + 2 and box.y1 <= height + 2, (box, width, height)


@pytest.mark.parametrize(
    ("classes", "names"),
    [(5, None), (20, [f"class_{i}" for i in range(20)]), (200, [f"a rather long name {i}" for i in range(200)])],
)
def test_matrix_axis_names_sit_just_clear_of_the_class_names(classes: int, names: list[str] | None) -> None:
    figure = _matrix(classes, names)
    _inside(figure)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    *names, predicted, true = (text.get_window_extent(renderer) for text in figure.texts)
    assert [text.get_text() for text in figure.texts[-2:]] == ["Predicted", "True"]
    leftmost = min(box.x0 for box in names[0::2])  # the row names (each class: its row name, its column name)
    lowest = min(box.y0 for box in names[1::2])  # the column names
    inch = figure.dpi
    assert 0 < lowest - predicted.y1 < 0.2 * inch  # clear of the names, without the old ~0.4 in gap
    assert 0 < leftmost - true.x1 < 0.2 * inch


def test_natural_sizes_stay_within_a_card_at_actual_size() -> None:
    widths = {
        "roc": plotting.plot_roc(CURVE, np.sqrt(CURVE), auc=0.8),
        "sensitivity_specificity": plotting.plot_sensitivity_specificity(CURVE, 1 - CURVE, CURVE, 0.4, pos_label="yes"),
        "one_vs_rest": plotting.plot_roc_one_vs_rest(
            [CURVE] * 12, [np.sqrt(CURVE)] * 12, [0.8] * 12, [f"class_{i}" for i in range(12)], support=range(12)
        ),
        "matrix_2": _matrix(2, ["benign", "malignant"]),
        "matrix_200": _matrix(200, [f"class_{i}" for i in range(200)]),
        "per_class_values": plotting.plot_per_class_values(RNG.random(200), "sensitivity"),
        "error_breakdown": plotting.plot_error_breakdown({"map": 0.4, "classification": 0.05, "missed": 0.12}),
    }
    pixels = {name: plotting.figure_to_rgb(figure).shape[1] for name, figure in widths.items()}
    limits = {"matrix_200": 960, "one_vs_rest": 700}  # 16 rows of two-line cells need ~0.42 in each
    for name, width in pixels.items():
        assert width <= limits.get(name, 650), (name, width)
    for figure in widths.values():
        _inside(figure)
