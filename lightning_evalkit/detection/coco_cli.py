"""The COCO command line (``python -m lightning_evalkit.coco``): evaluate two files, print pycocotools' summary.

A problem with the input (a missing file, a file that is not JSON, a record with a missing or wrong field) is one
line on stderr naming the file, the record and the field, and exit status 2, as for a wrong argument; only a bug
in our code shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from lightning_evalkit.detection.coco.json_io import IOU_TYPES, STAT_KEYS, load_coco
from lightning_evalkit.detection.coco_evaluate import _evaluate, format_summary
from lightning_evalkit.detection.lvis.cli import run_lvis


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
    parser.add_argument("--lvis", action="store_true", help="evaluate as LVIS (federated, lvis-api 0.5.3's results)")
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
            [--json OUT] [--lvis]``; ``--lvis`` evaluates LVIS files and prints lvis-api's results instead.

    Raises:
        SystemExit: Status 2, after one line on stderr, for a wrong argument or a problem with the input files
            (unreadable, not JSON, a record with a missing or wrong field: named with its file and record).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.lvis:  # LVIS: lightning_evalkit.detection.lvis.cli
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            run_lvis(args, lambda error, verb: parser.exit(2, f"{parser.prog}: error: {_one_line(error, verb)}\n"))
        return
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
