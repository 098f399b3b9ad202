"""Peak memory and time of LVIS federated bbox evaluation on a LVIS-sized synthetic set (20,000 images, 1203
categories, 300 detections each by default): LVISMeanAveragePrecision against hotcoco's LVIS mode and lvis-api
0.5.3, each in a fresh subprocess so peaks do not mix.

    python benchmarks/bench_lvis.py                                       # 20,000 images, every tool
    python benchmarks/bench_lvis.py --tools lightning_evalkit,hotcoco     # leave lvis-api out (it takes GiBs)
    python benchmarks/bench_lvis.py --images 5000                         # a quarter of the scale

The data follow LVIS v1's shape: 1203 categories (337 rare, 461 common, 405 frequent), per image a few positive
categories with one to several boxes each, negative categories, some not-exhaustive ones, and 300 detections:
jittered copies of the ground truth (mostly the right category) and noise over positive, negative and other
categories (which the federated rules ignore). The parent writes an LVIS ground-truth file and a results file;
ours regenerates the same per-image tensors in the child from the same seeds and feeds them in batches, as a
validation loop does; hotcoco (``COCOeval(..., lvis_style=True)``) and lvis-api read the files. Single-threaded
(``RAYON_NUM_THREADS=1``, one torch thread). Reported as in ``bench_detection_memory.py``: peak RSS of the
process, RSS after the imports, the rise, the evaluation's wall time, and the largest difference of the 13
LVIS values from the first tool's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator

os.environ.setdefault("RAYON_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402
from bench_detection_memory import _peak_mib, _rss_mib, run_children  # noqa: E402

CHUNK = 250
FREQUENCIES = ["r"] * 337 + ["c"] * 461 + ["f"] * 405  # LVIS v1's counts, category ids 1..1203
LVIS_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300", "ARl@300")
OUR_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "map_rare", "map_common")
OUR_KEYS += ("map_frequent", "mar_300", "mar_small", "mar_medium", "mar_large")
DETECTIONS = 300


def _image(rng: np.random.Generator, num_classes: int) -> dict:
    """One image's ground truth, federated ids and 300 detections (xywh float32, scores float32)."""
    positive = rng.choice(num_classes, 1 + rng.poisson(3), replace=False) + 1
    per_class = 1 + rng.poisson(2, positive.size)
    gt_labels = np.repeat(positive, per_class)
    n_gt = gt_labels.size
    size = np.exp(rng.uniform(np.log(6), np.log(400), (n_gt, 2)))
    gt = np.concatenate([rng.uniform(0, 1, (n_gt, 2)) * np.maximum([640, 480] - size, 1), size], 1)
    others = np.setdiff1d(rng.choice(num_classes, 16, replace=False) + 1, positive)
    negative = others[: rng.poisson(6)]
    not_exhaustive = positive[rng.random(positive.size) < 0.2]
    source = np.repeat(np.arange(n_gt), rng.integers(1, 5, n_gt))[:DETECTIONS]
    jitter = rng.normal(0, 0.08, (source.size, 4)) * np.concatenate([gt[source, 2:], gt[source, 2:]], 1)
    hits = np.concatenate([gt[source, :2] + jitter[:, :2], np.abs(gt[source, 2:] + jitter[:, 2:]) + 1], 1)
    hit_labels = np.where(rng.random(source.size) < 0.85, gt_labels[source], rng.choice(positive, source.size))
    n_noise = DETECTIONS - source.size
    noise_size = np.exp(rng.uniform(np.log(4), np.log(300), (n_noise, 2)))
    noise = np.concatenate([rng.uniform(0, 1, (n_noise, 2)) * [640, 480], noise_size], 1)
    pool = np.concatenate([positive, negative, rng.choice(num_classes, 4) + 1])
    return {
        "gt": gt.astype(np.float32),
        "gt_labels": gt_labels,
        "neg": np.sort(negative),
        "not_exhaustive": np.sort(not_exhaustive),
        "boxes": np.concatenate([hits, noise]).astype(np.float32),
        "scores": np.concatenate([rng.uniform(0.3, 1, source.size), rng.uniform(0, 0.6, n_noise)]).astype(np.float32),
        "labels": np.concatenate([hit_labels, rng.choice(pool, n_noise)]),
    }


def chunks(images: int, num_classes: int, seed: int) -> Iterator[tuple[int, list[dict]]]:
    for index, start in enumerate(range(0, images, CHUNK)):
        rng = np.random.default_rng(seed * 1_000_003 + index)
        yield start, [_image(rng, num_classes) for _ in range(min(CHUNK, images - start))]


