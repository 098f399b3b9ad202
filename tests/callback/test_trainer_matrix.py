"""The Trainer configuration matrix: each row either logs exactly the one-device value or warns once, as stated.

Every row runs a real Trainer (CPU; several devices through gloo with ``strategy="ddp_spawn"``) on
``MatrixModule``, whose predictions are the dataset's own scores, so the one-device value is known without
training: the same metrics updated once with every sample in float32 (and checked against scikit-learn).

Rows marked ``full`` (``pytest.mark.full_matrix``) run only with ``EVALKIT_FULL_MATRIX=1``. By default every
one-device row runs (about a second each) and three 2-process rows, the costly ones (a process start each):
sync off + dist_sync_on_step + compute_on_cpu on two loaders of different sizes, drop_last, and a rank that
sees only padding (metric warnings as on one device). Run everything with
``EVALKIT_FULL_MATRIX=1 python -m pytest tests/callback/test_trainer_matrix.py``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torchmetrics
from sklearn.metrics import recall_score, roc_auc_score

import lightning_evalkit
from lightning_evalkit import EvalCallback
from lightning_evalkit.callback import EvalCallbackWarning
from tests._matrix import MatrixDataset, MatrixModule, Recorder, make_metrics

DTYPES = {"bf16-true": torch.bfloat16, "16-true": torch.float16}
FULL = os.environ.get("EVALKIT_FULL_MATRIX") == "1"


@dataclass(frozen=True)
class Row:
    """One Trainer configuration and what it must log or warn."""

    id: str
    devices: int = 1
    precision: str = "32-true"
    val_sizes: tuple[int, ...] = (45,)
    drop_last: bool = False
    limit: int | None = None
    metrics: str = "plain"
    sync: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    warns: str | None = None  # the one EvalCallbackWarning expected; None: the one-device values
    same_warnings: bool = False  # the metric warnings of all ranks equal the one-device warnings
    full: bool = False  # only with EVALKIT_FULL_MATRIX=1

    def __hash__(self) -> int:
        return hash(self.id)


ROWS = [
    # --- one-device rows run by default, 2-process rows only where not marked full
    Row(
        "ddp2-two-loaders-sync-off",
        devices=2,
        val_sizes=(45, 20),
        sync={"sync_on_compute": False, "dist_sync_on_step": True, "compute_on_cpu": True},
    ),
    Row("ddp2-drop-last", devices=2, drop_last=True, warns="do not cover the whole dataset"),
    Row("ddp2-rank-of-padding", devices=2, val_sizes=(1,), same_warnings=True),
    Row("limit-val-batches", limit=2, warns="cover 2 of its 6 batches"),
    Row("bf16-true", precision="bf16-true"),
    Row("groups-on", metrics="groups_on"),
    Row("resume", resume=True),
    # --- more rows
    Row("one-device"),
    Row("ddp2", devices=2, full=True),
    Row("ddp3-odd", devices=3, val_sizes=(46,), full=True),
    Row("ddp2-sync-off", devices=2, sync={"sync_on_compute": False}, full=True),
    Row("ddp2-sync-on-step", devices=2, sync={"dist_sync_on_step": True}, full=True),
    Row("ddp2-compute-on-cpu", devices=2, sync={"compute_on_cpu": True}, full=True),
    Row("two-loaders", val_sizes=(45, 20)),
    Row("drop-last", drop_last=True, warns="do not cover the whole dataset"),
    Row("ddp2-limit-val-batches", devices=2, limit=2, warns="under DDP the batches run differ", full=True),
    Row("ddp3-rank-of-padding", devices=3, val_sizes=(2,), same_warnings=True, full=True),
    Row("16-true", precision="16-true"),
    Row("bf16-mixed", precision="bf16-mixed"),
    Row("ddp2-bf16-true", devices=2, precision="bf16-true", full=True),
    Row("groups-off", metrics="groups_off"),
    Row("ddp2-groups-on", devices=2, metrics="groups_on", full=True),
    Row("ddp2-resume", devices=2, resume=True, full=True),
]


def _params() -> list[Any]:
    params = []
    for row in ROWS:
        marks: list[Any] = [pytest.mark.slow]
        if row.devices > 1:
            marks.append(pytest.mark.ddp)
        if row.full:
            marks += [pytest.mark.full_matrix, pytest.mark.skipif(not FULL, reason="set EVALKIT_FULL_MATRIX=1")]
        params.append(pytest.param(row, id=row.id, marks=marks))
    return params


def _trainer(row: Row, out: Path, max_epochs: int, callbacks: list[Any]) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        limit_train_batches=1,
        limit_val_batches=row.limit if row.limit is not None else 1.0,
        num_sanity_val_steps=0,
        accelerator="cpu",
        devices=row.devices,
        strategy="ddp_spawn" if row.devices > 1 else "auto",
        precision=row.precision,  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=row.resume,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(out),
        callbacks=callbacks,
    )


def run_row(row: Row, out: Path) -> list[dict[str, Any]]:
    """Fit ``row``'s Trainer (resuming from a first run's checkpoint when asked); each rank's records."""
    out.mkdir(parents=True)
    module = MatrixModule(row.val_sizes, drop_last=row.drop_last)
    ckpt_path = None
    if row.resume:
        first = _trainer(row, out, 1, [EvalCallback(make_metrics(row.metrics, **row.sync), plots=False)])
        first.fit(module)
        ckpt_path = str(next(out.rglob("*.ckpt")))
    callback = EvalCallback(make_metrics(row.metrics, **row.sync), plots=False)
    _trainer(row, out, 2 if row.resume else 1, [Recorder(out), callback]).fit(module, ckpt_path=ckpt_path)
    return [json.loads(Path(out, f"rank{rank}.json").read_text()) for rank in range(row.devices)]


