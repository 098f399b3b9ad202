"""Curve images reach every logger that takes images: TensorBoard, W&B (offline), MLflow (file store), log_image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from lightning_evalkit.callback.sinks import LogImageSink, MLflowSink, TensorBoardSink, sinks_for
from tests._events import read_events
from tests._score_models import ScoreModulePL
from tests.callback.test_callback import BINARY_PLOTS, binary_callback, make_trainer


class ImageListLogger(CSVLogger):
    """A logger of another kind with a ``log_image(key, images, step)`` method: keeps what it gets."""

    def __init__(self, save_dir: str) -> None:
        super().__init__(save_dir)
        self.images: list[tuple[str, int, tuple[int, ...]]] = []

    def log_image(self, key: str, images: list[Any], step: int | None = None) -> None:
        self.images += [(key, int(step or 0), np.asarray(image).shape) for image in images]


def test_sinks_are_chosen_by_logger_kind(tmp_path: Path) -> None:
    loggers = [TensorBoardLogger(str(tmp_path)), CSVLogger(str(tmp_path)), ImageListLogger(str(tmp_path))]
    assert [type(sink) for sink in sinks_for(loggers)] == [TensorBoardSink, LogImageSink]


@pytest.mark.slow
def test_images_reach_tensorboard_wandb_mlflow_and_log_image_loggers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wandb = pytest.importorskip("wandb")
    pytest.importorskip("mlflow")
    from pytorch_lightning.loggers import MLFlowLogger, WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    (tmp_path / "wandb").mkdir()
    tensorboard = TensorBoardLogger(str(tmp_path / "tb"), name="", version="")
    wandb_logger = WandbLogger(save_dir=str(tmp_path / "wandb"), offline=True, project="evalkit")
    mlflow_logger = MLFlowLogger(tracking_uri=f"file:{tmp_path / 'mlruns'}", experiment_name="evalkit")
    listing = ImageListLogger(str(tmp_path / "csv"))
    assert [type(s) for s in sinks_for([tensorboard, wandb_logger, mlflow_logger, listing])] == [
        TensorBoardSink,
        LogImageSink,
        MLflowSink,
        LogImageSink,
    ]
    trainer = make_trainer(
        "pytorch_lightning",
        tmp_path,
        [binary_callback()],
        logger=[tensorboard, wandb_logger, mlflow_logger, listing],
        max_epochs=1,
    )
    trainer.fit(ScoreModulePL(val_size=40))
    wandb.finish()
    events = read_events(tmp_path / "tb")
    step = events.Images("val/roc")[0].step
    # The generic logger got the same images, at the same step, as TensorBoard.
    assert sorted(key for key, _, _ in listing.images) == sorted(f"val/{plot}" for plot in BINARY_PLOTS)
    assert {s for _, s, _ in listing.images} == {step}
    # W&B offline writes each image as a PNG under files/media/images/<key>_<step>_<hash>.png.
    wandb_pngs = [p for p in (tmp_path / "wandb").rglob("*.png") if "media" in p.parts]
    for plot in BINARY_PLOTS:
        found = [p for p in wandb_pngs if p.name.startswith(f"{plot}_") and p.parent.name == "val"]
        assert len(found) == 1, (plot, wandb_pngs)
        assert Image.open(found[0]).size[0] > 100
    # MLflow stores time-stepped images as PNG artifacts named after the key ("/" as "~") and step ("%" as "+").
    mlflow_pngs = [p for p in (tmp_path / "mlruns").rglob("*.png") if "compressed" not in p.name]
    for plot in BINARY_PLOTS:
        found = [p for p in mlflow_pngs if p.name.startswith(f"val~{plot}+step+{step}+")]
        assert len(found) == 1, (plot, [p.name for p in mlflow_pngs])
        assert Image.open(found[0]).size[0] > 100
