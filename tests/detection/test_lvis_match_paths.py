"""LVIS bbox matching by the compiled COCO kernel gives the vectorised LVIS matching's records bit for bit: the
federated selection, categories not exhaustively annotated, result areas of their own, images with over 300
detections; and both equal lvis-api (the LVIS tests run the compiled path where numba is installed)."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit._core.compiled import compiled_module
from lightning_evalkit.detection.coco import match as coco_match_module
from lightning_evalkit.detection.lvis import lvis_map
from tests._lvis_data import random_lvis, to_tensors

pytestmark = pytest.mark.skipif(
    compiled_module(coco_match_module._KERNELS) is None, reason="numba is not installed: only the vectorised path runs"
)


def _records(preds: list, target: list, compiled: bool, det_areas: torch.Tensor | None = None) -> dict:
    batch, federated = lvis_map._lvis_parse(preds, target, "xywh", "bbox", None)
    with pytest.MonkeyPatch.context() as patch:
        if not compiled:
            patch.setattr(coco_match_module, "compiled_module", lambda name: None)
        return lvis_map._lvis_update(batch, federated, None, 300, det_areas)


@pytest.mark.parametrize(("seed", "images", "categories", "many"), [(0, 10, 8, 0), (1, 10, 8, 3), (2, 40, 20, 4)])
def test_the_compiled_records_equal_the_vectorised_ones(seed: int, images: int, categories: int, many: int) -> None:
    preds, target, _ = to_tensors(random_lvis(seed, images, categories, "bbox", many), "bbox")
    compiled, vectorised = _records(preds, target, True), _records(preds, target, False)
    assert int(vectorised["det_labels"].numel()) > 30
    ignored_unmatched = vectorised["det_ignored"] & ~vectorised["det_matched"]
    assert bool(ignored_unmatched.any())  # some unmatched detection is ignored (outside a range or not exhaustive)
    for name, value in vectorised.items():
        assert compiled[name].dtype == value.dtype and torch.equal(compiled[name], value), name


def test_result_areas_of_their_own_decide_the_area_ranges_alike() -> None:
    preds, target, _ = to_tensors(random_lvis(3, 12, 6, "bbox", 1), "bbox")
    count = sum(int(p["labels"].numel()) for p in preds)
    areas = torch.linspace(0.5, 120.0**2, count, dtype=torch.float64).flip(0)  # unrelated to the boxes
    compiled, vectorised = _records(preds, target, True, areas), _records(preds, target, False, areas)
    for name, value in vectorised.items():
        assert torch.equal(compiled[name], value), name
