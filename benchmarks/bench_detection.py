"""Benchmark the whole COCO bbox evaluation (every update + compute): lightning_evalkit vs hotcoco,
ultrafast-pycocotools, vernier, faster-coco-eval and pycocotools (and torchmetrics where torchvision imports), in
one process on the same synthetic data.

Every tool runs single-threaded: hotcoco, ultrafast-pycocotools and vernier are Rust with rayon pools, held to one
thread by ``RAYON_NUM_THREADS=1`` set before they are imported (vernier also gets ``num_threads=1`` where its
API takes it); torch gets ``--threads`` (1 by default). A peer that is not installed is skipped with a line.

    python benchmarks/bench_detection.py                 # 5000 images, 80 classes, ~7 gt / ~100 dets each
    python benchmarks/bench_detection.py --images 10000  # twice the data: the time should double
    python benchmarks/bench_detection.py --images 500    # quick run
    python benchmarks/bench_detection.py --json          # end to end from COCO JSON files on disk
    python benchmarks/bench_detection.py --background-load 1   # with one busy process on the CPU
    python benchmarks/bench_detection.py --images 500 --per-call 16  # also one update() + compute() of 16 images
    python benchmarks/bench_detection.py --floor         # also the lower bound: concatenate, sort, same-class IoU

Each tool starts from its natural input: ours and torchmetrics from per-image tensor dicts fed in batches of
``--batch`` images (as a validation loop does); the COCO tools from in-memory COCO-format dicts (building
their index, loadRes, evaluate, accumulate and summarize are all timed). Peak memory is the rise of the
process's resident set size over its level when the tool started, sampled every 2 ms (it covers torch, C++
and Python allocations). Torch keeps its default thread count unless ``--threads`` is given (the metric runs its
own work on one intra-op thread; the COCO tools are single-threaded).

``--json`` times the whole evaluation from a ground-truth file and a results file written to a temporary folder:
ours is ``lightning_evalkit.coco.evaluate_coco`` (JSON loading, tensors, update, compute), faster-coco-eval and
pycocotools are ``COCO(gt)`` + ``loadRes(results)`` + evaluate + accumulate + summarize.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before any Rust peer is imported: single-threaded pools

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from anywhere
from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit.coco import evaluate_coco

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import add_common_arguments, background_load, describe_load, resolve_device
from _peak_memory import PeakRss

KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large"]
KEYS += ["mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]


def make_data(num_images: int, num_classes: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Synthetic detector output: ~7 gt per 640x480 image (3% crowd, sizes spanning small to large), ~100
    detections: a few jittered copies of each object (mostly the right class) and low-score noise."""
    rng = np.random.default_rng(seed)
    preds, target = [], []
    for _ in range(num_images):
        n_gt = rng.poisson(7)
        size = np.exp(rng.uniform(np.log(8), np.log(400), (n_gt, 2)))
        xy = rng.uniform(0, 1, (n_gt, 2)) * np.maximum([640, 480] - size, 1)
        gt = np.concatenate([xy, size], 1)
        gt_labels = rng.integers(0, num_classes, n_gt)
        copies = rng.integers(1, 6, n_gt)
        source = np.repeat(np.arange(n_gt), copies)
        jitter = rng.normal(0, 0.08, (len(source), 4)) * np.concatenate([gt[source, 2:], gt[source, 2:]], 1)
        hits = np.concatenate([gt[source, :2] + jitter[:, :2], np.abs(gt[source, 2:] + jitter[:, 2:])], 1)
        hit_labels = np.where(
            rng.random(len(source)) < 0.85, gt_labels[source], rng.integers(0, num_classes, len(source))
        )
        n_noise = max(100 - len(source), 0)
        noise_size = np.exp(rng.uniform(np.log(4), np.log(300), (n_noise, 2)))
        noise = np.concatenate([rng.uniform(0, 1, (n_noise, 2)) * [640, 480], noise_size], 1)
        boxes = np.concatenate([hits, noise])
        scores = np.concatenate([rng.uniform(0.3, 1.0, len(source)), rng.uniform(0.0, 0.6, n_noise)])
        labels = np.concatenate([hit_labels, rng.integers(0, num_classes, n_noise)])
        preds.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32),
                "scores": torch.tensor(scores, dtype=torch.float32),
                "labels": torch.tensor(labels),
            }
        )
        target.append(
            {
                "boxes": torch.tensor(gt, dtype=torch.float32),
                "labels": torch.tensor(gt_labels),
                "iscrowd": torch.tensor(rng.random(n_gt) < 0.03, dtype=torch.long),
            }
        )
    return preds, target


