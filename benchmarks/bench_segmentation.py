"""Benchmark COCO segm mAP (every update + compute): lightning_evalkit vs hotcoco, ultrafast-pycocotools,
vernier, faster-coco-eval and pycocotools, in one process on the same synthetic instance masks.

    python benchmarks/bench_segmentation.py                  # 200 images of 480x640
    python benchmarks/bench_segmentation.py --images 20      # quick run
    python benchmarks/bench_segmentation.py --background-load 1

The data imitate COCO instance segmentation: per image Poisson(7) ground-truth ellipses of 8-300 px (1% crowd),
50-100 detections (a few jittered copies of each object, mostly of its class, then noise), 80 classes. The masks
are generated up front; then each tool starts from what a user holds:

- lightning_evalkit, masks in hand: per-image bool tensors fed in batches of ``--batch`` images;
- lightning_evalkit, RLE in hand: the same masks as COCO RLE dicts (pycocotools ``mask.encode`` output);
- faster-coco-eval, RLE in hand: COCO-format dicts with those RLEs (index, loadRes, evaluate, accumulate,
  summarize timed);
- faster-coco-eval + encode: the bool masks encoded with pycocotools ``mask.encode`` inside the timing, then as
  above;
- hotcoco, ultrafast-pycocotools, vernier (its pycocotools shim, parity_mode="strict", on pycocotools' COCO):
  RLE in hand, as faster-coco-eval;
- hotcoco + encode: the bool masks encoded with ``hotcoco.mask.encode`` (and its area and bbox for the ground
  truths) inside the timing, then hotcoco's evaluation: what hotcoco costs with dense masks in hand;
- pycocotools, RLE in hand.

Every tool is single-threaded: the Rust peers' rayon pools by ``RAYON_NUM_THREADS=1``, set before they are
imported; torch by ``--threads``. A peer that is not installed is skipped with a line.

Peak memory is the rise of the process's resident set size over its level when the tool started (sampled every
millisecond). Torch runs on ``--threads`` intra-op threads (1 by default: the COCO tools are single-threaded).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before any Rust peer is imported: single-threaded pools

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from anywhere
from lightning_evalkit import MeanAveragePrecision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import add_common_arguments, background_load, describe_load, resolve_device
from _peak_memory import PeakRss
from bench_detection import _installed, run_hotcoco, run_vernier

KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large"]
KEYS += ["mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]
HEIGHT, WIDTH = 480, 640


def _ellipses(boxes: np.ndarray) -> torch.Tensor:
    """(N, H, W) bool masks: the ellipse inscribed in each xywh box, clipped to the image."""
    masks = torch.zeros(len(boxes), HEIGHT, WIDTH, dtype=torch.bool)
    for index, (x, y, w, h) in enumerate(boxes):
        x0, y0 = max(int(x), 0), max(int(y), 0)
        x1, y1 = min(int(np.ceil(x + w)), WIDTH), min(int(np.ceil(y + h)), HEIGHT)
        if x1 <= x0 or y1 <= y0:
            continue
        cols = (np.arange(x0, x1) + 0.5 - (x + w / 2)) / max(w / 2, 0.5)
        rows = (np.arange(y0, y1) + 0.5 - (y + h / 2)) / max(h / 2, 0.5)
        inside = rows[:, None] ** 2 + cols[None, :] ** 2 <= 1.0
        masks[index, y0:y1, x0:x1] = torch.from_numpy(inside)
    return masks


def make_data(num_images: int, num_classes: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Synthetic instance segmentation output: per-image dicts with bool masks (see the module docstring)."""
    rng = np.random.default_rng(seed)
    preds, target = [], []
    for _ in range(num_images):
        n_gt = rng.poisson(7)
        size = np.exp(rng.uniform(np.log(8), np.log(300), (n_gt, 2)))
        gt = np.concatenate([rng.uniform(0, 1, (n_gt, 2)) * np.maximum([WIDTH, HEIGHT] - size, 1), size], 1)
        gt_labels = rng.integers(0, num_classes, n_gt)
        n_det = int(rng.integers(50, 101))
        source = np.repeat(np.arange(n_gt), rng.integers(1, 6, n_gt))[:n_det]
        jitter = rng.normal(0, 0.08, (len(source), 4)) * np.concatenate([gt[source, 2:], gt[source, 2:]], 1)
        hits = np.concatenate([gt[source, :2] + jitter[:, :2], np.abs(gt[source, 2:] + jitter[:, 2:])], 1)
        hit_labels = np.where(
            rng.random(len(source)) < 0.85, gt_labels[source], rng.integers(0, num_classes, len(source))
        )
        n_noise = n_det - len(source)
        noise_size = np.exp(rng.uniform(np.log(8), np.log(300), (n_noise, 2)))
        noise = np.concatenate([rng.uniform(0, 1, (n_noise, 2)) * [WIDTH, HEIGHT], noise_size], 1)
        scores = np.concatenate([rng.uniform(0.3, 1.0, len(source)), rng.uniform(0.0, 0.6, n_noise)])
        labels = np.concatenate([hit_labels, rng.integers(0, num_classes, n_noise)])
        preds.append(
            {
                "masks": _ellipses(np.concatenate([hits, noise])),
                "scores": torch.tensor(scores, dtype=torch.float32),
                "labels": torch.tensor(labels),
            }
        )
        crowd = torch.tensor(rng.random(n_gt) < 0.01, dtype=torch.long)
        target.append({"masks": _ellipses(gt), "labels": torch.tensor(gt_labels), "iscrowd": crowd})
    return preds, target


