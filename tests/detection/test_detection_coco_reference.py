"""The real COCO val2014 100-image set: all 12 bbox and 12 segm stats equal the published values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_evalkit import MeanAveragePrecision

KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large"]
KEYS += ["mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]


def _published(folder: Path) -> dict[str, list[float]]:
    """The full-precision columns of EXPECTED.md's table, in pycocotools' stats order."""
    rows = re.findall(
        r"^\| (AP|AP50|AP75|APs|APm|APl|AR1|AR10|AR100|ARs|ARm|ARl) \|(.*)$",
        (folder / "EXPECTED.md").read_text(),
        re.MULTILINE,
    )
    cells = [[c.strip() for c in rest.split("|")] for _, rest in rows]
    assert len(cells) == 12
    return {"bbox": [float(c[0]) for c in cells], "segm": [float(c[2]) for c in cells]}


def _load(folder: Path, iou_type: str) -> tuple[list[dict], list[dict]]:
    gt = json.loads((folder / "instances_val2014_100.json").read_text())
    name = (
        "instances_val2014_fakebbox100_results.json"
        if iou_type == "bbox"
        else ("instances_val2014_fakesegm100_results.json")
    )
    dt = json.loads((folder / name).read_text())
    images = {im["id"]: im for im in gt["images"]}
    preds, target = [], []
    for image_id in sorted(images):
        gts = [a for a in gt["annotations"] if a["image_id"] == image_id]
        dts = [a for a in dt if a["image_id"] == image_id]
        target.append(
            {
                "labels": torch.tensor([a["category_id"] for a in gts], dtype=torch.long),
                "iscrowd": torch.tensor([a["iscrowd"] for a in gts], dtype=torch.long),
                "area": torch.tensor([a["area"] for a in gts], dtype=torch.float64),
                **_geometry(gts, images[image_id], iou_type),
            }
        )
        preds.append(
            {
                "labels": torch.tensor([a["category_id"] for a in dts], dtype=torch.long),
                "scores": torch.tensor([a["score"] for a in dts], dtype=torch.float64),
                **_geometry(dts, images[image_id], iou_type),
            }
        )
    return preds, target


def _geometry(anns: list[dict], image: dict, iou_type: str) -> dict[str, torch.Tensor]:
    if iou_type == "bbox":
        return {"boxes": torch.tensor([a["bbox"] for a in anns], dtype=torch.float64).reshape(-1, 4)}
    from pycocotools import mask as mask_utils  # decoding the reference RLE only, inside the test

    height, width = image["height"], image["width"]
    masks = []
    for ann in anns:
        seg = ann["segmentation"]
        if isinstance(seg, list):  # polygons
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
        elif isinstance(seg["counts"], list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            rle = seg
        masks.append(torch.from_numpy(mask_utils.decode(rle)).bool())
    return {"masks": torch.stack(masks) if masks else torch.zeros(0, height, width, dtype=torch.bool)}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_val2014_100_published_stats(reference_dir, iou_type):
    folder = reference_dir / "coco-val2014-100"
    preds, target = _load(folder, iou_type)
    metric = MeanAveragePrecision(box_format="xywh", iou_type=iou_type)
    for start in range(0, len(preds), 16):  # batches, like a validation loop
        metric.update(preds[start : start + 16], target[start : start + 16])
    result = metric.compute()
    expected = _published(folder)[iou_type]
    got = [float(result[key]) for key in KEYS]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
