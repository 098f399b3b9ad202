"""COCO JSON evaluation from the command line, printing pycocotools' 12-line summary in its format::

    python -m lightning_evalkit.coco GT.json RESULTS.json --iou-type bbox|segm [--json stats.json]

``--json`` also writes the 12 stats. The loader and the conversions (``load_coco``, ``coco_to_tm``,
``tm_to_coco``) live in :mod:`lightning_evalkit._coco_json` and are re-exported here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import torch

from lightning_evalkit._coco_json import IOU_TYPES, STAT_KEYS, coco_to_tm, load_coco, tm_to_coco

__all__ = ["coco_to_tm", "evaluate_coco", "format_summary", "load_coco", "main", "tm_to_coco"]
_SUMMARY_ROWS = (  # (AP or AR, IoU, area, maxDets) in pycocotools' stats order
    ("AP", None, "all", 100),
    ("AP", 0.5, "all", 100),
    ("AP", 0.75, "all", 100),
    ("AP", None, "small", 100),
    ("AP", None, "medium", 100),
    ("AP", None, "large", 100),
    ("AR", None, "all", 1),
    ("AR", None, "all", 10),
    ("AR", None, "all", 100),
    ("AR", None, "small", 100),
    ("AR", None, "medium", 100),
    ("AR", None, "large", 100),
)


def evaluate_coco(gt_json: Any, results_json: Any, iou_type: str = "bbox", images_per_update: int = 500) -> dict:
    """pycocotools' evaluation of a COCO ground truth and results (paths or parsed), with our metric.

    Returns the metric's result dict (with ``extended_summary``); ``stats`` holds the 12 numbers in pycocotools'
    order in float64, from the precision and recall arrays.
    """
    from lightning_evalkit.detection import MeanAveragePrecision
    from lightning_evalkit.functional.detection import _coco_summary

    preds, target = load_coco(gt_json, results_json, iou_type)
    metric = MeanAveragePrecision(box_format="xywh", iou_type=iou_type, extended_summary=True)
    for start in range(0, len(preds), images_per_update):
        chunk = (preds[start : start + images_per_update], target[start : start + images_per_update])
        metric.update(*chunk)
    result = metric.compute()
    summary = _coco_summary(result["precision"], result["recall"], metric.iou_thresholds, [1, 10, 100])
    result["stats"] = torch.stack([summary[key].double() for key in STAT_KEYS])
    return result


def format_summary(stats: Sequence[float]) -> str:
    """pycocotools' ``COCOeval.summarize()`` printout of the 12 stats."""
    lines = []
    for (kind, iou, area, max_det), value in zip(_SUMMARY_ROWS, stats, strict=True):
        title = "Average Precision" if kind == "AP" else "Average Recall"
        iou_text = "0.50:0.95" if iou is None else f"{iou:0.2f}"
        lines.append(
            f" {title:<18} ({kind}) @[ IoU={iou_text:<9} | area={area:>6s} | maxDets={max_det:>3d} ] = {value:0.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lightning_evalkit.coco GT.json RESULTS.json --iou-type bbox|segm [--json OUT]``."""
    parser = argparse.ArgumentParser(prog="python -m lightning_evalkit.coco", description=main.__doc__)
    parser.add_argument("gt_json", help="COCO ground truth (images, annotations, categories)")
    parser.add_argument("results_json", help="COCO results list")
    parser.add_argument("--iou-type", choices=IOU_TYPES, default="bbox")
    parser.add_argument("--json", metavar="OUT", help="also write the 12 stats (and their names) to this JSON file")
    args = parser.parse_args(argv)
    result = evaluate_coco(args.gt_json, args.results_json, args.iou_type)
    stats = result["stats"].tolist()
    print(format_summary(stats))
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"iou_type": args.iou_type, "stats": stats, **dict(zip(STAT_KEYS, stats, strict=True))}, file)


if __name__ == "__main__":
    main()