def encode(masks: torch.Tensor, mask_utils: Any = None) -> list[dict]:
    """RLE of (N, H, W) bool masks (column-major, as COCO stores them) by ``mask_utils`` (pycocotools' ``mask``
    module by default; hotcoco's ``hotcoco.mask`` has the same functions)."""
    if mask_utils is None:
        from pycocotools import mask as mask_utils

    return mask_utils.encode(np.asfortranarray(masks.permute(1, 2, 0).numpy().astype(np.uint8)))


def to_coco(
    preds: list[dict], target: list[dict], rles: tuple[list, list], num_classes: int, mask_utils: Any = None
) -> tuple[dict, list]:
    """COCO-format dicts with the RLEs of the masks (the gt "area" is the mask area, as in COCO files)."""
    if mask_utils is None:
        from pycocotools import mask as mask_utils

    images = [{"id": i + 1, "height": HEIGHT, "width": WIDTH} for i in range(len(target))]
    anns, results = [], []
    for i, (pred, gt, det_rle, gt_rle) in enumerate(zip(preds, target, *rles, strict=True), start=1):
        for rle, label, crowd in zip(gt_rle, gt["labels"].tolist(), gt["iscrowd"].tolist(), strict=True):
            area = float(mask_utils.area(rle))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": label,
                    "segmentation": rle,
                    "area": area,
                    "bbox": mask_utils.toBbox(rle).tolist(),
                    "iscrowd": crowd,
                }
            )
        for rle, score, label in zip(det_rle, pred["scores"].tolist(), pred["labels"].tolist(), strict=True):
            results.append({"image_id": i, "category_id": label, "segmentation": rle, "score": score})
    categories = [{"id": c, "name": str(c)} for c in range(num_classes)]
    return {"images": images, "annotations": anns, "categories": categories}, results


def run_ours(preds: list[dict], target: list[dict], batch: int, device: torch.device) -> list[float]:
    metric = MeanAveragePrecision(iou_type="segm").to(device)
    for start in range(0, len(preds), batch):
        metric.update(preds[start : start + batch], target[start : start + batch])
    result = metric.compute()
    return [float(result[key]) for key in KEYS]


def _with_masks(items: list[dict], masks: list, device: torch.device) -> list[dict]:
    """The same per-image dicts with ``masks`` replaced (RLE lists), tensors moved to ``device``."""
    moved = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in item.items()} for item in items]
    return [{**item, "masks": m} for item, m in zip(moved, masks, strict=True)]