def to_coco(preds: list[dict], target: list[dict], num_classes: int) -> tuple[dict, list[dict]]:
    """COCO-format dicts holding exactly the same float32 values."""
    images = [{"id": i + 1, "height": 480, "width": 640} for i in range(len(target))]
    anns, results = [], []
    for i, (pred, gt) in enumerate(zip(preds, target, strict=True), start=1):
        for box, label, crowd in zip(gt["boxes"].tolist(), gt["labels"].tolist(), gt["iscrowd"].tolist(), strict=True):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": label,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": crowd,
                }
            )
        for box, score, label in zip(
            pred["boxes"].tolist(), pred["scores"].tolist(), pred["labels"].tolist(), strict=True
        ):
            results.append({"image_id": i, "category_id": label, "bbox": box, "score": score})
    categories = [{"id": c, "name": str(c)} for c in range(num_classes)]
    return {"images": images, "annotations": anns, "categories": categories}, results


def _on_device(images: list[dict], device: torch.device) -> list[dict]:
    """The images' tensors on ``device``: as they are when already there (the data is made on the CPU), as a
    validation loop's outputs already are; else moved, one batch at a time."""
    if device.type == "cpu":
        return images
    return [{k: v.to(device) for k, v in image.items()} for image in images]


def run_ours(preds: list[dict], target: list[dict], batch: int, device: torch.device) -> list[float]:
    metric = MeanAveragePrecision(box_format="xywh").to(device)
    for start in range(0, len(preds), batch):
        chunk_preds = _on_device(preds[start : start + batch], device)
        chunk_target = _on_device(target[start : start + batch], device)
        metric.update(chunk_preds, chunk_target)
    result = metric.compute()
    return [float(result[key]) for key in KEYS]


def run_torchmetrics(preds: list[dict], target: list[dict], batch: int) -> list[float]:
    from torchmetrics.detection import MeanAveragePrecision as TorchmetricsMAP

    metric = TorchmetricsMAP(box_format="xywh", backend="faster_coco_eval")
    for start in range(0, len(preds), batch):
        metric.update(preds[start : start + batch], target[start : start + batch])
    result = metric.compute()
    return [float(result[key]) for key in KEYS]


def run_ours_json(gt_file: str, results_file: str) -> list[float]:
    return evaluate_coco(gt_file, results_file, "bbox")["stats"].tolist()


def _run_coco(coco_cls: Any, eval_cls: Any, gt: dict | str, results: list[dict] | str) -> list[float]:
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, str):  # a file: the tool reads it
            coco_gt = coco_cls(gt)
        else:
            coco_gt = coco_cls()
            coco_gt.dataset = gt
            coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = eval_cls(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats[:12]]


def run_faster_coco_eval(gt: dict | str, results: list[dict] | str) -> list[float]:
    from faster_coco_eval import COCO, COCOeval_faster

    return _run_coco(COCO, COCOeval_faster, gt, results)


def run_pycocotools(gt: dict | str, results: list[dict] | str) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    return _run_coco(COCO, COCOeval, gt, results)


def run_ultrafast(gt: dict | str, results: list[dict] | str) -> list[float]:
    from ultrafast_pycocotools import COCO, COCOeval

    return _run_coco(COCO, COCOeval, gt, results)


def run_hotcoco(gt: dict | str, results: list[dict] | str, iou_type: str = "bbox") -> list[float]:
    """hotcoco's own COCO (built from the dict or file), load_res, evaluate, accumulate, summarize."""
    import hotcoco

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = hotcoco.COCO(gt)
        evaluator = hotcoco.COCOeval(coco_gt, coco_gt.load_res(results), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats[:12]]


def run_vernier(gt: dict | str, results: list[dict] | str, iou_type: str = "bbox") -> list[float]:
    """vernier's pycocotools shim (``vernier.COCOeval``, parity_mode="strict") on pycocotools' COCO objects
    (segm: the numpy boxes pycocotools' loadRes derives from masks are made lists, which vernier requires)."""
    from pycocotools.coco import COCO
    from vernier import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, str):
            coco_gt = COCO(gt)
        else:
            coco_gt = COCO()
            coco_gt.dataset = gt
            coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        for ann in coco_dt.dataset["annotations"]:
            if isinstance(ann.get("bbox"), np.ndarray):
                ann["bbox"] = ann["bbox"].tolist()
        evaluator = COCOeval(coco_gt, coco_dt, iou_type, parity_mode="strict")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats[:12]]


