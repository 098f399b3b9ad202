"""DeLong confidence interval of the AUC against our exact AUROC compute, on the same state, side by side.

Both read the same exact state of one ``AUROC(confidence_level=...)`` metric fed in ``--batch``-sized updates:
``compute()`` (the AUC) and ``confidence_interval()`` (the AUC's DeLong interval, which sorts the same values
once and adds O(distinct scores) sums). The ratio is the second over the first; the bar is 3x.

    python benchmarks/bench_intervals.py                       # 1M binary samples
    python benchmarks/bench_intervals.py --samples 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch

from lightning_evalkit import AUROC

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import add_common_arguments, background_load, describe_load, resolve_device


def _time(metric: AUROC, run: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """(best, median) seconds over ``repeats`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        metric._computed = None  # torchmetrics caches compute(); time a real compute every run
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def _filled_metric(preds: torch.Tensor, target: torch.Tensor, batch: int, device: torch.device) -> AUROC:
    metric = AUROC(task="binary", confidence_level=0.95).to(device)
    for lo in range(0, len(target), batch):
        metric.update(preds[lo : lo + batch].to(device), target[lo : lo + batch].to(device))
    return metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    add_common_arguments(parser)
    args = parser.parse_args()
    device = resolve_device(args.device)
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 2, (args.samples,), generator=generator)
    preds = (torch.randn(args.samples, generator=generator) + target).sigmoid()  # float32 probabilities
    metric = _filled_metric(preds, target, args.batch, device)
    with background_load(args.background_load):
        auc_best, auc_median, auc = _time(metric, metric.compute, args.repeats)
        ci_best, ci_median, interval = _time(metric, metric.confidence_interval, args.repeats)
    print(f"# {args.samples:,} binary samples, float32 probabilities, {platform.processor() or platform.machine()}, ")
    load = describe_load(args.background_load)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, {load}")
    print(f"# best / median of {args.repeats} runs")
    print(f"{'what':<34}{'best s':>10}{'median s':>10}  result")
    print(f"{'AUROC compute() (exact AUC)':<34}{auc_best:>10.4f}{auc_median:>10.4f}  auc={float(auc):.6f}")  # type: ignore[arg-type]
    lower, upper = interval  # type: ignore[misc]
    bounds = f"({float(lower):.6f}, {float(upper):.6f})"
    print(f"{'AUROC confidence_interval() DeLong':<34}{ci_best:>10.4f}{ci_median:>10.4f}  {bounds}")
    best, median = ci_best / auc_best, ci_median / auc_median
    print(f"ratio DeLong CI / AUROC compute: best {best:.2f}x, median {median:.2f}x (bar: 3x)")


if __name__ == "__main__":
    main()
