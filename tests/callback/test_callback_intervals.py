"""EvalCallback(confidence_level=...) logs each interval-capable metric's bounds, equal to the functional twins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_evalkit import AUROC, EvalCallback, Sensitivity
from lightning_evalkit.classification.operating_points import operating_point_from_counts
from lightning_evalkit.functional import (
    auroc_confidence_interval,
    curve_counts,
    optimal_threshold,
    roc,
    sensitivity_confidence_interval,
)
from tests._events import read_events, scalars
from tests._score_models import ScoreDataset, ScoreModulePL, epoch_scores
from tests.callback.test_callback import make_trainer


@pytest.mark.slow
def test_confidence_level_logs_interval_bounds(tmp_path: Path) -> None:
    callback = EvalCallback(
        {
            "auroc": AUROC(task="binary"),
            "sensitivity": Sensitivity(task="binary", interval="clopper_pearson", confidence_level=0.8),
        },
        plots=False,
        confidence_level=0.9,
        operating_point="closest_topleft",
    )
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback])
    trainer.fit(ScoreModulePL(val_size=101))
    events = read_events(tmp_path)
    data = ScoreDataset(101)
    for epoch in (0, 1):
        scores = epoch_scores(data.scores, torch.arange(101), epoch)
        _, lower, upper = auroc_confidence_interval(scores, data.labels, task="binary", level=0.9)
        np.testing.assert_allclose(scalars(events, "val/auroc_ci_lower")[epoch], float(lower), rtol=1e-6)
        np.testing.assert_allclose(scalars(events, "val/auroc_ci_upper")[epoch], float(upper), rtol=1e-6)
        # a metric's own level and method win over the callback's
        _, lower, upper = sensitivity_confidence_interval(
            scores, data.labels, task="binary", level=0.8, interval="clopper_pearson"
        )
        np.testing.assert_allclose(scalars(events, "val/sensitivity_ci_lower")[epoch], float(lower), rtol=1e-6)
        np.testing.assert_allclose(scalars(events, "val/sensitivity_ci_upper")[epoch], float(upper), rtol=1e-6)
        point = operating_point_from_counts(curve_counts(scores, data.labels, "binary")[0], "closest_topleft", 0.9)
        assert point["threshold"] == optimal_threshold(*roc(scores, data.labels, "binary"), "closest_topleft")[0]
        for key, value in point.items():
            np.testing.assert_allclose(scalars(events, f"val/auroc_op_{key}")[epoch], float(value), rtol=1e-6)


def test_bad_confidence_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="Expected `level` to be a float in \\(0, 1\\)"):
        EvalCallback({"auroc": AUROC(task="binary")}, confidence_level=1.5)


def test_bad_operating_point_is_rejected() -> None:
    with pytest.raises(ValueError, match="Expected `operating_point` to be one of"):
        EvalCallback({"auroc": AUROC(task="binary")}, operating_point="top_left")


def _margin_charts(events: object) -> dict[str, list[str]]:
    """The Custom Scalars tab's margin charts, read back from the layout in the event files."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    proto = events.Tensors("custom_scalars__config__")[-1].tensor_proto  # type: ignore[attr-defined]
    layout = layout_pb2.Layout.FromString(proto.string_val[0])
    return {
        chart.title: [series.value for series in chart.margin.series]
        + [s.lower for s in chart.margin.series]
        + [s.upper for s in chart.margin.series]
        for category in layout.category
        for chart in category.chart
    }


@pytest.mark.slow
def test_every_value_with_an_interval_gets_a_margin_chart_in_the_custom_scalars_tab(tmp_path: Path) -> None:
    binary = EvalCallback(
        {"auroc": AUROC(task="binary"), "sensitivity": Sensitivity(task="binary")}, plots=False, confidence_level=0.9
    )
    per_class = EvalCallback(
        {"mc_auroc": AUROC(task="multiclass", num_classes=3, average="none")},
        preds_key="mc_preds",
        target_key="mc_target",
        prefix="val_mc/",
        plots=False,
        confidence_level=0.9,
        class_names=["neg", "pos", "other"],
    )
    trainer = make_trainer("pytorch_lightning", tmp_path, [binary, per_class])
    trainer.fit(ScoreModulePL(val_size=101))
    events = read_events(tmp_path)
    charts = _margin_charts(events)
    expected = {"val/auroc", "val/sensitivity"} | {f"val_mc_per_class/mc_auroc/{n}" for n in ("neg", "pos", "other")}
    assert expected <= set(charts)
    assert charts["val/auroc"] == ["val/auroc", "val/auroc_ci_lower", "val/auroc_ci_upper"]
    name = "val_mc_per_class/mc_auroc/other"
    assert charts[name] == [
        name,
        "val_mc_per_class/mc_auroc_ci_lower/other",
        "val_mc_per_class/mc_auroc_ci_upper/other",
    ]
    for tags in charts.values():  # every tag of a chart is a logged scalar
        assert all(len(scalars(events, tag)) == 2 for tag in tags)