PEERS: dict[str, Callable[..., list[float]]] = {
    "hotcoco": run_hotcoco,
    "ultrafast-pycocotools": run_ultrafast,
    "vernier": run_vernier,
    "faster-coco-eval": run_faster_coco_eval,
}


def _installed(name: str) -> bool:
    module = {"ultrafast-pycocotools": "ultrafast_pycocotools", "faster-coco-eval": "faster_coco_eval"}.get(name, name)
    try:
        __import__(module)
    except ImportError:
        print(f"{name}: skipped (not installed)")
        return False
    return True


REPEATS = 1


def _time(fn: Callable[[], list[float]]) -> tuple[float, float, list[float]]:
    """(seconds, peak RSS rise, stats): the first run samples memory; with ``--repeats`` > 1 the time is the best
    of that many further runs without the sampler (its thread wakes every millisecond and takes the GIL)."""
    with PeakRss() as memory:
        start = time.perf_counter()
        stats = fn()
        elapsed = time.perf_counter() - start
    if REPEATS > 1:
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        elapsed = min(times)
    return elapsed, memory.rise_mib, stats


def _run_all(args: argparse.Namespace, preds: list, target: list, gt: dict, results: list) -> dict:
    device = resolve_device(args.device)
    runs: dict[str, tuple[float, float, list[float]]] = {}
    if args.json:
        folder = tempfile.mkdtemp()
        gt_file, results_file = os.path.join(folder, "gt.json"), os.path.join(folder, "results.json")
        for path, content in ((gt_file, gt), (results_file, results)):
            with open(path, "w") as file:
                json.dump(content, file)
        runs["lightning_evalkit"] = _time(lambda: run_ours_json(gt_file, results_file))
        for name, peer in PEERS.items():
            if name in args.peers and _installed(name):
                runs[name] = _time(lambda peer=peer: peer(gt_file, results_file))
        if not args.skip_pycocotools:
            runs["pycocotools"] = _time(lambda: run_pycocotools(gt_file, results_file))
        return runs
    runs["lightning_evalkit"] = _time(lambda: run_ours(preds, target, args.batch, device))
    for name, peer in PEERS.items():
        if name in args.peers and _installed(name):
            runs[name] = _time(lambda peer=peer: peer(gt, results))
    if not args.skip_pycocotools:
        runs["pycocotools"] = _time(lambda: run_pycocotools(gt, results))
    if "torchmetrics" not in args.peers:
        return runs
    try:
        import torchvision  # noqa: F401
    except ImportError:
        print("torchmetrics MeanAveragePrecision: skipped (it needs torchvision, which does not import here)\n")
    else:
        runs["torchmetrics"] = _time(lambda: run_torchmetrics(preds, target, args.batch))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--batch", type=int, default=32, help="images per update() call")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: as the peers)")
    parser.add_argument(
        "--peers",
        default="hotcoco,ultrafast-pycocotools,vernier,faster-coco-eval,torchmetrics",
        help="comma-separated peers to run (pycocotools is the reference unless --skip-pycocotools)",
    )
    parser.add_argument("--json", action="store_true", help="end to end from COCO JSON files (see above)")
    parser.add_argument("--skip-pycocotools", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=1, help="time each tool this many more times, best reported (see _time)"
    )
    parser.add_argument(
        "--per-call", type=int, default=0, metavar="N", help="also time one update() of N images and its compute()"
    )
    parser.add_argument("--floor", action="store_true", help="also time the lower bound (see run_floor)")
    add_common_arguments(parser)
    args = parser.parse_args()
    global REPEATS
    REPEATS = args.repeats
    args.peers = set(args.peers.split(","))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    preds, target = make_data(args.images, args.classes, args.seed)
    gt, results = to_coco(preds, target, args.classes)
    print(
        f"{args.images} images, {args.classes} classes, {sum(len(t['labels']) for t in target)} gt "
        f"({sum(int(t['iscrowd'].sum()) for t in target)} crowd), {len(results)} detections, "
        f"{'from JSON files' if args.json else f'{args.batch} images per update'}, torch threads "
        f"{torch.get_num_threads()}, RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}, device {args.device}, "
        f"{describe_load(args.background_load)}"
        + (f", time: best of {args.repeats} runs after the memory run" if args.repeats > 1 else "")
        + "\n"
    )
    with background_load(args.background_load):
        runs = _run_all(args, preds, target, gt, results)
    ours_time, _, ours_stats = runs["lightning_evalkit"]
    reference_name = "pycocotools" if "pycocotools" in runs else "lightning_evalkit"
    reference = runs[reference_name][2]
    print(f"| tool | time (s) | time / ours | peak RSS rise (MiB) | max abs diff of 12 stats vs {reference_name} |")
    print("|---|---:|---:|---:|---:|")
    for name, (elapsed, memory, stats) in runs.items():
        diff = max(abs(a - b) for a, b in zip(stats, reference, strict=True))
        print(f"| {name} | {elapsed:.3f} | {elapsed / ours_time:.2f}x | {memory:.0f} | {diff:.1e} |")
    print("\nstats (ours):", " ".join(f"{key}={value:.4f}" for key, value in zip(KEYS, ours_stats, strict=True)))
    if args.per_call:
        _per_call(args, preds, target)
    if args.floor:
        floor = min(run_floor(preds, target) for _ in range(max(args.repeats, 1)))
        print(
            f"\nfloor (concatenate, one sort, same-class IoU; plain torch, best of {max(args.repeats, 1)}): "
            f"{floor:.3f} s; ours / floor = {ours_time / floor:.2f}x"
        )


