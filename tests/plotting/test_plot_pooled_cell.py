"""Above the drawn classes, the pooled other->other cell tells correct predictions from confusions among the
pooled classes: its text and the title give both counts, and it is shaded by the correct share only."""

from __future__ import annotations

import numpy as np

from lightning_evalkit.plotting import plot_confusion_matrix
from lightning_evalkit.plotting.base import top_k
from lightning_evalkit.plotting.matrix import pooled_correct


def _matrix(seed: int = 0, classes: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, 20000)
    target[:6000] = rng.integers(0, min(15, classes), 6000)
    predicted = np.where(rng.random(20000) < 0.5, target, rng.integers(0, classes, 20000))
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (target, predicted), 1)
    return matrix


def test_the_pooled_cell_shows_correct_and_confused_apart() -> None:
    matrix = _matrix()
    kept = top_k(matrix.sum(axis=1), 15)
    rest = np.setdiff1d(np.arange(200), kept)
    correct = int(matrix[rest, rest].sum())  # samples of a pooled class predicted as that same class
    confused = int(matrix[np.ix_(rest, rest)].sum()) - correct
    assert pooled_correct(matrix, 15) == correct and confused > 0
    figure = plot_confusion_matrix(matrix)
    title = figure.axes[0].get_title()
    assert f"other->other: {correct} correct + {confused} confused among the pooled classes" in title
    image = figure.axes[0].get_images()[0].get_array()
    assert image[15, 15] == correct / matrix[rest].sum()  # shaded by the correct share, not the pooled diagonal


def test_nothing_pooled_keeps_the_plain_diagonal() -> None:
    matrix = _matrix(classes=10)
    assert pooled_correct(matrix, 15) is None
    assert "other->other" not in plot_confusion_matrix(matrix).axes[0].get_title()


def test_the_drawn_cells_of_a_200_class_matrix_equal_the_full_matrix_counts() -> None:
    matrix = _matrix(seed=1)
    kept = np.sort(top_k(matrix.sum(axis=1), 15))
    rest = np.setdiff1d(np.arange(200), kept)
    groups = [[int(i)] for i in kept] + [rest.tolist()]
    wanted = []
    for rows in groups:
        total = matrix[rows].sum()
        for cols in groups:
            count = int(matrix[np.ix_(rows, cols)].sum())
            if count == 0:
                continue  # blank (the title says blank is 0)
            wanted.append(f"{count}\n{100 * count / total:.1f}%")
    correct = int(matrix[rest, rest].sum())
    wanted[-1] = f"{correct}\n+{int(matrix[np.ix_(rest, rest)].sum()) - correct}"
    figure = plot_confusion_matrix(matrix)
    (cells,) = figure.axes[0].text_collections
    assert cells.texts == wanted


def test_the_pooled_cell_text_fits_its_cell_and_the_others_keep_their_size() -> None:
    matrix = _matrix(seed=2) * 1000  # the pooled cell's counts two digits longer than any other cell's
    figure = plot_confusion_matrix(matrix)
    figure.canvas.draw()  # type: ignore[attr-defined]
    axes = figure.axes[0]
    (cells,) = axes.text_collections  # type: ignore[attr-defined]
    cell = axes.get_window_extent().width / 16
    to_pixels = cells.collection.get_transform()
    boxes = [path.transformed(to_pixels).get_extents() for path in cells.collection.get_paths()]
    assert len(cells.texts[-1]) >= 16 and max(box.width for box in boxes) < 0.95 * cell  # nothing overflows
    ordinary = min(box.height for box in boxes[:-1])
    assert ordinary > 0.45 * cell and boxes[-1].height < 0.8 * ordinary  # only the pooled cell was shrunk
