"""``python -m lightning_evalkit.coco GT RES --lvis``: LVIS evaluation, printed as lvis-api's ``print_results``.

The COCO command line (:mod:`lightning_evalkit.detection.coco_cli`) parses the arguments and hands an ``--lvis``
run to :func:`run_lvis`, with its way of reporting an input problem (one line on stderr, exit status 2).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import NoReturn

from lightning_evalkit.detection.lvis.evaluate import _evaluate, format_lvis_results
from lightning_evalkit.detection.lvis.json_io import load_lvis


def run_lvis(args: argparse.Namespace, fail: Callable[[BaseException, str], NoReturn]) -> None:
    """Evaluate ``args.gt_json`` and ``args.results_json`` as LVIS, print the results, write ``args.json``.

    Args:
        args: The parsed command line: ``gt_json``, ``results_json``, ``iou_type`` and ``json`` (None or a path).
        fail: Called with an input problem (a file that cannot be read or is wrong) and the verb ("read" or
            "write"); it reports it and exits.

    Example:
        >>> import argparse, json, os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> gt = {"images": [{"id": 1, "neg_category_ids": [], "not_exhaustive_category_ids": []}],
        ...       "categories": [{"id": 1, "frequency": "f"}], "annotations": [
        ...     {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600}]}
        >>> json.dump(gt, open(os.path.join(folder, "gt.json"), "w"))
        >>> json.dump([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.5}],
        ...           open(os.path.join(folder, "res.json"), "w"))
        >>> args = argparse.Namespace(gt_json=os.path.join(folder, "gt.json"),
        ...                           results_json=os.path.join(folder, "res.json"), iou_type="bbox", json=None)
        >>> run_lvis(args, fail=print)  # doctest: +ELLIPSIS
         Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=300 catIds=all] = 1.000
        ...
         Average Recall     (AR) @[ IoU=0.50:0.95 | area=     l | maxDets=300 catIds=all] = -1.000
    """
    try:
        preds, target, frequencies = load_lvis(args.gt_json, args.results_json, args.iou_type)
    except (OSError, ValueError, TypeError) as error:  # the loaders' checks: a problem with the input
        fail(error, "read")
    results = _evaluate(preds, target, frequencies, args.iou_type)
    print(format_lvis_results(results))
    if args.json:
        try:
            with open(args.json, "w") as file:
                json.dump({"iou_type": args.iou_type, **results}, file)
        except OSError as error:
            fail(error, "write")
