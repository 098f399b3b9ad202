"""COCO JSON evaluation from the command line, printing pycocotools' 12-line summary in its format::

    python -m lightning_evalkit.coco GT.json RESULTS.json --iou-type bbox|segm [--json stats.json]

``--json`` also writes the 12 stats. A problem with the input (a missing file, a file that is not JSON, a record
with a missing or wrong field) is one line on stderr naming the file, the record and the field, and exit status
2, as for a wrong argument. The loader and the conversions (``load_coco``, ``coco_to_tm``, ``tm_to_coco``) live
in :mod:`lightning_evalkit.detection.coco.json_io` and are re-exported here.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

import torch
from torch import Tensor

from lightning_evalkit._core.threads import single_threaded
from lightning_evalkit.detection.coco.json_io import IOU_TYPES, STAT_KEYS, coco_to_tm, load_coco, tm_to_coco
from lightning_evalkit.detection.coco.match import CocoRecords
from lightning_evalkit.detection.coco.pairs import candidate_pairs
from lightning_evalkit.detection.inputs.batch import DetectionBatch
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import (
    AREA_RANGES,
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
    ``stats``, the 12 in pycocotools' order; everything in float64. Input problems raise as in :func:`load_coco`.

    Example:
        >>> gt = {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [
        ...     {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0}]}
        >>> result = evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.5}])
        >>> round(float(result["map"]), 6), round(float(result["map_medium"]), 6)
        (1.0, -1.0)
    """
    return _evaluate(*load_coco(gt_json, results_json, iou_type), iou_type, images_per_update)


@single_threaded
def _evaluate(preds: list[dict], target: list[dict], iou_type: str, images_per_update: int = 1000) -> dict:
    """:func:`evaluate_coco` on loaded ``preds`` and ``target`` (see :func:`_ranged_by_given_area` for a
    detection ``area`` in ``preds``)."""
    types, max_dets = (iou_type,), list(DEFAULT_MAX_DETECTIONS)
    parts = []
    for start in range(0, max(len(preds), 1), images_per_update):
        chunk = (preds[start : start + images_per_update], target[start : start + images_per_update])
        batch = parse_detection_inputs(*chunk, "xywh", types)
        states = _map_update(batch, types, DEFAULT_IOU_THRESHOLDS, max_dets, "macro", False)
        part = CocoRecords(*(states[name] for name in CocoRecords._fields))
        if chunk[0] and "area" in chunk[0][0]:
            part = _ranged_by_given_area(batch, part, torch.cat([item["area"] for item in chunk[0]]), max_dets[-1])
        parts.append(part)
    records = CocoRecords(*(torch.cat([getattr(part, name) for part in parts]) for name in CocoRecords._fields))
    classes, precision, recall, scores = _accumulate(records, DEFAULT_REC_THRESHOLDS, max_dets, micro=False)
    summary = _coco_summary(precision, recall, DEFAULT_IOU_THRESHOLDS, max_dets)
    result = {"precision": precision, "recall": recall, "scores": scores, "classes": classes, **summary}
    result["stats"] = torch.stack([summary[key].double() for key in STAT_KEYS])
    return result


def _ranged_by_given_area(batch: DetectionBatch, records: CocoRecords, areas: Tensor, max_det: int) -> CocoRecords:
    """Records whose unmatched detections are ignored by ``areas`` (not their box areas) falling outside a range.

    pycocotools' ``loadRes`` gives segm results the area of their mask, and ``COCOeval.evaluateImg`` decides
    with it whether an unmatched detection lies outside an area range, also when it evaluates their boxes; the
    IoU still takes the boxes' own areas. A matched detection keeps its ground truth's flag.
    """
    order = candidate_pairs(batch, max_det).det_order  # the records' order, as coco_match makes it
    ranges = torch.tensor(AREA_RANGES, dtype=torch.float64)
    ranged = areas[order, None]
    outside = (ranged < ranges[None, :, 0]) | (ranged > ranges[None, :, 1])  # (N, A), bounds inclusive
    ignored = torch.where(records.det_matched, records.det_ignored, outside[:, None, :])
    return records._replace(det_ignored=ignored)


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


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block), as the input errors are."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m lightning_evalkit.coco",
        description="Evaluate COCO detection results against a COCO ground truth exactly as pycocotools' COCOeval "
        "does, and print its 12-line summary. Input errors are one line on stderr and exit status 2.",
    )
    parser.add_argument("gt_json", help="COCO ground truth (images, annotations, categories)")
    parser.add_argument("results_json", help="COCO results list")
    parser.add_argument("--iou-type", choices=IOU_TYPES, default="bbox", help="what to match (default: bbox)")
    parser.add_argument("--json", metavar="OUT", help="also write the 12 stats (and their names) to this JSON file")
    return parser


def _one_line(error: BaseException, verb: str = "read") -> str:
    """The error as one line: an OSError as "cannot read PATH: reason", anything else its message."""
    if isinstance(error, OSError) and error.filename is not None:
        text = f"cannot {verb} {error.filename}: {error.strerror or error}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """``warnings.showwarning`` for the command line: one line, as the errors."""
    print(f"python -m lightning_evalkit.coco: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: evaluate, print pycocotools' summary, optionally write the stats as JSON.

    Args:
        argv: The arguments (``sys.argv[1:]`` when None): ``GT.json RESULTS.json [--iou-type bbox|segm]
            [--json OUT]``.

    Raises:
        SystemExit: Status 2, after one line on stderr, for a wrong argument or a problem with the input files
            (unreadable, not JSON, a record with a missing or wrong field: named with its file and record).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # one line each, like the errors
        try:
            preds, target = load_coco(args.gt_json, args.results_json, args.iou_type)
        except (OSError, ValueError, TypeError) as error:  # the loader's checks: a problem with the input
            parser.exit(2, f"{parser.prog}: error: {_one_line(error)}\n")
        result = _evaluate(preds, target, args.iou_type)
    stats = result["stats"].tolist()
    print(format_summary(stats))
    if args.json:
        try:
            with open(args.json, "w") as file:
                json.dump({"iou_type": args.iou_type, "stats": stats, **dict(zip(STAT_KEYS, stats, strict=True))}, file)
        except OSError as error:
            parser.exit(2, f"{parser.prog}: error: {_one_line(error, 'write')}\n")


if __name__ == "__main__":
    main()
