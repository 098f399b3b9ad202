"""``.plot()`` of SensitivityAtSpecificity, SpecificityAtSensitivity and DeLongTest: ``(figure, axes)`` without
pyplot, and what each figure marks equals scikit-learn's ROC point, AUC and statsmodels' Wilson interval."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes

from lightning_evalkit import DeLongTest, SensitivityAtSpecificity, SpecificityAtSensitivity
from lightning_evalkit.plotting.base import new_figure
from tests.plotting.test_metric_plot import _check

metrics = pytest.importorskip("sklearn.metrics")
proportion = pytest.importorskip("statsmodels.stats.proportion")
GENERATOR = torch.Generator().manual_seed(11)
TARGET = torch.randint(0, 2, (300,), generator=GENERATOR)
SCORES = (1.5 * TARGET - 0.75 + torch.randn(300, generator=GENERATOR)).double()
BASELINE = (0.5 * TARGET + torch.randn(300, generator=GENERATOR)).double()
MC_TARGET = torch.randint(0, 4, (300,), generator=GENERATOR)
MC_A = (torch.randn(300, 4, generator=GENERATOR) + 1.5 * torch.nn.functional.one_hot(MC_TARGET, 4)).softmax(1)
MC_B = (torch.randn(300, 4, generator=GENERATOR) + 0.5 * torch.nn.functional.one_hot(MC_TARGET, 4)).softmax(1)


def _markers(axes: Axes) -> list[tuple[float, float]]:
    """(x, y) of every single-point circle marker (the operating points)."""
    return [
        (float(line.get_xdata()[0]), float(line.get_ydata()[0]))  # type: ignore[index]
        for line in axes.get_lines()
        if line.get_marker() == "o" and len(line.get_xdata()) == 1  # type: ignore[arg-type]
    ]


def _sklearn_point(scores: np.ndarray, target: np.ndarray, threshold: float) -> tuple[float, float]:
    """(fpr, tpr) of scikit-learn's ROC at ``threshold`` (its curve uses score >= threshold, as ours)."""
    fpr, tpr, thresholds = metrics.roc_curve(target, scores, drop_intermediate=False)
    index = int(np.flatnonzero(thresholds == threshold)[0])
    return float(fpr[index]), float(tpr[index])


def _legend_texts(axes: Axes) -> str:
    return "\n".join(text.get_text() for text in axes.get_legend().get_texts())


@pytest.mark.parametrize("binned", [False, True])
def test_sensitivity_at_specificity_marks_its_point_on_the_roc(binned: bool) -> None:
    thresholds = torch.linspace(-6, 6, 121).tolist() if binned else None  # the grid covers every score
    metric = SensitivityAtSpecificity("binary", min_specificity=0.8, input_format="scores", thresholds=thresholds)
    metric.update(SCORES, TARGET)
    sensitivity, threshold = metric.compute()
    _, axes = _check(metric.plot())
    scores = SCORES.numpy()
    if binned:  # each score counts as the largest grid threshold at or below it (below the grid: below all)
        grid = np.array([-1e9, *thresholds])  # type: ignore[misc]
        scores = grid[np.searchsorted(grid, scores, "right") - 1]
    fpr, tpr = _sklearn_point(scores, TARGET.numpy(), float(threshold))
    assert tpr == pytest.approx(float(sensitivity), abs=1e-12)
    assert _markers(axes) == [pytest.approx((fpr, tpr), abs=1e-12)]
    legend = _legend_texts(axes)
    positives = int(TARGET.sum())
    lower, upper = proportion.proportion_confint(round(tpr * positives), positives, alpha=0.05, method="wilson")
    assert f"sensitivity {tpr:.3f} (95% CI {lower:.3f}-{upper:.3f})" in legend
    assert f"threshold {float(threshold):.3g}" in legend
    auc = float(re.search(r"AUC[ =]+([0-9.]+)", legend).group(1))  # type: ignore[union-attr]
    assert auc == pytest.approx(metrics.roc_auc_score(TARGET, scores), abs=5e-4)
    constraint = [line for line in axes.get_lines() if "specificity >= 0.8" in str(line.get_label())]
    assert constraint and float(constraint[0].get_xdata()[0]) == pytest.approx(0.2)  # type: ignore[index]


def test_specificity_at_sensitivity_draws_into_given_axes_and_marks_a_given_value() -> None:
    metric = SpecificityAtSensitivity("binary", min_sensitivity=0.9, input_format="scores")
    metric.update(SCORES, TARGET)
    other_threshold = float(SCORES.sort().values[150])
    figure = new_figure()
    axes = figure.add_subplot()
    out_figure, out_axes = _check(metric.plot(val=(torch.tensor(0.0), torch.tensor(other_threshold)), ax=axes))
    assert out_figure is figure and out_axes is axes
    assert _markers(axes) == [pytest.approx(_sklearn_point(SCORES.numpy(), TARGET.numpy(), other_threshold))]
    assert "max specificity at sensitivity >= 0.9" in axes.get_title()


def test_multiclass_operating_points_are_marked_per_class() -> None:
    metric = SensitivityAtSpecificity("multiclass", num_classes=4, min_specificity=0.7)
    metric.update(MC_A, MC_TARGET)
    _, thresholds = metric.compute()
    _, axes = _check(metric.plot())
    expected = [_sklearn_point(MC_A[:, k].numpy(), (k == MC_TARGET).numpy(), float(thresholds[k])) for k in range(4)]
    np.testing.assert_allclose(sorted(_markers(axes)), sorted(expected), rtol=0, atol=1e-12)


def test_operating_point_metric_without_data_plots_its_value_and_warns() -> None:
    metric = SensitivityAtSpecificity("binary", min_specificity=0.5)
    with pytest.warns(UserWarning, match=r"^SensitivityAtSpecificity: compute\(\) was called before any sample"):
        _, axes = _check(metric.plot())
    assert [t.get_text() for t in axes.texts] == ["n/a"]


def test_delong_plot_shows_both_rocs_with_their_aucs_and_the_test() -> None:
    metric = DeLongTest(task="binary", input_format="scores")
    metric.update(SCORES[:100], BASELINE[:100], TARGET[:100])
    metric.update(SCORES[100:], BASELINE[100:], TARGET[100:])
    z, p_value = metric.compute()
    _, axes = _check(metric.plot())
    labels = [str(line.get_label()) for line in axes.get_lines()[:2]]
    for label, scores, name in zip(labels, (SCORES, BASELINE), ("model", "baseline"), strict=True):
        assert label.startswith(f"{name}: AUC {metrics.roc_auc_score(TARGET, scores):.3f} (95% CI ")
    assert f"z = {float(z):.3f}" in axes.get_title() and f"p = {float(p_value):.3g}" in axes.get_title()
    _, axes = _check(metric.plot(val=(torch.tensor(1.5), torch.tensor(0.125))))
    assert "z = 1.500" in axes.get_title() and "p = 0.125" in axes.get_title()


def test_delong_multiclass_plot_gives_per_class_aucs_and_p_values() -> None:
    metric = DeLongTest(task="multiclass", num_classes=4)
    metric.update(MC_A, MC_B, MC_TARGET)
    _, p_values = metric.compute()
    _, axes = _check(metric.plot())
    for k, text in enumerate(axes.texts):
        auc_a = metrics.roc_auc_score(k == MC_TARGET, MC_A[:, k])
        auc_b = metrics.roc_auc_score(k == MC_TARGET, MC_B[:, k])
        assert text.get_text() == f"{auc_a:.3f} vs {auc_b:.3f}, p = {float(p_values[k]):.3g}"
    assert len(axes.patches) == 8
