"""EvalCallback with LVISMeanAveragePrecision in a real Trainer: each epoch logs lvis-api's numbers, and a key
undefined in one epoch (-1: no rare ground truth) is not logged there but is in the next."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from lightning_evalkit import EvalCallback, LVISMeanAveragePrecision
from lightning_evalkit.callback.eval_callback import EvalCallbackWarning
from tests._events import read_events, scalars
from tests._lvis_data import LVIS_KEYS, OUR_KEYS, LvisSet, lvis_api, random_lvis, to_tensors, write
from tests.callback._fixed_detections import FixedDetections
from tests.callback.test_callback import make_trainer

pytest.importorskip("pycocotools")
pytest.importorskip("lvis")

NUM_IMAGES = 9
SEED = 3


def epoch_data() -> list[LvisSet]:
    """Epoch 0: the data set without rare ground truth (map_rare undefined); epoch 1: all of it."""
    full = random_lvis(SEED, NUM_IMAGES, 8)
    rare = {c["id"] for c in full.gt["categories"] if c["frequency"] == "r"}
    no_rare = {**full.gt, "annotations": [a for a in full.gt["annotations"] if a["category_id"] not in rare]}
    return [LvisSet(no_rare, full.results), full]


@pytest.mark.slow
def test_each_epoch_logs_lvis_api_numbers_and_an_undefined_key_only_when_defined(tmp_path: Path) -> None:
    references = [lvis_api(*write(data, Path(tempfile.mkdtemp())), "bbox")[0] for data in epoch_data()]
    assert references[0]["APr"] == -1 and references[1]["APr"] > -1  # the data makes the case
    frequencies = to_tensors(epoch_data()[1], "bbox")[2]
    metric = LVISMeanAveragePrecision(box_format="xywh", category_frequencies=frequencies)
    trainer = make_trainer("pytorch_lightning", tmp_path / "logs", [EvalCallback({"lvis": metric})])
    with pytest.warns(EvalCallbackWarning, match="did not log .*val/map_rare"):
        trainer.fit(FixedDetections([to_tensors(data, "bbox")[:2] for data in epoch_data()]))
    events = read_events(tmp_path / "logs")
    for lvis_key, key in zip(LVIS_KEYS, OUR_KEYS, strict=True):
        expected = [r[lvis_key] for r in references if r[lvis_key] != -1]
        logged = scalars(events, f"val/{key}") if f"val/{key}" in events.Tags()["scalars"] else []
        np.testing.assert_allclose(logged, expected, rtol=1e-6, atol=1e-7, err_msg=key)
    assert len(scalars(events, "val/map_rare")) == 1 and len(scalars(events, "val/map")) == 2
