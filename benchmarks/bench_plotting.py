"""What EvalCallback's plotting costs per validation epoch, case by case, on the callback's own code path.

For each case the metrics are updated with synthetic data and computed (as the callback does to log them;
not timed), then one epoch's plotting is timed, as rank 0 does it: gathering the plot data (``plot_sources``:
the threshold and confusion counts, a collective under DDP), then for every plot building the figure,
rendering it to pixels and writing it to a real TensorBoard SummaryWriter, and the PR-curve plugin entries.
The median of ``--repeats`` epochs is reported, split by plot, and each figure's time into building,
rendering and writing. It imports the lightning_evalkit of the checkout it sits in.

    python benchmarks/bench_plotting.py                 # binary; multiclass 10, 100, 1000; detection 80
    python benchmarks/bench_plotting.py --cases multiclass-100 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable

import torch

# Measure the checkout this script sits in, not whichever lightning_evalkit the environment installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lightning_evalkit import AUROC, ConfusionMatrix, EvalCallback, MeanAveragePrecision, Sensitivity, Specificity
from lightning_evalkit.callback.plot_sources import figure_builders, plot_sources, pr_curve_entries
from lightning_evalkit.plotting.curves import figure_to_rgb

sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
from _harness import add_common_arguments, background_load, describe_load


def _classification(task: str, num_classes: int, samples: int) -> EvalCallback:
    generator = torch.Generator().manual_seed(num_classes)
    if task == "binary":
        target = torch.randint(0, 2, (samples,), generator=generator)
        preds = torch.sigmoid(2 * target - 1 + 1.5 * torch.randn(samples, generator=generator))
        kwargs: dict[str, object] = {"task": "binary"}
    else:
        target = torch.randint(0, num_classes, (samples,), generator=generator)
        logits = torch.randn(samples, num_classes, generator=generator)
        preds = (logits + 3 * torch.nn.functional.one_hot(target, num_classes)).softmax(1)
        kwargs = {"task": "multiclass", "num_classes": num_classes}
    metrics = {
        "auroc": AUROC(**kwargs),  # type: ignore[arg-type]
        "sensitivity": Sensitivity(**kwargs),  # type: ignore[arg-type]
        "specificity": Specificity(**kwargs),  # type: ignore[arg-type]
        "confusion_matrix": ConfusionMatrix(**kwargs),  # type: ignore[arg-type]
    }
    callback = EvalCallback(metrics)
    for start in range(0, samples, 1000):
        for metric in metrics.values():
            metric.update(preds[start : start + 1000], target[start : start + 1000])
    return callback


def _detection(num_classes: int, images: int) -> EvalCallback:
    generator = torch.Generator().manual_seed(0)
    preds, target = [], []
    for _ in range(images):
        n = int(torch.randint(1, 12, (1,), generator=generator))
        boxes = torch.rand(n, 2, generator=generator) * 400
        boxes = torch.cat([boxes, boxes + 20 + torch.rand(n, 2, generator=generator) * 150], 1)
        labels = torch.randint(0, num_classes, (n,), generator=generator)
        jitter = boxes + torch.randn(n, 4, generator=generator) * 8
        jitter = torch.cat(
            [torch.minimum(jitter[:, :2], jitter[:, 2:]), torch.maximum(jitter[:, :2], jitter[:, 2:])], 1
        )
        keep = torch.rand(n, generator=generator) < 0.8
        wrong = torch.where(torch.rand(n, generator=generator) < 0.15, (labels + 1) % num_classes, labels)
        target.append({"boxes": boxes, "labels": labels})
        preds.append(
            {"boxes": jitter[keep], "scores": torch.rand(int(keep.sum()), generator=generator), "labels": wrong[keep]}
        )
    metric = MeanAveragePrecision(class_metrics=True, extended_summary=True)
    for start in range(0, images, 32):
        metric.update(preds[start : start + 32], target[start : start + 32])
    return EvalCallback({"map": metric})


CASES: dict[str, Callable[[], EvalCallback]] = {
    "binary": lambda: _classification("binary", 2, 10_000),
    "multiclass-10": lambda: _classification("multiclass", 10, 10_000),
    "multiclass-100": lambda: _classification("multiclass", 100, 10_000),
    "multiclass-1000": lambda: _classification("multiclass", 1000, 20_000),
    "detection-80": lambda: _detection(80, 500),
}


def _one_epoch(
    callback: EvalCallback, results: dict[str, object], writer: object, step: int
) -> dict[str, tuple[float, ...]]:
    """One epoch's plotting; per part its time, split into (build, render, write) for each figure."""
    times: dict[str, tuple[float, ...]] = {}
    start = time.perf_counter()
    sources = plot_sources(list(callback.metrics.items()), results, callback.plots, callback.class_names)
    times["gather plot data"] = (time.perf_counter() - start,)
    for tag, build in figure_builders(sources, callback.plots, callback.class_names):
        start = time.perf_counter()
        figure = build()
        built = time.perf_counter()
        image = figure_to_rgb(figure)
        rendered = time.perf_counter()
        writer.add_image("val/" + tag, image, step, dataformats="HWC")  # type: ignore[attr-defined]
        times[tag] = (built - start, rendered - built, time.perf_counter() - rendered)
    start = time.perf_counter()
    entries = pr_curve_entries(sources, callback.class_names)
    for tag, data in entries:
        writer.add_pr_curve_raw(  # type: ignore[attr-defined]
            "val/" + tag,
            data["tp"],
            data["fp"],
            data["tn"],
            data["fn"],
            data["precision"],
            data["recall"],
            global_step=step,
            num_thresholds=len(data["tp"]),
        )
    times[f"pr_curve_plugin ({len(entries)} entries)"] = (time.perf_counter() - start,)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed per case; the median is reported")
    add_common_arguments(parser)
    args = parser.parse_args()
    from torch.utils.tensorboard import SummaryWriter

    print(
        f"# Plotting per validation epoch ({platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {describe_load(args.background_load)})"
    )
    with background_load(args.background_load), tempfile.TemporaryDirectory() as logdir:
        writer = SummaryWriter(logdir)
        print("| case | part | time (s) | build / render / write (s) |\n|---|---|---:|---|")
        for name in args.cases:
            callback = CASES[name]()
            results = {key: metric.compute() for key, metric in callback.metrics.items()}
            runs: dict[str, list[tuple[float, ...]]] = defaultdict(list)
            _one_epoch(callback, results, writer, 0)  # warm-up: imports and font caches
            for step in range(args.repeats):
                for part, seconds in _one_epoch(callback, results, writer, step + 1).items():
                    runs[part].append(seconds)
            for part, values in runs.items():
                median = statistics.median(sum(v) for v in values)
                split = " / ".join(f"{statistics.median(v[i] for v in values):.3f}" for i in range(len(values[0])))
                print(f"| {name} | {part} | {median:.3f} | {split if len(values[0]) > 1 else ''} |")
            totals = [sum(sum(values[i]) for values in runs.values()) for i in range(args.repeats)]
            print(f"| **{name}** | **total per epoch** | **{statistics.median(totals):.3f}** | |", flush=True)
        writer.close()


if __name__ == "__main__":
    main()