def _run_coco(coco_cls: Any, eval_cls: Any, gt: dict, results: list[dict]) -> list[float]:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_cls()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = eval_cls(coco_gt, coco_dt, "segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats[:12]]


def run_faster_coco_eval(gt: dict, results: list[dict]) -> list[float]:
    from faster_coco_eval import COCO, COCOeval_faster

    return _run_coco(COCO, COCOeval_faster, gt, results)


def run_faster_coco_eval_encoding(preds: list[dict], target: list[dict], num_classes: int) -> list[float]:
    rles = ([encode(p["masks"]) for p in preds], [encode(t["masks"]) for t in target])
    return run_faster_coco_eval(*to_coco(preds, target, rles, num_classes))


def run_hotcoco_encoding(preds: list[dict], target: list[dict], num_classes: int) -> list[float]:
    """Dense masks in hand for hotcoco, which takes only RLE: its own encoder, area and bbox, then its evaluation."""
    from hotcoco import mask as hotcoco_mask

    rles = tuple([encode(item["masks"], hotcoco_mask) for item in items] for items in (preds, target))
    return run_hotcoco(*to_coco(preds, target, rles, num_classes, hotcoco_mask), "segm")


def run_pycocotools(gt: dict, results: list[dict]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    return _run_coco(COCO, COCOeval, gt, results)


def run_ultrafast(gt: dict, results: list[dict]) -> list[float]:
    from ultrafast_pycocotools import COCO, COCOeval

    return _run_coco(COCO, COCOeval, gt, results)


PEERS: dict[str, Callable[..., list[float]]] = {
    "hotcoco": lambda gt, results: run_hotcoco(gt, results, "segm"),
    "ultrafast-pycocotools": run_ultrafast,
    "vernier": lambda gt, results: run_vernier(gt, results, "segm"),
}


def _fresh(gt: dict, results: list[dict]) -> tuple[dict, list[dict]]:
    """Copies of the COCO dicts: loadRes and the evaluators add keys to the annotations they are given."""
    return {**gt, "annotations": [dict(a) for a in gt["annotations"]]}, [dict(r) for r in results]


REPEATS = 1


def _time(fn: Callable[..., list[float]], prepare: Callable[[], tuple] = tuple) -> tuple[float, float, list[float]]:
    """(seconds, peak RSS rise, stats) of ``fn(*prepare())`` (``prepare`` untimed: fresh copies of the COCO dicts);
    the first run samples memory; with ``--repeats`` > 1 the time is the best of that many further runs."""
    inputs = prepare()
    with PeakRss() as memory:
        start = time.perf_counter()
        stats = fn(*inputs)
        elapsed = time.perf_counter() - start
    if REPEATS > 1:
        times = []
        for _ in range(REPEATS):
            inputs = prepare()
            start = time.perf_counter()
            fn(*inputs)
            times.append(time.perf_counter() - start)
        elapsed = min(times)
    return elapsed, memory.rise_mib, stats


def _print_table(runs: dict[str, tuple[float, float, list[float]]]) -> None:
    fce = "faster-coco-eval, RLE in hand"
    reference_name = "pycocotools, RLE in hand" if "pycocotools, RLE in hand" in runs else fce
    reference, fce_time = runs[reference_name][2], runs[fce][0]
    print(f"| tool | time (s) | {fce} time / this | peak RSS rise (MiB) | max abs diff vs {reference_name} |")
    print("|---|---:|---:|---:|---:|")
    for name, (elapsed, memory, stats) in runs.items():
        diff = max(abs(a - b) for a, b in zip(stats, reference, strict=True))
        print(f"| {name} | {elapsed:.3f} | {fce_time / elapsed:.2f}x | {memory:.0f} | {diff:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--batch", type=int, default=32, help="images per update() call")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--skip-pycocotools", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="time each tool this many times, best reported")
    parser.add_argument(
        "--peers", default="hotcoco,ultrafast-pycocotools,vernier", help="comma-separated Rust peers to run"
    )
    add_common_arguments(parser)
    args = parser.parse_args()
    global REPEATS
    REPEATS = args.repeats
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    preds, target = make_data(args.images, args.classes, args.seed)
    rles = ([encode(p["masks"]) for p in preds], [encode(t["masks"]) for t in target])
    gt, results = to_coco(preds, target, rles, args.classes)
    print(
        f"{args.images} images of {HEIGHT}x{WIDTH}, {args.classes} classes, {len(gt['annotations'])} gt "
        f"({sum(int(t['iscrowd'].sum()) for t in target)} crowd), {len(results)} detections, {args.batch} images "
        f"per update, torch threads {args.threads}, RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}, device "
        f"{device}, {describe_load(args.background_load)}"
        + (f", time: best of {args.repeats} runs" if args.repeats > 1 else "")
        + "\n"
    )
    preds_dev, target_dev = (_with_masks(items, [i["masks"] for i in items], device) for items in (preds, target))
    preds_rle, target_rle = _with_masks(preds, rles[0], device), _with_masks(target, rles[1], device)
    runs: dict[str, tuple[float, float, list[float]]] = {}
    with background_load(args.background_load):
        runs["lightning_evalkit, masks in hand"] = _time(lambda: run_ours(preds_dev, target_dev, args.batch, device))
        try:
            runs["lightning_evalkit, RLE in hand"] = _time(lambda: run_ours(preds_rle, target_rle, args.batch, device))
        except (TypeError, ValueError) as error:
            print(f"lightning_evalkit, RLE in hand: skipped ({error})\n")
        for name, peer in PEERS.items():
            if name in args.peers.split(",") and _installed(name):
                runs[f"{name}, RLE in hand"] = _time(peer, lambda: _fresh(gt, results))
        runs["faster-coco-eval, RLE in hand"] = _time(run_faster_coco_eval, lambda: _fresh(gt, results))
        if "hotcoco" in args.peers.split(",") and _installed("hotcoco"):
            runs["hotcoco + hotcoco.mask.encode"] = _time(lambda: run_hotcoco_encoding(preds, target, args.classes))
        runs["faster-coco-eval + pycocotools encode"] = _time(
            lambda: run_faster_coco_eval_encoding(preds, target, args.classes)
        )
        if not args.skip_pycocotools:
            runs["pycocotools, RLE in hand"] = _time(run_pycocotools, lambda: _fresh(gt, results))
    _print_table(runs)
    ours = runs["lightning_evalkit, masks in hand"][2]
    print("\nstats (ours):", " ".join(f"{key}={value:.4f}" for key, value in zip(KEYS, ours, strict=True)))


if __name__ == "__main__":
    main()
