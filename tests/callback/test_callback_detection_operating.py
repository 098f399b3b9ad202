"""EvalCallback with DetectionOperatingPoint and DetectionConfusionMatrix in a real Trainer: epoch 0 has no
detection (the best threshold is undefined: not logged; precision and recall 0 as faster-coco-eval says), epoch
1 has them (faster-coco-eval's precision and recall logged, the threshold too); both plots are drawn each epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lightning_evalkit import DetectionConfusionMatrix, DetectionOperatingPoint, EvalCallback
from lightning_evalkit.callback.eval_callback import EvalCallbackWarning
from lightning_evalkit.functional import detection_operating_point
from tests._detection_data import random_images
from tests._events import read_events, scalars
from tests._fce_reference import fce_extended_metrics
from tests.callback._fixed_detections import FixedDetections
from tests.callback.test_callback import make_trainer

NUM_IMAGES = 6


def epoch_data() -> list[tuple[list[dict], list[dict]]]:
    preds, target = random_images(9, NUM_IMAGES, scale=6, tied_scores=False)
    nothing = [{**p, "boxes": p["boxes"][:0], "scores": p["scores"][:0], "labels": p["labels"][:0]} for p in preds]
    return [(nothing, target), (preds, target)]


@pytest.mark.slow
def test_operating_point_logged_when_defined_and_both_plots_drawn(tmp_path: Path) -> None:
    references = [fce_extended_metrics(p, t, 4, "xywh") for p, t in epoch_data()]
    metrics = {
        "op": DetectionOperatingPoint(box_format="xywh"),
        "dcm": DetectionConfusionMatrix(num_classes=4, box_format="xywh", score_threshold=0.25),
    }
    callback = EvalCallback(metrics, plots=["f1_confidence", "detection_confusion_matrix"], class_names=list("abcd"))
    trainer = make_trainer("pytorch_lightning", tmp_path / "logs", [callback], num_sanity_val_steps=0)
    with pytest.warns(EvalCallbackWarning, match="did not log .*val/op_threshold"):
        trainer.fit(FixedDetections(epoch_data()))
    events = read_events(tmp_path / "logs")
    for key in ("precision", "recall"):
        np.testing.assert_allclose(scalars(events, f"val/op_{key}"), [r[key] for r in references], rtol=1e-6)
    assert references[1]["precision"] > 0  # the data makes the case
    threshold = detection_operating_point(*epoch_data()[1], box_format="xywh")["threshold"].item()
    np.testing.assert_allclose(scalars(events, "val/op_threshold"), [threshold], rtol=1e-6)
    images = events.Tags()["images"]
    assert {"val/f1_confidence", "val/detection_confusion_matrix"} <= set(images)
    assert len(events.Images("val/f1_confidence")) == 2
