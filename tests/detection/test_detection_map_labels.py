"""MeanAveragePrecision with labels far from 0..K-1 (negative, huge): the sort-based class index path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_evalkit import MeanAveragePrecision
from tests._coco_reference import pycocotools_eval
from tests._detection_data import random_images


@pytest.mark.parametrize("mapping", [(-7, 3, 10**9), (5, 2**40, 2**40 + 1)])
@pytest.mark.parametrize("tied_scores", [True, False])
def test_sparse_labels_equal_pycocotools(mapping: tuple[int, int, int], tied_scores: bool) -> None:
    preds, target = random_images(11, 6, num_classes=3, tied_scores=tied_scores)
    table = torch.tensor((*mapping, mapping[-1] + 1))  # random_images may draw label num_classes for noise
    for item in [*preds, *target]:
        item["labels"] = table[item["labels"]]
    metric = MeanAveragePrecision(box_format="xywh", extended_summary=True)
    metric.update(preds, target)
    ours = metric.compute()
    ref = pycocotools_eval(preds, target, box_format="xywh")
    for key in ("precision", "recall", "scores"):
        np.testing.assert_allclose(ours[key].numpy(), ref[key], rtol=0, atol=1e-12, err_msg=key)
