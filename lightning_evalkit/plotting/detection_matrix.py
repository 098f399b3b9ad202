"""The detection confusion matrix figure: classes, plus the "none" row (background detections) and column
(missed objects), pooled to the most frequent classes where there are many."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_evalkit._core.arrays import to_numpy
from lightning_evalkit.plotting.base import ClassNames, class_name, top_k
from lightning_evalkit.plotting.matrix import MAX_MATRIX_CLASSES, plot_confusion_matrix

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NONE_LABEL = "none"


def pool_detection_classes(counts: np.ndarray, labels: list[str], k: int) -> tuple[np.ndarray, list[str]]:
    """Keep the ``k`` classes with the most ground truth and the "none" row/column (the last); pool the rest.

    Example:
        >>> counts = np.array([[5, 0, 0, 1], [0, 1, 0, 0], [1, 0, 3, 2], [2, 0, 1, 0]])
        >>> pooled, names = pool_detection_classes(counts, ["a", "b", "c", "none"], 2)
        >>> pooled.tolist(), names
        ([[5, 0, 0, 1], [1, 3, 0, 2], [0, 0, 1, 0], [2, 1, 0, 0]], ['a', 'c', 'other (1 class)', 'none'])
    """
    num_classes = counts.shape[0] - 1
    if num_classes <= k:
        return counts, labels
    kept = np.sort(top_k(counts[:num_classes].sum(axis=1), k))
    rest = np.setdiff1d(np.arange(num_classes), kept)
    groups = [[int(i)] for i in kept] + [rest.tolist(), [num_classes]]
    pooled = np.array([[counts[np.ix_(rows, cols)].sum() for cols in groups] for rows in groups])
    noun = "class" if rest.size == 1 else "classes"
    return pooled, [labels[i] for i in kept] + [f"other ({rest.size} {noun})", NONE_LABEL]


def plot_detection_confusion_matrix(
    counts: Any,
    class_names: ClassNames = None,
    iou_threshold: float | None = None,
    score_threshold: float | None = None,
    max_classes: int = MAX_MATRIX_CLASSES,
) -> Figure:
    """Draw a detection confusion matrix: rows the true class, columns the predicted class, each count with its
    row share; the row "none" holds the background detections (matched nothing), the column "none" the missed
    ground truth.

    Args:
        counts: (K + 1, K + 1) counts, as ``DetectionConfusionMatrix.compute()`` returns them.
        class_names: names of the K classes; defaults to their indices.
        iou_threshold: the IoU a match needed, shown in the title.
        score_threshold: the detections' score threshold, shown in the title.
        max_classes: above this many classes, the ``max_classes`` with the most ground truth are drawn, the
            others pooled into one "other" row and column (its diagonal cell counts confusions among them too).

    Example:
        >>> figure = plot_detection_confusion_matrix([[8, 1, 2], [0, 5, 1], [3, 1, 0]], ["cat", "dog"], 0.5, 0.25)
        >>> figure.axes[0].get_title().splitlines()[0]
        'Detection confusion matrix, IoU >= 0.5, score >= 0.25'
    """
    matrix = to_numpy(counts).astype(np.int64)
    num_classes = matrix.shape[0] - 1
    labels = [class_name(class_names, i) for i in range(num_classes)] + [NONE_LABEL]
    pooled, labels = pool_detection_classes(matrix, labels, max_classes)
    title = "Detection confusion matrix"
    if iou_threshold is not None:
        title += f", IoU >= {iou_threshold:.3g}"
    if score_threshold is not None:
        title += f", score >= {score_threshold:.3g}"
    if pooled.shape[0] < matrix.shape[0]:
        title += f"\n{max_classes} of {num_classes} classes with the most objects; the rest pooled as 'other'"
    title += "\nrow 'none': background detections; column 'none': missed objects"
    return plot_confusion_matrix(pooled, labels, title=title, max_classes=pooled.shape[0])
