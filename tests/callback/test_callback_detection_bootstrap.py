"""ImageBootstrapInterval in EvalCallback with a real Trainer: epoch 0 has no ground truth (mAP and its bounds
undefined: not logged), epoch 1 has it (the value and bounds of an ImageBootstrapInterval run by hand are
logged); the Custom Scalars layout read back from the event files has the map's margin chart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lightning_evalkit import EvalCallback, ImageBootstrapInterval, MeanAveragePrecision
from tests._detection_data import random_images
from tests._events import read_events, scalars
from tests.callback._fixed_detections import FixedDetections
from tests.callback.test_callback import make_trainer
from tests.callback.test_callback_intervals import _margin_charts

NUM_IMAGES = 10


def epoch_data() -> list[tuple[list[dict], list[dict]]]:
    preds, target = random_images(4, NUM_IMAGES, scale=6, tied_scores=False, crowd_prob=0.0)
    target = [{**t, "image_id": 100 + i} for i, t in enumerate(target)]
    no_truth = [{**t, "boxes": t["boxes"][:0], "labels": t["labels"][:0], "iscrowd": t["iscrowd"][:0]} for t in target]
    return [(preds, no_truth), (preds, target)]


def _interval() -> ImageBootstrapInterval:
    return ImageBootstrapInterval(MeanAveragePrecision(box_format="xywh"), num_resamples=30, seed=2)


@pytest.mark.slow
def test_map_and_its_bounds_logged_when_defined_with_a_margin_chart(tmp_path: Path) -> None:
    by_hand = _interval()
    by_hand.update(*epoch_data()[1])
    expected = by_hand.compute()
    callback = EvalCallback({"boot": _interval()})
    trainer = make_trainer("pytorch_lightning", tmp_path / "logs", [callback], num_sanity_val_steps=0)
    with pytest.warns(UserWarning, match="No ground truth"):
        trainer.fit(FixedDetections(epoch_data()))
    events = read_events(tmp_path / "logs")
    for key in ("map", "map_ci_lower", "map_ci_upper", "mar_100_ci_upper"):
        logged = scalars(events, f"val/{key}")
        assert len(logged) == 1  # epoch 0 is undefined: nothing logged
        np.testing.assert_allclose(logged, [float(expected[key])], rtol=1e-6)
    assert float(expected["map_ci_lower"]) < float(expected["map"]) < float(expected["map_ci_upper"])
    charts = _margin_charts(events)
    assert charts["val/map"] == ["val/map", "val/map_ci_lower", "val/map_ci_upper"]
