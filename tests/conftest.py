"""Shared test fixtures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


@pytest.fixture
def reference_dir() -> Path:
    """The shared reference data folder (../shared/reference); skips the test when it is absent."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE_DIR} (it lives in ../shared beside the repo)")
    return REFERENCE_DIR


@pytest.fixture(scope="session", autouse=True)
def _compiled_kernels_loaded() -> None:
    """One small segm and one bbox evaluation per test process first, so that hypothesis deadlines time the code
    under test, not numba's one-time import and compile of the RLE, matching and accumulation kernels (seconds on
    a fresh clone, whose cache is empty)."""
    if importlib.util.find_spec("numba") is None:
        return
    import torch

    from lightning_evalkit.coco import evaluate_coco
    from lightning_evalkit.detection.rle import rle_encode

    mask = torch.zeros(1, 6, 8, dtype=torch.bool)
    mask[0, 1:4, 2:5] = True
    rle = {"size": [6, 8], "counts": rle_encode(mask)[0]["counts"].decode()}
    annotation = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0}
    annotation["segmentation"] = [[0, 0, 4, 0, 4, 4, 0, 4]]
    gt = {"images": [{"id": 1, "height": 6, "width": 8}], "annotations": [annotation], "categories": [{"id": 1}]}
    evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "score": 0.5, "segmentation": rle}], "segm")
    evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [0, 0, 3, 4]}], "bbox")
    from lightning_evalkit import MeanAveragePrecision  # the accumulation kernel (evaluate_coco's path has none)

    metric = MeanAveragePrecision()
    metric.update(
        [{"boxes": torch.tensor([[0.0, 0.0, 3.0, 4.0]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([1])}],
        [{"boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]), "labels": torch.tensor([1])}],
    )
    metric.compute()
