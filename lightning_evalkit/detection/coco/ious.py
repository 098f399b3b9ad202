"""The ``ious`` of MeanAveragePrecision's extended summary, kept as flat "cat" tensors so they sync like the rest.

pycocotools' ``COCOeval.ious`` (what torchmetrics returns) maps (image, class) to the IoU matrix between that
image's detections of the class, by score descending (stable) and cut to the largest max-detections, and its
ground truths of the class in input order (crowd ground truths with COCO's crowd IoU). Here each update stores:

- ``iou_updates`` (1, 2): the update's number of images and of blocks;
- ``iou_blocks`` (B, 4): per (image, class) with a detection or a ground truth: the image's index within the
  update, the class, the number of rows (detections) and columns (ground truths);
- ``iou_values`` (P,): the blocks' matrices flattened row-major, one after another.

After a DDP sync the updates follow each other rank by rank, so an image's index is its place in that order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_evalkit.detection.coco.pairs import _pair_mask_iou, candidate_pairs, pair_box_iou
from lightning_evalkit.detection.inputs.batch import DetectionBatch


def iou_blocks(batch: DetectionBatch, max_det: int, pooled: bool) -> dict[str, Tensor]:
    """The three ``ious`` states of one parsed batch (``pooled``: every label counts as class 0, for micro)."""
    det_labels, gt_labels = batch.det_labels, batch.gt_labels
    if pooled:
        det_labels, gt_labels = torch.zeros_like(det_labels), torch.zeros_like(gt_labels)
    grouping = batch._replace(det_labels=det_labels, gt_labels=gt_labels)
    pairs = candidate_pairs(grouping, max_det)
    det_idx, gt_idx = pairs.det_order[pairs.pair_det], pairs.gt_order[pairs.pair_gt]
    if batch.iou_type == "bbox":
        values = pair_box_iou(batch, det_idx, gt_idx)
    else:
        values = _pair_mask_iou(batch, det_idx, gt_idx)
    det_keys = torch.stack([batch.det_image[pairs.det_order], det_labels[pairs.det_order]], 1)
    gt_keys = torch.stack([batch.gt_image, gt_labels], 1)
    keys, inverse = torch.unique(torch.cat([det_keys, gt_keys]), dim=0, return_inverse=True)
    num_dets = det_keys.shape[0]
    rows = torch.bincount(inverse[:num_dets], minlength=keys.shape[0])
    cols = torch.bincount(inverse[num_dets:], minlength=keys.shape[0])
    blocks = torch.cat([keys.reshape(-1, 2), rows[:, None], cols[:, None]], 1)
    counts = torch.tensor([[batch.num_images, blocks.shape[0]]], dtype=torch.long, device=blocks.device)
    return {"iou_updates": counts, "iou_blocks": blocks, "iou_values": values}


def ious_from_blocks(updates: Tensor, blocks: Tensor, values: Tensor, classes: list[int]) -> dict:
    """{(image index, class): float32 IoU matrix (detections, ground truths)} for every image and class."""
    image_offsets = torch.cumsum(updates[:, 0], 0) - updates[:, 0]
    block_update = torch.repeat_interleave(torch.arange(updates.shape[0], device=updates.device), updates[:, 1])
    images = (image_offsets[block_update] + blocks[:, 0]).tolist()
    sizes = (blocks[:, 2] * blocks[:, 3]).tolist()
    matrices = values.float().split(sizes)
    found = {
        (image, label): matrix.reshape(num_rows, num_cols)
        for image, label, num_rows, num_cols, matrix in zip(
            images, blocks[:, 1].tolist(), blocks[:, 2].tolist(), blocks[:, 3].tolist(), matrices, strict=True
        )
    }
    empty = values.new_zeros(0, 0, dtype=torch.float32)
    num_images = int(updates[:, 0].sum())
    return {(image, label): found.get((image, label), empty) for image in range(num_images) for label in classes}