def run_floor(preds: list[dict], target: list[dict]) -> float:
    """The lower bound any evaluation of these images pays, in plain torch (not our code): concatenating the
    per-image tensors, one sort of all scores, and the IoU of every same-(image, class) pair (pycocotools' float
    operations). Returns the seconds it took."""
    start = time.perf_counter()
    det_boxes, gt_boxes = (torch.cat([item["boxes"] for item in items]).double() for items in (preds, target))
    det_labels, gt_labels = (torch.cat([item["labels"] for item in items]) for items in (preds, target))
    scores = torch.cat([p["scores"] for p in preds])
    det_image, gt_image = (
        torch.repeat_interleave(torch.arange(len(items)), torch.tensor([len(item["labels"]) for item in items]))
        for items in (preds, target)
    )
    torch.sort(scores, descending=True, stable=True)
    num_classes = int(torch.cat([det_labels, gt_labels]).max()) + 1
    det_group, gt_group = det_image * num_classes + det_labels, gt_image * num_classes + gt_labels
    gt_order = torch.sort(gt_group, stable=True).indices
    sorted_groups = gt_group[gt_order]
    first = torch.searchsorted(sorted_groups, det_group)
    counts = torch.searchsorted(sorted_groups, det_group, right=True) - first
    pair_det = torch.repeat_interleave(torch.arange(det_group.numel()), counts)
    within = torch.arange(pair_det.numel()) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    pair_gt = gt_order[first[pair_det] + within]
    a, b = det_boxes[pair_det], gt_boxes[pair_gt]  # xywh
    width = torch.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])
    height = torch.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])
    overlap = width.clamp(min=0) * height.clamp(min=0)
    _ = overlap / ((a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3]) - overlap)
    return time.perf_counter() - start


def _per_call(args: argparse.Namespace, preds: list, target: list, rounds: int = 200) -> None:
    """What one ``update()`` of ``--per-call`` images and the ``compute()`` after it cost (a fresh metric each
    round, best of ``rounds``), beside each installed peer's whole evaluation of the same images."""
    count = args.per_call
    few_preds, few_target = preds[:count], target[:count]
    update_times, compute_times = [], []
    for _ in range(rounds):
        metric = MeanAveragePrecision(box_format="xywh")
        start = time.perf_counter()
        metric.update(few_preds, few_target)
        middle = time.perf_counter()
        metric.compute()
        compute_times.append(time.perf_counter() - middle)
        update_times.append(middle - start)
    print(
        f"\n{count} images, best of {rounds}: one update() {min(update_times) * 1e3:.2f} ms, then compute() "
        f"{min(compute_times) * 1e3:.2f} ms (the matching of images waiting in the metric included)"
    )
    gt, results = to_coco(few_preds, few_target, args.classes)
    for name, peer in PEERS.items():
        if name in args.peers and _installed(name):
            best = min(_timed(lambda peer=peer: peer(gt, results)) for _ in range(rounds // 4))
            print(
                f"{name}, the whole evaluation of the same {count} images, best of {rounds // 4}: {best * 1e3:.2f} ms"
            )


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
