"""Every warning the metrics give from update() or compute() is said once, on rank 0 only, under DDP (2 gloo
processes): rank 0 says exactly what one process says, rank 1 says nothing, and a warning that every update would
repeat (MeanAveragePrecision's many detections) comes once per metric."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from lightning_evalkit import (
    AUROC,
    DeLongTest,
    EvalCallback,
    MeanAveragePrecision,
    MeanIoU,
    Sensitivity,
    SensitivityAtSpecificity,
    Specificity,
)
from lightning_evalkit._core.rank_warnings import warn_once
from lightning_evalkit.functional import roc
from tests._ddp import run_in_processes
from tests.callback.test_callback_detection import FixedDetections

SCORES = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.7, 0.2])
ONE_CLASS = torch.zeros(6, dtype=torch.long)
BOX = torch.tensor([[0.0, 0.0, 10.0, 10.0]])


def _many_detections() -> None:
    metric = MeanAveragePrecision(max_detection_thresholds=[1, 2, 3])
    preds = [{"boxes": BOX.repeat(4, 1), "scores": torch.rand(4), "labels": torch.zeros(4, dtype=torch.long)}]
    for _ in range(3):  # torchmetrics warns at every update
        metric.update(preds, [{"boxes": BOX, "labels": torch.tensor([0])}])


def _map_without_ground_truth() -> None:
    metric = MeanAveragePrecision()
    preds = [{"boxes": BOX, "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}]
    metric.update(preds, [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}])
    metric.compute()


def _auroc_one_class() -> None:
    metric = AUROC(task="binary")
    metric.update(SCORES, ONE_CLASS)
    metric.compute()


def _auroc_macro_over_defined_classes() -> None:
    metric = AUROC(task="multilabel", num_labels=2)
    metric.update(torch.stack([SCORES, SCORES], 1), torch.stack([ONE_CLASS, (SCORES > 0.3).long()], 1))
    metric.compute()


def _sensitivity_zero_division() -> None:
    metric = Sensitivity(task="multilabel", num_labels=2, average="none")
    metric.update(torch.stack([SCORES, SCORES], 1), torch.stack([ONE_CLASS, (SCORES > 0.3).long()], 1))
    metric.compute()


def _specificity_before_update() -> None:
    Specificity(task="binary").compute()


def _auroc_before_update() -> None:
    AUROC(task="binary").compute()


def _operating_point_one_class() -> None:
    metric = SensitivityAtSpecificity(task="binary", min_specificity=0.5)
    metric.update(SCORES, ONE_CLASS)
    metric.compute()


def _delong_one_class() -> None:
    metric = DeLongTest(task="binary")
    metric.update(SCORES, SCORES.flip(0), ONE_CLASS)
    metric.compute()


def _mean_iou_absent_class() -> None:
    metric = MeanIoU(num_classes=3)
    masks = torch.zeros(1, 4, 4, dtype=torch.long)
    metric.update(masks, masks)
    metric.compute()


def _functional_roc_without_negatives() -> None:
    roc(SCORES, torch.ones(6, dtype=torch.long), task="binary")


TRIGGERS: dict[str, Callable[[], None]] = {
    fn.__name__.lstrip("_"): fn
    for fn in (
        _many_detections,
        _map_without_ground_truth,
        _auroc_one_class,
        _auroc_macro_over_defined_classes,
        _sensitivity_zero_division,
        _specificity_before_update,
        _auroc_before_update,
        _operating_point_one_class,
        _delong_one_class,
        _mean_iou_absent_class,
        _functional_roc_without_negatives,
    )
}
TORCHMETRICS_OWN = "was called before the ``update``"  # torchmetrics' own warning (its rank from LOCAL_RANK)


def said(rank: int = 0, world_size: int = 1) -> dict[str, list[str]]:
    """The warnings each trigger gives on this process (torchmetrics' own warnings left out)."""
    out = {}
    for name, trigger in TRIGGERS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trigger()
        out[name] = [str(w.message) for w in caught if TORCHMETRICS_OWN not in str(w.message)]
    return out


def test_warn_once_says_a_key_once_per_owner_and_clones_stay_quiet() -> None:
    import copy

    metric = MeanIoU(num_classes=2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warn_once(metric, "key", "first")
        warn_once(metric, "key", "second")
        warn_once(copy.deepcopy(metric), "key", "third")
        warn_once(MeanIoU(num_classes=2), "key", "fourth")
    assert [str(w.message) for w in record] == ["first", "fourth"]


@pytest.mark.ddp
def test_every_metric_warning_is_said_once_on_rank_zero_only() -> None:
    one_device = said()
    assert all(one_device.values()), {name: said for name, said in one_device.items() if not said}
    assert len(one_device["many_detections"]) == 1
    rank_zero, rank_one = run_in_processes(said, 2)
    assert rank_zero == one_device
    assert rank_one == {name: [] for name in TRIGGERS}


class OneCrowdedImage(FixedDetections):
    """Image 1 (seen only by rank 1 under DDP's interleaved sampler) has more than 100 detections."""

    def __init__(self) -> None:
        super().__init__()
        pred = self.images[1][0]
        self.images[1] = (
            {key: value.repeat(101, *[1] * (value.dim() - 1)) for key, value in pred.items()},
            self.images[1][1],
        )


def _fit_recording(out: Path, devices: int) -> list[dict[str, Any]]:
    import pytorch_lightning as pl

    from tests._matrix import Recorder

    out.mkdir(parents=True)
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        num_sanity_val_steps=0,
        accelerator="cpu",
        devices=devices,
        strategy="ddp_spawn" if devices > 1 else "auto",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(out),
        callbacks=[Recorder(out), EvalCallback({"map": MeanAveragePrecision()}, plots=False)],
    )
    trainer.fit(OneCrowdedImage())
    return [json.loads(Path(out, f"rank{rank}.json").read_text()) for rank in range(devices)]


@pytest.mark.slow
@pytest.mark.ddp
def test_eval_callback_says_a_warning_only_another_rank_saw_once_from_rank_zero(tmp_path: Path) -> None:
    def crowded(record: dict[str, Any]) -> list[str]:
        return [w["message"] for w in record["warnings"] if "Encountered more than 100 detections" in w["message"]]

    (one_device,) = _fit_recording(tmp_path / "one", 1)
    rank_zero, rank_one = _fit_recording(tmp_path / "ddp", 2)
    assert len(crowded(one_device)) == 1
    assert crowded(rank_zero) == crowded(one_device) and crowded(rank_one) == []
