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
