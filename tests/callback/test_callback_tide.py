"""EvalCallback with DetectionErrorBreakdown in a real Trainer: an epoch whose images hold no box at all (every value
undefined: nothing logged, no plot), then one with boxes (tidecv's numbers logged, the error breakdown drawn)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_evalkit import DetectionErrorBreakdown, EvalCallback
from tests._events import read_events, scalars
from tests._tide_data import KEYS, SPECIAL_KEYS, random_tide_set, tidecv_breakdown
from tests.callback._fixed_detections import FixedDetections
from tests.callback.test_callback import make_trainer
from tests.callback.test_callback_seams import RecordMetrics

pytest.importorskip("tidecv")

NUM_IMAGES = 9


def epoch_data() -> list[tuple[list, list]]:
    """Epoch 0: images without detections or ground truth (no class: undefined); epoch 1: a random set."""
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    nothing = ([{**empty, "scores": torch.zeros(0)}] * NUM_IMAGES, [empty] * NUM_IMAGES)
    return [nothing, random_tide_set(13, images=NUM_IMAGES)]


@pytest.mark.slow
def test_an_undefined_epoch_then_a_defined_one_log_tidecv_numbers_and_draw_the_breakdown(tmp_path: Path) -> None:
    references = [tidecv_breakdown(*data) for data in epoch_data()]
    assert math.isnan(references[0]["map"]) and not math.isnan(references[1]["map"])  # the data makes the case
    recorder = RecordMetrics()
    callback = EvalCallback({"tide": DetectionErrorBreakdown(box_format="xywh")}, plots=["error_breakdown"])
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback, recorder], num_sanity_val_steps=0)
    with pytest.warns(UserWarning, match="did not log .*val/tide/map"):
        trainer.fit(FixedDetections(epoch_data()))
    events = read_events(tmp_path)
    for key in (*KEYS, *SPECIAL_KEYS):
        tag = f"val/tide/{key}"
        np.testing.assert_allclose(scalars(events, tag), [references[1][key]], rtol=1e-6, atol=1e-7, err_msg=key)
        assert math.isnan(recorder.epochs[0][tag])
    (logged,) = events.Scalars("val/tide/map")
    (image,) = events.Images("val/error_breakdown")  # none for the undefined epoch
    assert image.step == logged.step and image.height > 215
