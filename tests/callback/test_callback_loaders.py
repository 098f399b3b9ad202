"""Several validation dataloaders get their own metric state, scalars and plots, named as Lightning names them."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from sklearn import metrics as skm
from torch.utils.data import DataLoader

from lightning_evalkit import AUROC, MeanAveragePrecision
from lightning_evalkit.callback.eval_callback import EvalCallback, EvalCallbackWarning
from lightning_evalkit.callback.results import compute_quietly
from tests._ddp import run_in_processes
from tests._events import read_events, scalars
from tests._score_models import ScoreDataset, ScoreModulePL, epoch_scores
from tests.callback.test_callback import BINARY_PLOTS, assert_close, binary_callback, make_trainer

SIZES = (37, 20)


class TwoSetModule(ScoreModulePL):  # type: ignore[misc, valid-type]
    """ScoreModulePL validating on two sets of different sizes (and different data)."""

    def validation_step(self, batch, batch_idx, dataloader_idx=0):  # type: ignore[no-untyped-def]
        return self._outputs(batch)

    def val_dataloader(self) -> list[DataLoader]:
        return [DataLoader(ScoreDataset(size, seed=i), batch_size=8) for i, size in enumerate(SIZES)]


@pytest.mark.slow
def test_two_validation_sets_log_their_own_values_and_plots(tmp_path: Path) -> None:
    trainer = make_trainer("pytorch_lightning", tmp_path, [binary_callback()], max_epochs=1)
    trainer.fit(TwoSetModule())
    events = read_events(tmp_path)
    tags = set(events.Tags()["scalars"])
    assert "val/auroc" not in tags  # no mixed value over both sets
    for index, size in enumerate(SIZES):
        data = ScoreDataset(size, seed=index)
        predicted = epoch_scores(data.scores, torch.arange(size), 0).numpy()
        labels = data.labels.numpy()
        assert_close(scalars(events, f"val/auroc/dataloader_idx_{index}"), [skm.roc_auc_score(labels, predicted)])
        assert_close(
            scalars(events, f"val/sensitivity/dataloader_idx_{index}"), [skm.recall_score(labels, predicted >= 0.5)]
        )
        for plot in BINARY_PLOTS:
            assert len(events.Images(f"val/{plot}/dataloader_idx_{index}")) == 1


def _fake_trainer(world_size: int) -> SimpleNamespace:
    return SimpleNamespace(world_size=world_size, is_global_zero=True)


def test_shuffled_detection_loader_without_image_ids_under_ddp_warns_once() -> None:
    callback = EvalCallback({"map": MeanAveragePrecision()}, plots=False)
    callback._padding.start({0: None})
    image = {"boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]), "labels": torch.tensor([0])}
    outputs = {"preds": [{**image, "scores": torch.tensor([0.5])}], "target": [image]}
    with pytest.warns(EvalCallbackWarning, match="cannot tell the dataset index of the images") as record:
        for _ in range(3):
            callback._update(_fake_trainer(2), outputs, None, 0)
    assert len(record) == 1
    with warnings.catch_warnings():  # one device, or targets with image_id: nothing to say
        warnings.simplefilter("error")
        callback._update(_fake_trainer(1), outputs, None, 0)
        ided = {"preds": outputs["preds"], "target": [{**image, "image_id": 3}]}
        EvalCallback({"map": MeanAveragePrecision()}, plots=False)._update(_fake_trainer(2), ided, None, 0)


def test_metric_warnings_come_once_and_only_from_rank_zero() -> None:
    metrics = {"a": AUROC(task="binary"), "b": AUROC(task="binary")}  # both warn the same "compute before update"
    with pytest.warns(UserWarning) as record:
        compute_quietly(metrics.items(), False, True, set())
    texts = [str(w.message) for w in record]
    assert len(texts) == len(set(texts)) >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_quietly(metrics.items(), False, False, set())  # another rank: silent


def _sync_settings(rank: int, world_size: int) -> tuple[float, float, str]:
    import torch.distributed as dist

    from lightning_evalkit.callback.results import check_sync_settings, synced_compute

    data = ScoreDataset(41)
    unsynced = AUROC(task="binary", sync_on_compute=False)
    unsynced.update(data.scores[rank::world_size].float(), data.labels[rank::world_size])
    local = float(unsynced.compute())  # the metric's own compute stays local, as its user asked
    value = float(synced_compute(unsynced, True))
    subgroup = dist.new_group([0])
    try:
        check_sync_settings({"auroc": AUROC(task="binary", process_group=subgroup)}, world_size)
        message = ""
    except ValueError as error:
        message = str(error)
    check_sync_settings({"auroc": AUROC(task="binary", process_group=dist.group.WORLD)}, world_size)
    return value, local, message


@pytest.mark.ddp
def test_sync_on_compute_false_is_synced_and_a_partial_process_group_is_refused() -> None:
    data = ScoreDataset(41)
    expected = skm.roc_auc_score(data.labels.numpy(), data.scores.float().numpy())
    results = run_in_processes(_sync_settings, 2)
    for value, _, message in results:
        assert value == pytest.approx(expected, abs=1e-12)
        assert "Expected `metrics['auroc']` to sync over all 2 processes" in message
    assert any(abs(local - expected) > 1e-6 for _, local, _ in results)  # the check can fail
