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