def one_device_values(row: Row) -> dict[str, float]:
    """The metrics updated once with every sample (cast as the Trainer casts the batch), checked with sklearn."""
    expected = {}
    for index, size in enumerate(row.val_sizes):
        data = MatrixDataset(size, seed=index)
        scores = data.scores.to(DTYPES.get(row.precision, torch.float32)).float()
        metrics = make_metrics(row.metrics)
        suffix = f"/dataloader_idx_{index}" if len(row.val_sizes) > 1 else ""
        for name, metric in dict(metrics.items()).items():
            metric.update(scores, data.labels)
            expected[f"val/{name}{suffix}"] = float(metric.compute())
        labels, scores_np = data.labels.numpy(), scores.double().numpy()
        if row.metrics == "plain":
            assert expected[f"val/auroc{suffix}"] == pytest.approx(roc_auc_score(labels, scores_np), abs=1e-12)
            assert expected[f"val/sensitivity{suffix}"] == pytest.approx(recall_score(labels, scores_np >= 0.5))
        else:  # the reference, not the metric, for the rows whose metric side is being fixed
            for name, threshold in (("s03", 0.3), ("s05", 0.5)):
                expected[f"val/{name}{suffix}"] = float(recall_score(labels, scores_np >= threshold))
    return expected


# the packages whose warnings are the metrics' own: a warning counts when its file lies inside one of them (not
# when its path merely contains the name: a clone named lightning_evalkit holds .venv, Lightning's files too)
METRIC_PACKAGES = tuple(Path(package.__path__[0]).resolve() for package in (lightning_evalkit, torchmetrics))


def _is_metric_warning(warning: dict[str, str]) -> bool:
    """True for an EvalCallbackWarning or a warning raised from a file inside lightning_evalkit or torchmetrics."""
    if warning["category"] == EvalCallbackWarning.__name__:
        return True
    path = Path(warning["filename"]).resolve()
    return any(path.is_relative_to(package) for package in METRIC_PACKAGES)


def _metric_warnings(records: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """The warnings from the metrics and the callback, over all ranks, with their counts."""
    return Counter(
        (w["category"], w["message"]) for record in records for w in record["warnings"] if _is_metric_warning(w)
    )


@pytest.mark.parametrize("row", _params())
def test_row(row: Row, tmp_path: Path) -> None:
    records = run_row(row, tmp_path / row.id)
    evalkit = [w["message"] for r in records for w in r["warnings"] if w["category"] == EvalCallbackWarning.__name__]
    if row.warns is not None:
        assert len(evalkit) == 1 and row.warns in evalkit[0], evalkit
        return
    if row.same_warnings:
        one_device = run_row(Row(row.id + "-one-device", val_sizes=row.val_sizes), tmp_path / "one-device")
        assert _metric_warnings(records) == _metric_warnings(one_device)
        assert _metric_warnings(records), "the row must make the metrics warn"
        assert repr(records[0]["values"]) == repr(one_device[0]["values"])  # repr: NaN equals NaN
        return
    assert not evalkit, evalkit
    logged = records[0]["values"][-1]
    expected = {key: float(np.float32(value)) for key, value in one_device_values(row).items()}
    assert {k: v for k, v in logged.items() if not np.isnan(v)} == expected  # exactly, at float32
