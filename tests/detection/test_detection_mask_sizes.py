"""An image without masks on either side, dense (0, H, W) on one and an empty RLE list on the other, parses."""

from __future__ import annotations

import torch

from lightning_evalkit.detection.inputs.parse import parse_detection_inputs

NONE = torch.tensor([], dtype=torch.long)


def test_an_empty_rle_list_takes_the_size_of_empty_dense_masks() -> None:
    for dense_side in ("preds", "target"):
        dense, rle = torch.zeros(0, 5, 6, dtype=torch.bool), []
        preds = [dict(masks=dense if dense_side == "preds" else rle, scores=torch.tensor([]), labels=NONE)]
        target = [dict(masks=rle if dense_side == "preds" else dense, labels=NONE)]
        batch = parse_detection_inputs(preds, target, iou_types=("segm",))
        assert batch.num_images == 1 and batch.det_labels.numel() == 0 and batch.gt_labels.numel() == 0
