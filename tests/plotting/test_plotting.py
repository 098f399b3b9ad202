"""Every figure builder renders a non-empty PNG without touching pyplot; the plotting path does not leak."""

from __future__ import annotations

import gc
import io
import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lightning_evalkit import AUROC, ConfusionMatrix, EvalCallback, plotting
from lightning_evalkit.callback.plot_sources import plot_sources
from lightning_evalkit.classification.curve_points import average_precision_from_counts, counts_on_uniform_grid
from lightning_evalkit.functional import curve_counts

RNG = np.random.default_rng(0)
CURVE = np.sort(RNG.random(5000))

FIGURES = {
    "roc": lambda: plotting.plot_roc(CURVE, np.sqrt(CURVE), auc=0.8, youden=(0.4, 0.8, 0.7)),
    "sensitivity_specificity": lambda: plotting.plot_sensitivity_specificity(CURVE, 1 - CURVE, CURVE, 0.4),
    "precision_recall": lambda: plotting.plot_precision_recall(1 - CURVE / 2, CURVE[::-1], 0.7, 0.4),
    "confusion_binary": lambda: plotting.plot_confusion_matrix([[50, 3], [4, 43]], ["benign", "malignant"]),
    "confusion_multiclass": lambda: plotting.plot_confusion_matrix(RNG.integers(0, 9, (5, 5))),
    "confusion_multilabel": lambda: plotting.plot_confusion_matrix(RNG.integers(0, 9, (3, 2, 2)), ["x", "y", "z"]),
    "one_vs_rest": lambda: plotting.plot_roc_one_vs_rest(
        [CURVE] * 12, [np.sqrt(CURVE)] * 12, [0.8] * 12, macro=(CURVE, np.sqrt(CURVE), 0.8)
    ),
    "detection_pr": lambda: plotting.plot_detection_pr_curves(
        np.full((10, 101, 3, 4, 3), 0.6), np.linspace(0, 1, 101), np.linspace(0.5, 0.95, 10), [1, 2, 5]
    ),
    "per_class_ap": lambda: plotting.plot_per_class_ap([0.5, -1.0, 0.25], [1, 2, 5], {1: "circle", 5: "star"}),
}


def _open_pyplot_figures() -> int:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return len(pyplot.get_fignums()) if pyplot is not None else 0


def _live_figures() -> int:
    gc.collect()
    return sum(type(obj) is Figure for obj in gc.get_objects())


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_plot_renders_a_non_empty_png(name: str) -> None:
    figure = FIGURES[name]()
    assert isinstance(figure, Figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    png = buffer.getvalue()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    rgb = plotting.figure_to_rgb(figure)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.std() > 10  # something is drawn, not a blank canvas
    assert figure.axes[0].get_title() or figure.get_suptitle()
    assert _open_pyplot_figures() == 0


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_hand_placed_layout_keeps_every_text_inside_the_figure(name: str) -> None:
    # No layout engine runs at draw time: the margins come from estimated text sizes, so check them.
    figure = FIGURES[name]()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    figure.draw(renderer)
    width, height = figure.canvas.get_width_height()
    boxes = [axes.get_tightbbox(renderer) for axes in figure.axes]  # ticks, labels, title, legend, texts
    if figure.get_suptitle():
        boxes.append(figure._suptitle.get_window_extent(renderer))  # type: ignore[union-attr]
    for box in boxes:
        assert box.x0 >= -2 and box.y0 >= -2 and box.x1 <= width + 2 and box.y1 <= height + 2, (box, width, height)


def test_plots_leave_no_figure_alive() -> None:
    before = _live_figures()
    for build in FIGURES.values():
        plotting.figure_to_rgb(build())
    assert _live_figures() == before
    assert _open_pyplot_figures() == 0


def test_average_precision_and_pr_grid_match_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    scores = torch.tensor(RNG.random(300).round(2))
    target = torch.tensor(RNG.integers(0, 2, 300))
    (counts,) = curve_counts(scores, target, task="binary")
    ap = average_precision_from_counts(counts.tp, counts.fp, counts.fn)
    assert ap == pytest.approx(metrics.average_precision_score(target.numpy(), scores.numpy()), abs=1e-12)
    grid = counts_on_uniform_grid(counts.thresholds, counts.tp, counts.fp, counts.tn, counts.fn, 11)
    for i, threshold in enumerate(np.linspace(0, 1, 11)):
        predicted = scores.numpy() >= threshold
        assert grid["tp"][i] == np.sum(predicted & (target.numpy() == 1))
        assert grid["fp"][i] == np.sum(predicted & (target.numpy() == 0))
        assert grid["fn"][i] == np.sum(~predicted & (target.numpy() == 1))


class _RecordingWriter:
    """Stands in for a SummaryWriter: keeps only how many images and PR curves it was given."""

    def __init__(self) -> None:
        self.images = 0
        self.pr_curves = 0

    def add_image(self, tag: str, image: np.ndarray, step: int, dataformats: str) -> None:
        assert image.ndim == 3 and dataformats == "HWC"
        self.images += 1

    def add_pr_curve_raw(self, tag: str, *args: object, **kwargs: object) -> None:
        self.pr_curves += 1


def _binary_callback(plots: bool | list[str]) -> EvalCallback:
    callback = EvalCallback({"auroc": AUROC(task="binary"), "cm": ConfusionMatrix(task="binary")}, plots=plots)
    generator = torch.Generator().manual_seed(0)
    for metric in callback.metrics.values():
        metric.update(torch.rand(500, generator=generator), torch.randint(0, 2, (500,), generator=generator))
    return callback


def _sources(callback: EvalCallback) -> dict[str, object]:
    return plot_sources(list(callback.metrics.items()), {}, callback.plots, callback.class_names)


def test_callback_plot_path_writes_every_binary_plot_and_frees_them() -> None:
    callback, writer = _binary_callback(plots=True), _RecordingWriter()
    before = _live_figures()
    callback.write_plots([writer], "val/", _sources(callback), step=0)
    assert (writer.images, writer.pr_curves) == (4, 1)
    assert _live_figures() == before
    assert _open_pyplot_figures() == 0


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.mark.slow
def test_two_hundred_epochs_of_plots_do_not_grow_figures_or_memory() -> None:
    callback, writer = _binary_callback(plots=["confusion_matrix", "pr_curve_plugin"]), _RecordingWriter()
    sources = _sources(callback)
    before = _live_figures()
    memory = []
    for epoch in range(200):
        callback.write_plots([writer], "val/", sources, step=epoch)
        if epoch % 50 == 49:
            assert _live_figures() == before, f"figures alive after epoch {epoch}"
            memory.append(_resident_bytes())
    assert writer.images == 200 and writer.pr_curves == 200
    assert memory[-1] - memory[0] < 20 * 2**20, f"resident memory grew by {(memory[-1] - memory[0]) / 2**20:.1f} MiB"
    assert _open_pyplot_figures() == 0
