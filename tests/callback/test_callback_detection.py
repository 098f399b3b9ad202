"""EvalCallback with MeanAveragePrecision in a real Trainer: logged mAP equals pycocotools; PR and AP plots."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

import lightning_evalkit
from lightning_evalkit import EvalCallback
from lightning_evalkit.callback.eval_callback import EvalCallbackWarning
from tests._events import read_events, scalars
from tests.callback.test_callback import make_trainer

pytest.importorskip("pycocotools")
if not hasattr(lightning_evalkit, "MeanAveragePrecision"):
    pytest.skip("MeanAveragePrecision is not in this branch yet (detection merges later)", allow_module_level=True)

NUM_IMAGES = 23


def make_images(seed: int = 0) -> list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    """(prediction, target) per image: noisy copies of the ground truth plus false positives, 2 classes."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(NUM_IMAGES):
        count = int(rng.integers(1, 5))
        xy = rng.uniform(0, 80, (count, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(8, 40, (count, 2))], 1)
        labels = rng.integers(0, 2, count)
        noisy = boxes + rng.normal(0, 3, boxes.shape)
        noisy[:, 2:] = np.maximum(noisy[:, 2:], noisy[:, :2] + 1)  # keep x2 > x1 and y2 > y1
        extra = int(rng.integers(0, 3))
        extra_xy = rng.uniform(0, 80, (extra, 2))
        pred_boxes = np.concatenate([noisy, np.concatenate([extra_xy, extra_xy + 20], 1)])
        pred = {
            "boxes": torch.tensor(pred_boxes, dtype=torch.float32),
            "scores": torch.tensor(rng.uniform(0, 1, count + extra), dtype=torch.float32),
            "labels": torch.tensor(np.concatenate([labels, rng.integers(0, 2, extra)])),
        }
        images.append((pred, {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}))
    return images


def pycocotools_stats(images: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gts, dts = [], []
    for image_id, (pred, target) in enumerate(images):
        for box, label in zip(target["boxes"].tolist(), target["labels"].tolist(), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            gts.append(
                {
                    "id": len(gts) + 1,
                    "image_id": image_id,
                    "category_id": label,
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for box, score, label in zip(*(pred[k].tolist() for k in ("boxes", "scores", "labels")), strict=True):
            dts.append(
                {
                    "image_id": image_id,
                    "category_id": label,
                    "score": score,
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {
            "images": [{"id": i} for i in range(len(images))],
            "annotations": gts,
            "categories": [{"id": 0}, {"id": 1}],
        }
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(dts), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


def make_tied_images() -> list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    """make_images with scores rounded up to quarters: many exact score ties across images."""
    return [({**pred, "scores": (pred["scores"] * 4).ceil() / 4}, target) for pred, target in make_images(1)]


class FixedDetections(pl.LightningModule):
    """Returns fixed detections for the validation images (a module-level class, so ddp_spawn can pickle it)."""

    def __init__(self, tied: bool = False) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.images = make_tied_images() if tied else make_images()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return (self.weight**2).sum()

    def validation_step(self, batch: list[int], batch_idx: int) -> dict[str, list[dict]]:
        return {"preds": [self.images[i][0] for i in batch], "target": [self.images[i][1] for i in batch]}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(range(4), batch_size=2)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(range(NUM_IMAGES), batch_size=5, collate_fn=list)


@pytest.mark.slow
def test_map_equals_pycocotools_and_detection_plots_are_written(tmp_path: Path) -> None:
    metric = lightning_evalkit.MeanAveragePrecision(extended_summary=True, class_metrics=True)
    callback = EvalCallback({"map": metric}, class_names=["cat", "dog"])
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback])
    with pytest.warns(EvalCallbackWarning, match="did not log") as record:
        trainer.fit(FixedDetections())
    events = read_events(tmp_path)
    stats = pycocotools_stats(make_images())
    keys = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large"]
    keys += ["mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]
    undefined = [f"val/{key}" for key, value in zip(keys, stats, strict=True) if value == -1]
    assert undefined, "the data must have an area range without ground truth (pycocotools: -1)"
    for key, value in zip(keys, stats, strict=True):
        if value == -1:  # undefined: never logged as data, NaN for ModelCheckpoint/EarlyStopping
            assert f"val/{key}" not in events.Tags()["scalars"]
            assert np.isnan(float(trainer.callback_metrics[f"val/{key}"]))
        else:
            np.testing.assert_allclose(scalars(events, f"val/{key}"), [value] * 2, rtol=1e-6, atol=1e-7)
    warned = [str(w.message) for w in record if "did not log" in str(w.message)]
    assert len(warned) == 1 and all(key in warned[0] for key in undefined)
    assert {"val_per_class/map_per_class/cat", "val_per_class/map_per_class/dog"} <= set(events.Tags()["scalars"])
    assert len(events.Images("val/detection_pr")) == 2 and len(events.Images("val/per_class_ap")) == 2


MAP_KEYS = ("map", "map_50", "map_75", "mar_1", "mar_10", "mar_100")


def _logged_map(tmp_path: Path, **trainer_kwargs: Any) -> dict[str, list[float]]:
    callback = EvalCallback({"map": lightning_evalkit.MeanAveragePrecision()}, plots=False)
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback], **trainer_kwargs)
    trainer.fit(FixedDetections(tied=True))
    events = read_events(tmp_path)
    return {key: scalars(events, f"val/{key}") for key in MAP_KEYS}


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_logs_the_single_device_map_with_score_ties_across_images(tmp_path: Path) -> None:
    """The callback gives targets their dataset index as image_id, so ties rank as on one device."""
    single = _logged_map(tmp_path / "single")
    ddp = _logged_map(tmp_path / "ddp", devices=2, strategy="ddp_spawn")
    assert ddp == single  # exactly
    # The check can fail: the same images gathered rank by rank, without image ids, give another mAP.
    images, metric = make_tied_images(), lightning_evalkit.MeanAveragePrecision()
    for rank in (0, 1):
        for index in range(rank, NUM_IMAGES, 2):
            metric.update([images[index][0]], [images[index][1]])
    rank_order = metric.compute()
    assert any(abs(float(rank_order[key]) - single[key][-1]) > 1e-6 for key in MAP_KEYS)
