"""2-process CPU (gloo) DDP with an odd-size validation set logs exactly the single-device values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader, DistributedSampler

from lightning_evalkit.callback.padding import PaddingTracker, real_sample_count, take_first
from tests._events import read_events, scalars
from tests._score_models import ScoreDataset, ScoreModulePL, epoch_scores
from tests.callback.test_callback import binary_callback, make_trainer, multiclass_callback

VAL_SIZE, BATCH = 101, 16  # 101 % 2 == 1: rank 1 gets one padded repeat of sample 0


def _run(tmp_path: Path, **trainer_kwargs: object) -> dict[str, list[float]]:
    trainer = make_trainer("pytorch_lightning", tmp_path, [binary_callback(), multiclass_callback()], **trainer_kwargs)
    trainer.fit(ScoreModulePL(val_size=VAL_SIZE, batch_size=BATCH))
    events = read_events(tmp_path)
    return {tag: scalars(events, tag) for tag in events.Tags()["scalars"] if tag.startswith("val")}


@pytest.mark.slow
@pytest.mark.ddp
def test_two_process_ddp_logs_the_single_device_values(tmp_path: Path) -> None:
    single = _run(tmp_path / "single")
    ddp = _run(tmp_path / "ddp", devices=2, strategy="ddp_spawn")
    assert set(ddp) == set(single) and len(single["val/auroc"]) == 2
    for tag, values in single.items():
        assert ddp[tag] == values, tag  # exactly, not approximately
    # The check can fail: counting rank 1's padded repeat of sample 0 gives a different AUROC.
    data = ScoreDataset(VAL_SIZE)
    scores = epoch_scores(data.scores, torch.arange(VAL_SIZE), 1).numpy()
    padded = roc_auc_score(np.append(data.labels.numpy(), data.labels[0]), np.append(scores, scores[0]))
    assert abs(padded - single["val/auroc"][1]) > 1e-6


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("size", "world", "batch"), [(101, 2, 16), (10, 4, 2), (3, 4, 1), (8, 4, 3)])
def test_truncation_keeps_every_sample_exactly_once(size: int, world: int, batch: int, shuffle: bool) -> None:
    kept = []
    for rank in range(world):
        sampler = DistributedSampler(range(size), num_replicas=world, rank=rank, shuffle=shuffle, seed=3)
        loader = DataLoader(range(size), sampler=sampler, batch_size=batch)
        real, reason = real_sample_count(loader)
        assert real is not None, reason
        tracker = PaddingTracker()
        tracker.start({0: real})
        for indices in loader:
            kept += take_first(indices, tracker.keep(0, len(indices))).tolist()
    assert sorted(kept) == list(range(size))


def test_unknown_samplers_are_reported() -> None:
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(range(4))

    assert real_sample_count(DataLoader(Stream()))[0] is None
    assert "SequentialSampler" in real_sample_count(DataLoader(range(4)))[1]
    dropping = DistributedSampler(range(5), num_replicas=2, rank=0, drop_last=True)
    assert "drop_last=True" in real_sample_count(DataLoader(range(5), sampler=dropping))[1]
