"""Train a tiny one-stage detector on procedurally drawn shapes, with EvalCallback + MeanAveragePrecision.

No downloads and no torchvision: images of squares, discs and triangles are drawn on the fly. The model
predicts, on an 8 x 8 grid, an objectness score, class scores and a box per cell (a miniature YOLO).
Run ``python examples/train_detector.py`` (it runs ``fit --config configs/detector.yaml``) or any
LightningCLI command line.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LightningCLI
from torch import nn
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "detector.yaml"
SHAPES = ("square", "disc", "triangle")
SIZE, GRID = 64, 8  # image side and grid side: one cell per 8 x 8 pixels
CELL = SIZE // GRID


def draw_shape(image: torch.Tensor, label: int, box: tuple[int, int, int, int]) -> None:
    """Paint one filled shape inside ``box`` (x1, y1, x2, y2) of a (SIZE, SIZE) image."""
    x1, y1, x2, y2 = box
    ys, xs = torch.meshgrid(torch.arange(y1, y2), torch.arange(x1, x2), indexing="ij")
    if label == 0:
        mask = torch.ones_like(xs, dtype=torch.bool)
    elif label == 1:
        cx, cy, r = (x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2, (x2 - x1) / 2
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= r**2
    else:  # triangle with its apex at the top centre
        half = (ys - y1 + 1) * (x2 - x1) / (2 * (y2 - y1))
        mask = (xs - (x1 + x2) / 2).abs() <= half
    image[ys[mask], xs[mask]] = 0.6 + 0.4 * torch.rand(1).item()


class ShapesDataset(Dataset):
    """Images with 1 to 3 shapes each; targets are {"boxes" (xyxy, pixels), "labels", "image_id"}.

    ``image_id`` (the dataset index) lets MeanAveragePrecision order score ties across images as pycocotools
    does, so a DDP run, whose ranks see the images interleaved, gives exactly the single-device mAP.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.items = [self._make(torch.Generator().manual_seed(seed * 100_003 + i)) for i in range(size)]

    @staticmethod
    def _make(rng: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image = 0.1 * torch.rand(1, SIZE, SIZE, generator=rng)
        boxes, labels = [], []
        for _ in range(int(torch.randint(1, 4, (1,), generator=rng))):
            side = int(torch.randint(12, 25, (1,), generator=rng))
            x1, y1 = (int(v) for v in torch.randint(0, SIZE - side, (2,), generator=rng))
            label = int(torch.randint(0, len(SHAPES), (1,), generator=rng))
            draw_shape(image[0], label, (x1, y1, x1 + side, y1 + side))
            boxes.append([x1, y1, x1 + side, y1 + side])
            labels.append(label)
        return image, {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor | int]]:
        image, target = self.items[index]
        return image, {**target, "image_id": index}


def collate(batch: list[tuple[torch.Tensor, dict[str, torch.Tensor | int]]]) -> tuple[torch.Tensor, list[dict]]:
    return torch.stack([image for image, _ in batch]), [target for _, target in batch]


class ShapesData(pl.LightningDataModule):
    """Procedurally generated train and validation sets (the same every run)."""

    def __init__(self, train_size: int = 768, val_size: int = 150, batch_size: int = 32) -> None:
        super().__init__()
        self.train_size, self.val_size, self.batch_size = train_size, val_size, batch_size

    def setup(self, stage: str) -> None:
        self.train_set, self.val_set = ShapesDataset(self.train_size, 1), ShapesDataset(self.val_size, 2)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, collate_fn=collate)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, collate_fn=collate)


def encode_targets(targets: list[dict[str, torch.Tensor]], device: torch.device) -> dict[str, torch.Tensor]:
    """Grid targets: each box is assigned to the cell holding its centre."""
    n = len(targets)
    objectness = torch.zeros(n, GRID, GRID, device=device)
    labels = torch.zeros(n, GRID, GRID, dtype=torch.long, device=device)
    boxes = torch.zeros(n, GRID, GRID, 4, device=device)
    for i, target in enumerate(targets):
        xyxy = target["boxes"].to(device)
        centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
        cell = (centre / CELL).long().clamp(0, GRID - 1)
        offset = centre / CELL - cell
        log_size = torch.log((xyxy[:, 2:] - xyxy[:, :2]) / CELL)
        objectness[i, cell[:, 1], cell[:, 0]] = 1.0
        labels[i, cell[:, 1], cell[:, 0]] = target["labels"].to(device)
        boxes[i, cell[:, 1], cell[:, 0]] = torch.cat([offset, log_size], 1)
    return {"objectness": objectness, "labels": labels, "boxes": boxes}


