"""Peak memory and time of a large bbox evaluation (Objects365-like by default: 50,000 images x ~100
detections, 365 classes): lightning_evalkit against hotcoco, each in a fresh subprocess so peaks do not mix.

    python benchmarks/bench_detection_memory.py                           # 50,000 images, 365 classes
    python benchmarks/bench_detection_memory.py --images 5000 --classes 80

The parent writes the synthetic data once, as COCO JSON files (ground truth and results) in a temporary folder.
Each tool then runs alone in a new Python process, single-threaded (``RAYON_NUM_THREADS=1``, one torch thread):

- lightning_evalkit: ``MeanAveragePrecision`` fed per-image tensors in batches of ``--batch`` images, as a
  validation loop does; the batches are regenerated in the child from the same seeds (the same float32 values
  the JSON files hold), so the process never holds the whole data set, as a training process does not;
- hotcoco: ``COCO(gt file)``, ``load_res(results file)`` (parsed in Rust: its lightest input), evaluate,
  accumulate, summarize.

Reported per tool: the process's peak resident set size (``ru_maxrss``: everything, imports included), its
resident size after the imports (the baseline), the rise between them, the wall time of the evaluation (ours: its
update and compute calls), and the largest difference of the 12 stats from the first tool's. ``--data-dir``
keeps the files there and reuses them when they exist (same arguments).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

os.environ.setdefault("RAYON_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 500  # images generated at a time (each chunk from its own seed)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def chunks(images: int, classes: int, seed: int) -> Iterator[tuple[int, list, list]]:
    """(first image index, preds, target) of ``CHUNK`` images at a time, each chunk from its own seed."""
    sys.path.insert(0, HERE)
    from bench_detection import make_data

    for index, start in enumerate(range(0, images, CHUNK)):
        preds, target = make_data(min(CHUNK, images - start), classes, seed * 1_000_003 + index)
        yield start, preds, target


def write_json(images: int, classes: int, seed: int, folder: str) -> tuple[str, str]:
    """The ground truth and results files of the data set (image ids from 1, float32 values written exactly)."""
    gt_file, results_file = os.path.join(folder, "gt.json"), os.path.join(folder, "results.json")
    if os.path.exists(gt_file) and os.path.exists(results_file):  # --data-dir of an earlier run
        return gt_file, results_file
    annotations = []
    with open(results_file, "w") as results:
        results.write("[")
        first = True
        for start, preds, target in chunks(images, classes, seed):
            for offset, (pred, gt) in enumerate(zip(preds, target, strict=True)):
                image_id = start + offset + 1
                for box, label, crowd in zip(
                    gt["boxes"].tolist(), gt["labels"].tolist(), gt["iscrowd"].tolist(), strict=True
                ):
                    annotations.append(
                        {
                            "id": len(annotations) + 1,
                            "image_id": image_id,
                            "category_id": label,
                            "bbox": box,
                            "area": box[2] * box[3],
                            "iscrowd": crowd,
                        }
                    )
                rows = zip(pred["boxes"].tolist(), pred["scores"].tolist(), pred["labels"].tolist(), strict=True)
                for box, score, label in rows:
                    entry = {"image_id": image_id, "category_id": label, "bbox": box, "score": score}
                    results.write(("" if first else ",") + json.dumps(entry))
                    first = False
        results.write("]")
    dataset = {
        "images": [{"id": i + 1, "height": 480, "width": 640} for i in range(images)],
        "annotations": annotations,
        "categories": [{"id": c, "name": str(c)} for c in range(classes)],
    }
    with open(gt_file, "w") as file:
        json.dump(dataset, file)
    return gt_file, results_file


def child_ours(args: argparse.Namespace) -> dict:
    import torch

    sys.path.insert(0, os.path.dirname(HERE))
    from lightning_evalkit import MeanAveragePrecision

    torch.set_num_threads(1)
    baseline = _rss_mib()
    metric = MeanAveragePrecision(box_format="xywh")
    metric.warn_on_many_detections = False
    elapsed = 0.0  # the metric's calls only, not the making of the data
    for _, preds, target in chunks(args.images, args.classes, args.seed):  # images in id order, as in the files
        start = time.perf_counter()
        for index in range(0, len(preds), args.batch):
            metric.update(preds[index : index + args.batch], target[index : index + args.batch])
        elapsed += time.perf_counter() - start
    start = time.perf_counter()
    result = metric.compute()
    elapsed += time.perf_counter() - start
    keys = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large"]
    keys += ["mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]
    return {"baseline": baseline, "time": elapsed, "stats": [float(result[key]) for key in keys]}


def child_hotcoco(args: argparse.Namespace) -> dict:
    import contextlib
    import io

    import hotcoco

    baseline = _rss_mib()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = hotcoco.COCO(args.gt)
        evaluator = hotcoco.COCOeval(coco_gt, coco_gt.load_res(args.results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    elapsed = time.perf_counter() - start
    return {"baseline": baseline, "time": elapsed, "stats": [float(v) for v in evaluator.stats[:12]]}


CHILDREN = {"lightning_evalkit": child_ours, "hotcoco": child_hotcoco}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--classes", type=int, default=365)
    parser.add_argument("--batch", type=int, default=32, help="images per update() call (ours)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tools", default="lightning_evalkit,hotcoco")
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
    run_children(args, __file__, write_json, "12 stats")


def run_children(args: argparse.Namespace, script: str, write: Callable, what: str) -> None:
    """Write the data set with ``write``, run each of ``args.tools`` as ``script --child TOOL`` in a fresh process,
    and print the table."""
    tools = args.tools.split(",")
    reports = {}
    with contextlib.ExitStack() as stack:
        folder = args.data_dir or stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(folder, exist_ok=True)
        start = time.perf_counter()
        gt_file, results_file = write(args.images, args.classes, args.seed, folder)
        size = os.path.getsize(results_file) / 2**20
        print(
            f"{args.images} images, {args.classes} classes, results file {size:.0f} MiB (written in "
            f"{time.perf_counter() - start:.0f} s); each tool in a fresh process, single-threaded\n"
        )
        for tool in tools:
            command = [sys.executable, os.path.abspath(script), "--child", tool, "--gt", gt_file]
            command += ["--results", results_file, "--images", str(args.images), "--classes", str(args.classes)]
            command += ["--batch", str(args.batch), "--seed", str(args.seed)]
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"{tool}: failed (exit {out.returncode})\n{out.stderr[-2000:]}")
                continue
            reports[tool] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"| tool | peak RSS (MiB) | RSS after imports (MiB) | rise (MiB) | time (s) | max abs diff of {what} |")
    print("|---|---:|---:|---:|---:|---:|")
    first = next(iter(reports.values()))["stats"] if reports else []
    for tool, report in reports.items():
        diff = max(abs(a - b) for a, b in zip(report["stats"], first, strict=True))
        print(
            f"| {tool} | {report['peak']:.0f} | {report['baseline']:.0f} | {report['peak'] - report['baseline']:.0f} "
            f"| {report['time']:.2f} | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
