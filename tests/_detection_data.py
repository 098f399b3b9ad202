"""Random detection data for tests.

Integer box coordinates (so IoU ties at thresholds are exact and frequent), score ties across images, crowd
boxes, empty images, classes without ground truth.
"""

from __future__ import annotations

import itertools

import torch


def random_images(
    seed: int,
    num_images: int,
    max_gt: int = 6,
    max_dets: int = 10,
    num_classes: int = 3,
    scale: int = 1,
    tied_scores: bool = True,
    crowd_prob: float = 0.2,
    given_area: bool = False,
    box_format: str = "xywh",
) -> tuple[list[dict], list[dict]]:
    """preds and target lists; detections are mostly jittered copies of ground truth, some pure noise."""
    gen = torch.Generator().manual_seed(seed)

    def ints(low: int, high: int, *shape: int) -> torch.Tensor:
        return torch.randint(low, high + 1, shape, generator=gen)

    preds, target = [], []
    for _ in range(num_images):
        n_gt, n_dt = int(ints(0, max_gt)), int(ints(0, max_dets))
        gt = torch.cat([ints(0, 12, n_gt, 2), ints(0, 8, n_gt, 2)], 1)
        gt_labels = ints(0, num_classes - 1, n_gt)
        noise = torch.cat([ints(0, 12, n_dt, 2), ints(0, 8, n_dt, 2)], 1)
        if n_gt:
            source = ints(0, n_gt - 1, n_dt)
            copies = (gt[source] + ints(-1, 1, n_dt, 4)).clamp(min=0)
            from_gt = torch.rand(n_dt, generator=gen) < 0.7
            dets = torch.where(from_gt[:, None], copies, noise)
            same_class = torch.rand(n_dt, generator=gen) < 0.8
            dt_labels = torch.where(from_gt & same_class, gt_labels[source], ints(0, num_classes, n_dt))
        else:
            dets, dt_labels = noise, ints(0, num_classes, n_dt)
        scores = ints(1, 4, n_dt).double() / 4 if tied_scores else torch.rand(n_dt, generator=gen, dtype=torch.float64)
        gt_item = {"boxes": _fmt(gt * scale, box_format), "labels": gt_labels}
        gt_item["iscrowd"] = (torch.rand(n_gt, generator=gen) < crowd_prob).long()
        if given_area:
            gt_item["area"] = torch.rand(n_gt, generator=gen, dtype=torch.float64) * 12000
        target.append(gt_item)
        preds.append({"boxes": _fmt(dets * scale, box_format), "scores": scores, "labels": dt_labels})
    return preds, target


def _fmt(xywh: torch.Tensor, box_format: str) -> torch.Tensor:
    boxes = xywh.double().reshape(-1, 4)
    if box_format == "xyxy":
        return torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1)
    return boxes


def random_masks(
    seed: int, num_images: int, size: tuple[int, int] = (10, 12), num_classes: int = 2
) -> tuple[list[dict], list[dict]]:
    """Segmentation preds/target: rectangles and random blobs, detections mostly perturbed ground truth."""
    gen = torch.Generator().manual_seed(seed)
    height, width = size
    preds, target = [], []
    for _ in range(num_images):
        n_gt, n_dt = (
            int(torch.randint(0, 5, (1,), generator=gen)),
            int(torch.randint(0, 7, (1,), generator=gen)),
        )
        gt = _rect_masks(gen, n_gt, height, width)
        gt_labels = torch.randint(0, num_classes, (n_gt,), generator=gen)
        flips = torch.rand(n_dt, height, width, generator=gen) < 0.15
        if n_gt:
            source = torch.randint(0, n_gt, (n_dt,), generator=gen)
            dets = gt[source] ^ flips
            dt_labels = gt_labels[source]
        else:
            dets, dt_labels = flips, torch.randint(0, num_classes, (n_dt,), generator=gen)
        scores = torch.randint(1, 5, (n_dt,), generator=gen).double() / 4
        crowd = (torch.rand(n_gt, generator=gen) < 0.2).long()
        target.append({"masks": gt, "labels": gt_labels, "iscrowd": crowd})
        preds.append({"masks": dets, "scores": scores, "labels": dt_labels})
    return preds, target


def _rect_masks(gen: torch.Generator, count: int, height: int, width: int) -> torch.Tensor:
    masks = torch.zeros(count, height, width, dtype=torch.bool)
    for i in range(count):
        y0, x0 = (
            int(torch.randint(0, height - 1, (1,), generator=gen)),
            int(torch.randint(0, width - 1, (1,), generator=gen)),
        )
        y1 = y0 + 1 + int(torch.randint(0, height - y0, (1,), generator=gen))
        x1 = x0 + 1 + int(torch.randint(0, width - x0, (1,), generator=gen))
        masks[i, y0:y1, x0:x1] = True
    return masks


def split_points(seed: int, count: int, parts: int) -> list[tuple[int, int]]:
    """Split range(count) into ``parts`` contiguous chunks (some may be empty)."""
    gen = torch.Generator().manual_seed(seed)
    cuts = sorted(torch.randint(0, count + 1, (max(parts - 1, 0),), generator=gen).tolist())
    bounds = [0, *cuts, count]
    return list(itertools.pairwise(bounds))
