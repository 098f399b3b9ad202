"""The callback's ROC and sensitivity/specificity plots show the DeLong interval and the chosen operating point.

The legend's interval is checked against ``auroc_confidence_interval`` and the marked point against
``operating_point_from_counts``, both run on the same data in the test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lightning_evalkit import AUROC, ROC, EvalCallback, plotting
from lightning_evalkit.callback.plot_sources import figure_builders, plot_sources
from lightning_evalkit.classification.operating_points import operating_point_from_counts
from lightning_evalkit.functional import auroc_confidence_interval, curve_counts
from tests._events import read_events
from tests._score_models import ScoreDataset, ScoreModulePL, epoch_scores
from tests.callback.test_callback import make_trainer

WANTED = ("roc", "sensitivity_specificity")
LEGEND = re.compile(r"AUC ([0-9.]+) \(([0-9.]+)% CI ([0-9.]+)-([0-9.]+)\)")


def _data(size: int = 120, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 2, (size,), generator=generator)
    scores = torch.sigmoid(0.8 * (2 * target - 1) + torch.randn(size, generator=generator)).double()
    return scores, target


def _figures(metric: Any, level: float | None, criterion: str | None) -> dict[str, Figure]:
    sources = plot_sources([("auroc", metric)], {}, WANTED, None, level, criterion)
    return {tag: build() for tag, build in figure_builders(sources, WANTED, None)}


def _legend_interval(label: str) -> tuple[float, float, float, float]:
    found = LEGEND.search(label)
    assert found is not None, label
    auc, percent, lower, upper = (float(v) for v in found.groups())
    return auc, percent / 100, lower, upper


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_roc_legend_shows_the_delong_interval_of_auroc_confidence_interval(level: float) -> None:
    scores, target = _data()
    metric = AUROC(task="binary")
    metric.update(scores, target)
    label = _figures(metric, level, None)["roc"].axes[0].get_lines()[0].get_label()
    expected = [float(v) for v in auroc_confidence_interval(scores, target, task="binary", level=level)]
    shown_auc, shown_level, lower, upper = _legend_interval(label)
    assert shown_level == pytest.approx(level)
    np.testing.assert_allclose([shown_auc, lower, upper], expected, atol=5e-4 + 1e-12)


def test_binned_roc_or_no_level_shows_the_auc_without_an_interval() -> None:
    scores, target = _data()
    binned = AUROC(task="binary", thresholds=50)
    binned.update(scores, target)
    exact = ROC(task="binary")
    exact.update(scores, target)
    for metric, level in ((binned, 0.95), (exact, None)):
        label = _figures(metric, level, None)["roc"].axes[0].get_lines()[0].get_label()
        assert "AUC = " in label and "CI" not in label


def _roc_marker(figure: Figure) -> tuple[float, float, list[float], list[float]]:
    """(x, y) of the marked point and the end points of its horizontal and vertical error bars."""
    container = figure.axes[0].containers[0]
    x, y = (float(v[0]) for v in container.lines[0].get_data())
    caps = [(float(c.get_xdata()[0]), float(c.get_ydata()[0])) for c in container.lines[1]]
    return x, y, sorted(cx for cx, cy in caps if cy == y), sorted(cy for cx, cy in caps if cx == x)


@pytest.mark.parametrize("criterion", ["youden", "closest_topleft"])
@pytest.mark.parametrize("level", [None, 0.9])
def test_marked_point_is_operating_point_from_counts(criterion: str, level: float | None) -> None:
    scores, target = _data()
    metric = AUROC(task="binary")
    metric.update(scores, target)
    figures = _figures(metric, level, None if criterion == "youden" else criterion)  # youden is the default
    point = {
        k: float(v)
        for k, v in operating_point_from_counts(curve_counts(scores, target, "binary")[0], criterion, level).items()
    }
    x, y, x_caps, y_caps = _roc_marker(figures["roc"])
    assert (x, y) == pytest.approx((1 - point["specificity"], point["sensitivity"]))
    label = figures["roc"].axes[0].containers[0].get_label()
    assert f"threshold {point['threshold']:.3g}" in label
    name = "Youden" if criterion == "youden" else "closest to top-left"
    assert label.startswith(name)
    axes = figures["sensitivity_specificity"].axes[0]
    line = next(line for line in axes.get_lines() if line.get_label().startswith(name))
    assert float(line.get_xdata()[0]) == pytest.approx(point["threshold"])
    marked = sorted(float(c.lines[0].get_ydata()[0]) for c in axes.containers)
    assert marked == pytest.approx(sorted([point["sensitivity"], point["specificity"]]))
    if level is None:
        assert x_caps == [] and y_caps == [] and "CI" not in label
        return
    # the bars span the Wilson intervals, and the legend writes them
    assert y_caps == pytest.approx([point["sensitivity_ci_lower"], point["sensitivity_ci_upper"]])
    assert x_caps == pytest.approx([1 - point["specificity_ci_upper"], 1 - point["specificity_ci_lower"]])
    for rate in ("sensitivity", "specificity"):
        interval = f"{point[rate]:.3f} (90% CI {point[rate + '_ci_lower']:.3f}-{point[rate + '_ci_upper']:.3f})"
        assert f"{rate} {interval}" in label


@pytest.mark.slow
def test_trainer_run_draws_the_interval_and_the_chosen_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[tuple[str, dict[str, Any]]] = []
    original = plotting.plot_roc

    def recording_plot_roc(*args: Any, **kwargs: Any) -> Figure:
        figure = original(*args, **kwargs)
        drawn.append((figure.axes[0].get_lines()[0].get_label(), kwargs))
        return figure

    monkeypatch.setattr(plotting, "plot_roc", recording_plot_roc)
    callback = EvalCallback(
        {"auroc": AUROC(task="binary")}, plots=list(WANTED), confidence_level=0.9, operating_point="closest_topleft"
    )
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback], num_sanity_val_steps=0)
    trainer.fit(ScoreModulePL(val_size=101))
    events = read_events(tmp_path)
    assert {"val/roc", "val/sensitivity_specificity"} <= set(events.Tags()["images"])
    data = ScoreDataset(101)
    assert len(drawn) == 2
    for epoch, (label, kwargs) in enumerate(drawn):
        scores = epoch_scores(data.scores, torch.arange(101), epoch)
        expected = [float(v) for v in auroc_confidence_interval(scores, data.labels, task="binary", level=0.9)]
        shown_auc, shown_level, lower, upper = _legend_interval(label)
        assert shown_level == pytest.approx(0.9)
        np.testing.assert_allclose([shown_auc, lower, upper], expected, atol=5e-4 + 1e-12)
        counts = curve_counts(scores, data.labels, "binary")[0]
        point = operating_point_from_counts(counts, "closest_topleft", 0.9)
        marked = kwargs["point"]
        assert marked.criterion == "closest_topleft"
        np.testing.assert_allclose(
            [marked.threshold, marked.sensitivity, marked.specificity, *marked.sensitivity_ci, *marked.specificity_ci],
            [
                float(point[k])
                for k in (
                    "threshold",
                    "sensitivity",
                    "specificity",
                    "sensitivity_ci_lower",
                    "sensitivity_ci_upper",
                    "specificity_ci_lower",
                    "specificity_ci_upper",
                )
            ],
            rtol=1e-6,
        )