class TinyDetector(pl.LightningModule):
    """Three strided convolutions to an 8 x 8 grid; per cell: objectness, class logits, box (dx, dy, log w, log h)."""

    def __init__(self, width: int = 32, lr: float = 3e-3, max_detections: int = 20) -> None:
        super().__init__()
        self.save_hyperparameters()
        layers: list[nn.Module] = []
        channels = 1
        for out in (width // 2, width, 2 * width):
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.backbone = nn.Sequential(*layers, nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(channels, 1 + len(SHAPES) + 4, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images)).permute(0, 2, 3, 1)  # (N, GRID, GRID, 1 + C + 4)

    def training_step(self, batch: tuple[torch.Tensor, list[dict]], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        out, grid = self(images), encode_targets(targets, images.device)
        assigned = grid["objectness"] > 0
        loss = nn.functional.binary_cross_entropy_with_logits(out[..., 0], grid["objectness"])
        loss = loss + nn.functional.cross_entropy(out[..., 1 : 1 + len(SHAPES)][assigned], grid["labels"][assigned])
        predicted_box = torch.cat([out[..., -4:-2].sigmoid(), out[..., -2:]], -1)
        loss = loss + nn.functional.l1_loss(predicted_box[assigned], grid["boxes"][assigned])
        self.log("train/loss", loss, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(targets))
        return loss

    def decode(self, out: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Per image: the highest-scoring cells as boxes (xyxy, pixels), scores and labels."""
        scores, labels = out[..., 1 : 1 + len(SHAPES)].softmax(-1).max(-1)
        scores = scores * out[..., 0].sigmoid()
        ys, xs = torch.meshgrid(
            torch.arange(GRID, device=out.device), torch.arange(GRID, device=out.device), indexing="ij"
        )
        centre = (torch.stack([xs, ys], -1) + out[..., -4:-2].sigmoid()) * CELL
        half = out[..., -2:].clamp(max=3.0).exp() * CELL / 2
        boxes = torch.cat([centre - half, centre + half], -1).clamp(0, SIZE)
        results = []
        for image_scores, image_boxes, image_labels in zip(scores, boxes, labels, strict=True):
            top = image_scores.flatten().topk(self.hparams.max_detections).indices
            results.append(
                {
                    "boxes": image_boxes.reshape(-1, 4)[top],
                    "scores": image_scores.flatten()[top],
                    "labels": image_labels.flatten()[top],
                }
            )
        return results

    def validation_step(self, batch: tuple[torch.Tensor, list[dict]], batch_idx: int) -> dict[str, list[dict]]:
        images, targets = batch
        return {"preds": self.decode(self(images)), "target": targets}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class _DropLitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_lightning() -> None:
    """Keep the demo's output to what it reports: drop Lightning's litlogger advert and a torch-version notice.

    Nothing that concerns this run is hidden; the training and evaluation warnings still show.
    """
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_DropLitLoggerTip())
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropLitLoggerTip())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*is deprecated")


def report(trainer: pl.Trainer) -> None:
    """Print the last validation epoch's mAP and how to look at the curves."""
    results = trainer.callback_metrics
    for key in ("val/map", "val/map_50", "val/map_75", "val/mar_100"):
        if key in results:
            print(f"{key:>12}: {float(results[key]):.4f}")
    logger = trainer.logger
    if logger is not None and logger.save_dir is not None:
        print(f"\nPR curves and per-class AP are in TensorBoard:\n  bash scripts/tensorboard.sh {logger.save_dir}")


def main(args: list[str] | None = None) -> Any:
    """LightningCLI entry point; with no arguments, fit with configs/detector.yaml."""
    quiet_lightning()
    if args is None and not sys.argv[1:]:
        args = ["fit", "--config", str(DEFAULT_CONFIG)]
    cli = LightningCLI(TinyDetector, ShapesData, args=args, save_config_kwargs={"overwrite": True})
    if cli.trainer.is_global_zero and cli.subcommand in ("fit", "validate"):
        report(cli.trainer)
    return cli


if __name__ == "__main__":
    main()
