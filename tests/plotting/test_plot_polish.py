"""The sensitivity/specificity plot: rates over all of [0, 1] for probabilities (and logits, ranked as their
probabilities), known beyond the observed scores;
the marked point on the threshold line, headroom above a rate of 1, and the title inside the figure."""

from __future__ import annotations

import numpy as np
import torch

from lightning_evalkit import AUROC
from lightning_evalkit.callback.plot_sources import figure_builders, plot_sources
from lightning_evalkit.plotting import figure_to_rgb

WANTED = ["sensitivity_specificity"]


def _figure(input_format: str):  # type: ignore[no-untyped-def]
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 2, (200,), generator=generator)
    scores = torch.sigmoid(1.5 * (2 * target - 1) + torch.randn(200, generator=generator)).double() * 0.8 + 0.1
    values = scores if input_format == "probs" else 10 * torch.logit(scores)  # raw scores: any range
    metric = AUROC(task="binary", input_format=input_format)
    metric.update(values, target)
    sources = plot_sources([("auroc", metric)], {}, WANTED, ["benign", "malignant"], 0.95, "youden")
    ((_, build),) = figure_builders(sources, WANTED, ["benign", "malignant"])
    return build(), values


def test_probability_rates_span_the_unit_interval_and_the_point_sits_on_its_line() -> None:
    figure, _ = _figure("probs")
    axes = figure.axes[0]
    sensitivity, specificity, line = axes.get_lines()[:3]
    assert sensitivity.get_xdata()[0] == 0.0 and sensitivity.get_xdata()[-1] == 1.0
    assert sensitivity.get_ydata()[0] == 1.0 and sensitivity.get_ydata()[-1] == 0.0  # all, then none positive
    assert specificity.get_ydata()[0] == 0.0 and specificity.get_ydata()[-1] == 1.0
    threshold = line.get_xdata()[0]
    markers = [c for c in axes.containers]  # the two error bars of the marked rates
    assert all(np.allclose(c.lines[0].get_xdata(), threshold) for c in markers) and len(markers) == 2
    assert axes.get_ylim()[1] > 1.0
    width = figure_to_rgb(figure).shape[1]
    renderer = figure.canvas.get_renderer()
    assert axes.title.get_window_extent(renderer).x1 <= width


def test_raw_score_rates_are_not_extended() -> None:
    figure, scores = _figure("scores")
    sensitivity = figure.axes[0].get_lines()[0]
    assert sensitivity.get_xdata()[0] == float(scores.min())