def write_json(images: int, num_classes: int, seed: int, folder: str) -> tuple[str, str]:
    gt_file, results_file = os.path.join(folder, "lvis_gt.json"), os.path.join(folder, "lvis_results.json")
    if os.path.exists(gt_file) and os.path.exists(results_file):  # --data-dir of an earlier run
        return gt_file, results_file
    annotations, image_entries = [], []
    with open(results_file, "w") as results:
        results.write("[")
        first = True
        for start, items in chunks(images, num_classes, seed):
            for offset, item in enumerate(items):
                image_id = start + offset + 1
                image_entries.append(
                    {
                        "id": image_id,
                        "height": 480,
                        "width": 640,
                        "neg_category_ids": item["neg"].tolist(),
                        "not_exhaustive_category_ids": item["not_exhaustive"].tolist(),
                    }
                )
                for box, label in zip(item["gt"].tolist(), item["gt_labels"].tolist(), strict=True):
                    annotations.append(
                        {
                            "id": len(annotations) + 1,
                            "image_id": image_id,
                            "category_id": label,
                            "bbox": box,
                            "area": box[2] * box[3],
                        }
                    )
                rows = zip(item["boxes"].tolist(), item["scores"].tolist(), item["labels"].tolist(), strict=True)
                text = ",".join(
                    json.dumps({"image_id": image_id, "category_id": label, "bbox": box, "score": score})
                    for box, score, label in rows
                )
                results.write(("" if first else ",") + text)
                first = False
        results.write("]")
    categories = [
        {"id": c + 1, "name": f"c{c + 1}", "frequency": FREQUENCIES[c % len(FREQUENCIES)]} for c in range(num_classes)
    ]
    with open(gt_file, "w") as file:
        json.dump({"images": image_entries, "annotations": annotations, "categories": categories}, file)
    return gt_file, results_file


def child_ours(args: argparse.Namespace) -> dict:
    import torch

    sys.path.insert(0, os.path.dirname(HERE))
    from lightning_evalkit import LVISMeanAveragePrecision

    torch.set_num_threads(1)
    baseline = _rss_mib()
    frequencies = {c + 1: FREQUENCIES[c % len(FREQUENCIES)] for c in range(args.classes)}
    metric = LVISMeanAveragePrecision(box_format="xywh", category_frequencies=frequencies)
    elapsed = 0.0  # the metric's calls only, not the making of the data
    for start, items in chunks(args.images, args.classes, args.seed):
        preds = [
            {
                "boxes": torch.from_numpy(i["boxes"]),
                "scores": torch.from_numpy(i["scores"]),
                "labels": torch.from_numpy(i["labels"]),
            }
            for i in items
        ]
        target = [
            {
                "boxes": torch.from_numpy(i["gt"]),
                "labels": torch.from_numpy(i["gt_labels"]),
                "neg_category_ids": torch.from_numpy(i["neg"]),
                "not_exhaustive_category_ids": torch.from_numpy(i["not_exhaustive"]),
                "image_id": start + k + 1,
            }
            for k, i in enumerate(items)
        ]
        begin = time.perf_counter()
        for index in range(0, len(preds), args.batch):
            metric.update(preds[index : index + args.batch], target[index : index + args.batch])
        elapsed += time.perf_counter() - begin
    begin = time.perf_counter()
    result = metric.compute()
    elapsed += time.perf_counter() - begin
    return {"baseline": baseline, "time": elapsed, "stats": [float(result[key]) for key in OUR_KEYS]}


def child_hotcoco(args: argparse.Namespace) -> dict:
    import contextlib
    import io

    import hotcoco

    baseline = _rss_mib()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = hotcoco.COCO(args.gt)
        evaluator = hotcoco.COCOeval(gt, gt.load_res(args.results), "bbox", lvis_style=True)
        evaluator.run()
        results = evaluator.get_results()
    elapsed = time.perf_counter() - start
    return {"baseline": baseline, "time": elapsed, "stats": [float(results[key]) for key in LVIS_KEYS]}


def child_lvis_api(args: argparse.Namespace) -> dict:
    import contextlib
    import io
    import logging

    np.float = float  # type: ignore[attr-defined]  # lvis-api 0.5.3 under numpy 2
    from lvis import LVIS, LVISEval, LVISResults

    logging.getLogger().setLevel(logging.WARNING)
    baseline = _rss_mib()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = LVIS(args.gt)
        evaluator = LVISEval(gt, LVISResults(gt, args.results), "bbox")
        evaluator.run()
    elapsed = time.perf_counter() - start
    return {"baseline": baseline, "time": elapsed, "stats": [float(evaluator.results[key]) for key in LVIS_KEYS]}


CHILDREN = {"lightning_evalkit": child_ours, "hotcoco": child_hotcoco, "lvis-api": child_lvis_api}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--classes", type=int, default=1203)
    parser.add_argument("--batch", type=int, default=16, help="images per update() call (ours)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tools", default="lightning_evalkit,hotcoco,lvis-api")
    parser.add_argument("--data-dir", help="keep the JSON files here; reuse them when present")
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--gt", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report = CHILDREN[args.child](args)
        report["peak"] = _peak_mib()
        print(json.dumps(report))
        return
    run_children(args, __file__, write_json, "13 LVIS values")


if __name__ == "__main__":
    main()
