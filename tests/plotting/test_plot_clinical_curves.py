"""The reliability diagram and the decision curve: what they draw equals scikit-learn's calibration curve, the bin
counts, torchmetrics' ECE and dcurves' net benefit; ``.plot()`` draws the callback's plot source, without pyplot."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from sklearn.calibration import calibration_curve
from torchmetrics.classification import BinaryCalibrationError

from lightning_evalkit import CalibrationError, NetBenefit, plotting
from lightning_evalkit._core.report import ReportOptions
from lightning_evalkit.plotting.base import new_figure
from tests.plotting.test_metric_plot import _check

RNG = np.random.default_rng(21)
LABELS = RNG.integers(0, 2, 400)
SCORES = 1 / (1 + np.exp(-1.5 * RNG.normal(-0.8 + 1.8 * LABELS, 1.2)))


def _curve(axes: Axes) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the model's line (the one with circle markers)."""
    (line,) = [line for line in axes.get_lines() if line.get_marker() == "o"]
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def _bars(figure: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left edges, widths, heights) of the count bars, wherever the histogram axes are."""
    every = [a for axes in figure.axes for a in (axes, *axes.child_axes)]  # type: ignore[attr-defined]
    patches = [p for axes in every for p in axes.patches if isinstance(p, Rectangle)]
    return tuple(np.array([getattr(p, f"get_{k}")() for p in patches]) for k in ("x", "width", "height"))  # type: ignore[return-value]


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_the_reliability_diagram_draws_scikit_learns_curve_the_bin_counts_and_the_error(binning: str) -> None:
    metric = CalibrationError(task="binary", n_bins=8, binning=binning)
    metric.update(torch.from_numpy(SCORES), torch.from_numpy(LABELS))
    figure, axes = _check(metric.plot())
    prob_true, prob_pred = calibration_curve(LABELS, SCORES, n_bins=8, strategy=binning)
    x, y = _curve(axes)
    np.testing.assert_allclose(x, prob_pred, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, prob_true, rtol=0, atol=1e-12)
    levels = np.linspace(0, 1, 9)
    edges = np.percentile(SCORES, levels * 100) if binning == "quantile" else levels
    left, width, height = _bars(figure)
    np.testing.assert_allclose(left, edges[:-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(left + width, edges[1:], rtol=0, atol=1e-12)
    counts = np.bincount(np.searchsorted(edges[1:-1], SCORES), minlength=8)
    assert height.tolist() == counts.tolist()
    shown = float(re.search(r"ECE = ([0-9.]+)", axes.get_title()).group(1))  # type: ignore[union-attr]
    assert shown == pytest.approx(float(metric.compute()), abs=5e-5)
    if binning == "uniform":
        reference = BinaryCalibrationError(n_bins=8)(torch.from_numpy(SCORES).float(), torch.from_numpy(LABELS))
        assert shown == pytest.approx(float(reference), abs=5e-5)
    assert plotting.figure_to_rgb(figure).std() > 0


def test_plot_draws_the_callbacks_plot_source_and_into_given_axes() -> None:
    metric = CalibrationError(task="binary", n_bins=6, norm="max")
    metric.update(torch.from_numpy(SCORES), torch.from_numpy(LABELS))
    (source,) = metric.plot_sources(metric.compute(), ["calibration", "roc"], ReportOptions())
    assert (source.plot, source.tag, source.kind) == ("calibration", "calibration", "image")
    from_source = source.build(["healthy", "disease"])
    (counts_panel,) = from_source.axes[0].child_axes  # below the diagram, carrying the x label
    assert "positive class: disease" in counts_panel.get_xlabel()
    assert "MCE = " in from_source.axes[0].get_title()
    np.testing.assert_array_equal(_curve(from_source.axes[0]), _curve(metric.plot()[1]))
    figure = new_figure(5, 5)
    given = figure.add_subplot()
    _, axes = _check(metric.plot(ax=given))
    assert axes is given and len(figure.axes) == 2  # the counts on a twin axis, inside the given axes' box
    np.testing.assert_array_equal(_curve(axes), _curve(from_source.axes[0]))


def test_multiclass_and_multilabel_diagrams_name_what_they_bin() -> None:
    probs = torch.from_numpy(RNG.dirichlet(np.ones(4), 300))
    metric = CalibrationError(task="multiclass", num_classes=4, n_bins=5)
    metric.update(probs, torch.from_numpy(RNG.integers(0, 4, 300)))
    _, axes = _check(metric.plot())
    assert axes.get_title().startswith("Top-label reliability diagram") and "Accuracy" in axes.get_ylabel()
    preds = torch.from_numpy(RNG.random((300, 12)))
    target = (torch.from_numpy(RNG.random((300, 12))) < preds * torch.linspace(0.2, 1, 12)).long()
    metric = CalibrationError(task="multilabel", num_labels=12, n_bins=5, average="none")
    metric.update(preds, target)
    (source,) = metric.plot_sources(metric.compute(), ["calibration"], ReportOptions())
    figure = source.build([f"label{k}" for k in range(12)])
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()][1:]
    most_positives = sorted(np.argsort(-target.sum(0).numpy(), kind="stable")[:10].tolist())
    errors = metric.compute()
    assert legend == [f"label{k} (ECE {float(errors[k]):.4f})" for k in most_positives]
    assert "10 of 12 labels shown" in figure.axes[0].get_title()


def test_a_metric_without_samples_has_no_plot_source_and_plots_its_nan_as_a_bar() -> None:
    metric = CalibrationError(task="binary")
    assert metric.plot_sources(None, ["calibration"], ReportOptions()) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, axes = _check(metric.plot())
    assert axes.texts[0].get_text() == "n/a"


def test_the_decision_curve_draws_dcurves_net_benefit() -> None:
    dcurves = pytest.importorskip("dcurves")
    pd = pytest.importorskip("pandas")
    metric = NetBenefit()
    metric.update(torch.from_numpy(SCORES), torch.from_numpy(LABELS))
    (source,) = metric.plot_sources(metric.compute(), ["decision_curve"], ReportOptions())
    figure, axes = _check(metric.plot())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = dcurves.dca(data=pd.DataFrame({"y": LABELS, "m": SCORES}), outcome="y", modelnames=["m"])
    lines = {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in axes.get_lines()}
    for label, model in (("model", "m"), ("treat all", "all"), ("treat none", "none")):
        expected = table[table.model == model].net_benefit.to_numpy(dtype=float)
        np.testing.assert_allclose(lines[label], expected, rtol=0, atol=1e-12)
    assert f"prevalence {LABELS.mean():.4f}" in axes.get_title()
    built = source.build(["healthy", "disease"]).axes[0]
    assert "positive class: disease" in built.get_title()
    np.testing.assert_array_equal(built.get_lines()[0].get_ydata(), lines["model"])
    low, high = axes.get_ylim()
    assert low < 0 < max(lines["model"]) < high  # the useful range, not treat-all's fall to -inf
    assert plotting.figure_to_rgb(figure).std() > 0


def test_the_builders_take_per_curve_edges_and_undefined_values() -> None:
    figure = plotting.plot_reliability_diagram(
        [[0, 0.3, 1], [0, 0.6, 1]],
        [[0.2, 0.7], [0.4, float("nan")]],
        [[0.1, 0.9], [0.5, 0.0]],
        [[5, 5], [7, 0]],
        error=float("nan"),
        names=["a", "b"],
    )
    assert figure.axes[0].get_title().endswith("ECE = n/a")
    assert [len(p.get_path().vertices) > 0 for p in figure.axes[0].child_axes[0].patches] == [
        True,
        True,
    ]  # two outlines
    curve = plotting.plot_decision_curve([0.1, 0.5], [float("nan")] * 2, [float("nan")] * 2)
    assert curve.axes[0].get_ylim()[1] > 0


@pytest.mark.parametrize("kind", ["reliability", "reliability_per_label", "decision_curve"])
def test_hand_placed_layout_keeps_every_text_inside_the_figure(kind: str) -> None:
    if kind == "decision_curve":
        figure = plotting.plot_decision_curve([0.0, 0.5, 0.99], [0.4, 0.2, 0.0], [0.4, 0.0, -30.0], prevalence=0.4)
    else:
        rows = 1 if kind == "reliability" else 10
        names = None if rows == 1 else [f"a long label name {k} (ECE 0.1234)" for k in range(rows)]
        figure = plotting.plot_reliability_diagram(
            np.linspace(0, 1, 16), np.full((rows, 15), 0.5), np.full((rows, 15), 0.4), np.full((rows, 15), 1234.0),
            error=0.1234, error_name="RMS calibration error", names=names, title="Reliability diagram\nsecond line",
            xlabel="Mean predicted probability (positive class: malignant)",
        )  # fmt: skip
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    figure.draw(renderer)
    width, height = figure.canvas.get_width_height()
    every = [a for axes in figure.axes for a in (axes, *axes.child_axes)]
    for box in (axes.get_tightbbox(renderer) for axes in every):
        assert box.x0 >= -2 and box.y0 >= -2 and box.x1 <= width + 2 and box.y1 <= height + 2, (box, width, height)
