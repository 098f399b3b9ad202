"""Binary AUROC on the same data, side by side: lightning_evalkit vs torchmetrics vs scikit-learn.

Times update + compute (the data fed in ``--batch``-sized updates, as a validation loop would), reports the
peak resident memory each run added over its starting point (sampled every millisecond), the size of the
metric state, and the AUC each produced.

    python benchmarks/bench_classification.py            # 5M samples, batches of 100k
    python benchmarks/bench_classification.py --samples 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import torch
from sklearn.metrics import roc_auc_score
from torchmetrics.classification import BinaryAUROC

from lightning_evalkit import AUROC

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _peak_memory import PeakRss


def _state_bytes(metric: torch.nn.Module) -> int:
    total = 0
    for value in metric.metric_state.values():  # type: ignore[operator]
        tensors = value if isinstance(value, list) else [value]
        total += sum(t.numel() * t.element_size() for t in tensors)
    return total


def _metric_run(make: Callable[[], torch.nn.Module], preds: torch.Tensor, target: torch.Tensor, batch: int):
    def run() -> tuple[float, int]:
        metric = make()
        for lo in range(0, len(target), batch):
            metric.update(preds[lo : lo + batch], target[lo : lo + batch])
        state = _state_bytes(metric)
        return float(metric.compute()), state

    return run


def _sklearn_run(preds: torch.Tensor, target: torch.Tensor):
    p, y = preds.numpy(), target.numpy()
    return lambda: (float(roc_auc_score(y, p)), -1)


def _measure(run: Callable[[], tuple[float, int]], repeats: int) -> tuple[float, float, float, int]:
    best, peak = float("inf"), 0.0
    for _ in range(repeats):
        with PeakRss() as memory:
            start = time.perf_counter()
            value, state = run()
            best = min(best, time.perf_counter() - start)
        peak = max(peak, memory.rise_mib)
    return best, peak, value, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 2, (args.samples,), generator=generator)
    preds = (torch.rand(args.samples, generator=generator) * 0.7 + target * 0.3).clamp(0, 1)
    print(
        f"{args.samples:,} binary samples in updates of {args.batch:,}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )

    groups = {
        "binned, 1000 thresholds": [
            (
                "lightning_evalkit AUROC(thresholds=1000)",
                _metric_run(lambda: AUROC(task="binary", thresholds=1000), preds, target, args.batch),
            ),
            (
                "torchmetrics BinaryAUROC(thresholds=1000)",
                _metric_run(lambda: BinaryAUROC(thresholds=1000), preds, target, args.batch),
            ),
        ],
        "exact": [
            ("lightning_evalkit AUROC()", _metric_run(lambda: AUROC(task="binary"), preds, target, args.batch)),
            ("torchmetrics BinaryAUROC()", _metric_run(lambda: BinaryAUROC(), preds, target, args.batch)),
            ("scikit-learn roc_auc_score", _sklearn_run(preds, target)),
        ],
    }
    print("\n| mode | implementation | time (s) | ours faster by | peak RSS growth (MiB) | state (MiB) | AUC |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for mode, runs in groups.items():
        results = [(name, *_measure(run, args.repeats)) for name, run in runs]
        ours_time = results[0][1]
        for name, seconds, peak, value, state in results:
            ratio = "" if name.startswith("lightning_evalkit") else f"{seconds / ours_time:.1f}x"
            state_text = "-" if state < 0 else f"{state / 2**20:.3f}"
            print(f"| {mode} | {name} | {seconds:.3f} | {ratio} | {peak:.0f} | {state_text} | {value:.6f} |")

    print("\nBinned state size against N (constant memory):")
    for n in (args.samples // 5, args.samples):
        metric = AUROC(task="binary", thresholds=1000)
        for lo in range(0, n, args.batch):
            metric.update(preds[lo : min(lo + args.batch, n)], target[lo : min(lo + args.batch, n)])
        print(f"  N = {n:>10,}: state {_state_bytes(metric):,} bytes")


if __name__ == "__main__":
    main()
