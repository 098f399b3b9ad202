"""COCO JSON evaluation from the command line, printing pycocotools' 12-line summary in its format::

    python -m lightning_evalkit.coco GT.json RESULTS.json --iou-type bbox|segm [--json stats.json]

``--json`` also writes the 12 stats. The loader and the conversions (``load_coco``, ``coco_to_tm``,
``tm_to_coco``) live in :mod:`lightning_evalkit.detection.coco.json_io` and are re-exported here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import torch

from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.coco.json_io import IOU_TYPES, STAT_KEYS, coco_to_tm, load_coco, tm_to_coco
from lightning_evalkit.detection.coco.match import CocoRecords
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import (
    DEFAULT_IOU_THRESHOLDS,
    DEFAULT_MAX_DETECTIONS,
    DEFAULT_REC_THRESHOLDS,
    _accumulate,
    _coco_summary,
    _map_update,
)

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


@single_threaded
def evaluate_coco(gt_json: Any, results_json: Any, iou_type: str = "bbox", images_per_update: int = 1000) -> dict:
    """pycocotools' evaluation of a COCO ground truth and results (paths or parsed), with our metric's code.

    The images are matched ``images_per_update`` at a time (the functional ``_update`` of
    :class:`~lightning_evalkit.MeanAveragePrecision`) and accumulated once. Returns pycocotools' ``precision``
    (T, R, K, A, M), ``recall`` (T, K, A, M) and ``scores`` arrays, the ``classes``, the 12 stats by name, and
    ``stats``, the 12 in pycocotools' order; everything in float64.
    """
    preds, target = load_coco(gt_json, results_json, iou_type)
    types, max_dets = (iou_type,), list(DEFAULT_MAX_DETECTIONS)
    parts = []
    for start in range(0, max(len(preds), 1), images_per_update):
        chunk = (preds[start : start + images_per_update], target[start : start + images_per_update])
        batch = parse_detection_inputs(*chunk, "xywh", types)
        parts.append(_map_update(batch, types, DEFAULT_IOU_THRESHOLDS, max_dets, "macro", False))
    records = CocoRecords(*(torch.cat([part[name] for part in parts]) for name in CocoRecords._fields))
    classes, precision, recall, scores = _accumulate(records, DEFAULT_REC_THRESHOLDS, max_dets, micro=False)
    summary = _coco_summary(precision, recall, DEFAULT_IOU_THRESHOLDS, max_dets)
    result = {"precision": precision, "recall": recall, "scores": scores, "classes": classes, **summary}
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
