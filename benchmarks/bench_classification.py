"""AUROC on the same data, side by side: lightning_evalkit vs torchmetrics vs scikit-learn.

Times update + compute (the data fed in ``--batch``-sized updates, as a validation loop would), reports the
peak resident memory each run added over its starting point (sampled every millisecond), the size of the
metric state, and the AUC each produced. Binary rows cover probabilities, logits and raw scores, binned
(1000 thresholds) and exact; ``--memory-cases`` adds exact multiclass (50k x 1000) and multilabel
(200k x 100) rows.

    python benchmarks/bench_classification.py                              # 5M samples, batches of 100k
    python benchmarks/bench_classification.py --samples 5000000 20000000   # exact-mode memory at 5M and 20M
    python benchmarks/bench_classification.py --samples 1000000 --memory-cases --background-load 1
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
from torchmetrics.classification import BinaryAUROC, MulticlassAUROC, MultilabelAUROC

from lightning_evalkit import AUROC

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import add_common_arguments, background_load, describe_load, resolve_device
from _peak_memory import PeakRss

Run = Callable[[], tuple[float, int]]


def _state_bytes(metric: torch.nn.Module) -> int:
    total = 0
    for value in metric.metric_state.values():  # type: ignore[operator]
        tensors = value if isinstance(value, list) else [value]
        total += sum(t.numel() * t.element_size() for t in tensors)
    return total


def _metric_run(make: Callable[[], torch.nn.Module], preds: torch.Tensor, target: torch.Tensor, batch: int) -> Run:
    def run() -> tuple[float, int]:
        metric = make().to(preds.device)
        for lo in range(0, len(target), batch):
            metric.update(preds[lo : lo + batch], target[lo : lo + batch])
        state = _state_bytes(metric)
        return float(metric.compute()), state

    return run


def _sklearn_run(preds: torch.Tensor, target: torch.Tensor, **kwargs: str) -> Run:
    p, y = preds.cpu().numpy(), target.cpu().numpy()
    return lambda: (float(roc_auc_score(y, p, **kwargs)), -1)


def _measure(run: Run, repeats: int) -> tuple[float, float, float, int]:
    best, peak = float("inf"), 0.0
    for _ in range(repeats):
        with PeakRss() as memory:
            start = time.perf_counter()
            value, state = run()
            best = min(best, time.perf_counter() - start)
        peak = max(peak, memory.rise_mib)
    return best, peak, value, state


def _binary_groups(samples: int, batch: int, device: torch.device) -> dict[str, list[tuple[str, Run]]]:
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 2, (samples,), generator=generator)
    logits = (2 * target - 1) + 1.5 * torch.randn(samples, generator=generator)
    probs = (torch.rand(samples, generator=generator) * 0.7 + target * 0.3).clamp(0, 1)
    scores = 100 * logits  # raw decision scores: far outside [0, 1]
    target, logits, probs, scores = (t.to(device) for t in (target, logits, probs, scores))

    def ours(data: torch.Tensor, **kwargs: object) -> Run:
        return _metric_run(lambda: AUROC(task="binary", **kwargs), data, target, batch)  # type: ignore[arg-type]

    def theirs(data: torch.Tensor, **kwargs: object) -> Run:
        return _metric_run(lambda: BinaryAUROC(**kwargs), data, target, batch)  # type: ignore[arg-type]

    return {
        "binned probs": [
            ("lightning_evalkit", ours(probs, thresholds=1000)),
            ("torchmetrics", theirs(probs, thresholds=1000)),
        ],
        "binned logits": [
            ("lightning_evalkit", ours(logits, thresholds=1000, input_format="logits")),
            ("torchmetrics", theirs(logits, thresholds=1000)),
        ],
        "exact probs": [
            ("lightning_evalkit", ours(probs)),
            ("torchmetrics", theirs(probs)),
            ("scikit-learn", _sklearn_run(probs, target)),
        ],
        "exact logits": [
            ("lightning_evalkit", ours(logits, input_format="logits")),
            ("torchmetrics", theirs(logits)),
            ("scikit-learn", _sklearn_run(logits, target)),
        ],
        "exact scores": [
            ("lightning_evalkit", ours(scores, input_format="scores")),
            ("scikit-learn", _sklearn_run(scores, target)),
        ],
    }


def _memory_groups(device: torch.device) -> dict[str, list[tuple[str, Run]]]:
    generator = torch.Generator().manual_seed(1)
    mc_target = torch.randint(0, 1000, (50_000,), generator=generator)
    mc_probs = torch.randn(50_000, 1000, generator=generator).softmax(1)
    ml_target = torch.randint(0, 2, (200_000, 100), generator=generator)
    ml_probs = torch.rand(200_000, 100, generator=generator)
    mc_target, mc_probs, ml_target, ml_probs = (t.to(device) for t in (mc_target, mc_probs, ml_target, ml_probs))
    multiclass = lambda: AUROC(task="multiclass", num_classes=1000)  # noqa: E731
    multilabel = lambda: AUROC(task="multilabel", num_labels=100)  # noqa: E731
    return {
        "exact multiclass 50k x 1000": [
            ("lightning_evalkit", _metric_run(multiclass, mc_probs, mc_target, 5000)),
            ("torchmetrics", _metric_run(lambda: MulticlassAUROC(num_classes=1000), mc_probs, mc_target, 5000)),
            ("scikit-learn", _sklearn_run(mc_probs.double(), mc_target, multi_class="ovr")),
        ],
        "exact multilabel 200k x 100": [
            ("lightning_evalkit", _metric_run(multilabel, ml_probs, ml_target, 20_000)),
            ("torchmetrics", _metric_run(lambda: MultilabelAUROC(num_labels=100), ml_probs, ml_target, 20_000)),
            ("scikit-learn", _sklearn_run(ml_probs, ml_target)),
        ],
    }


def _print_groups(title: str, groups: dict[str, list[tuple[str, Run]]], repeats: int) -> None:
    print(f"\n{title}\n")
    print("| case | implementation | time (s) | ours faster by | peak RSS growth (MiB) | state (MiB) | AUC |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for case, runs in groups.items():
        results = [(name, *_measure(run, repeats)) for name, run in runs]
        ours_time = results[0][1]
        for name, seconds, peak, value, state in results:
            ratio = "" if name == "lightning_evalkit" else f"{seconds / ours_time:.1f}x"
            state_text = "-" if state < 0 else f"{state / 2**20:.1f}"
            print(f"| {case} | {name} | {seconds:.3f} | {ratio} | {peak:.0f} | {state_text} | {value:.6f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[5_000_000], help="binary sample counts to run")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--memory-cases", action="store_true", help="add exact multiclass and multilabel rows")
    add_common_arguments(parser)
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, device {device}, {describe_load(args.background_load)}"
    )
    with background_load(args.background_load):
        for samples in args.samples:
            groups = _binary_groups(samples, args.batch, device)
            _print_groups(f"{samples:,} binary samples in updates of {args.batch:,}", groups, args.repeats)
        if args.memory_cases:
            _print_groups("Exact multiclass and multilabel", _memory_groups(device), args.repeats)
        n = args.samples[0]
        print("\nBinned state size against N (constant memory):")
        target = torch.randint(0, 2, (n,))
        probs = torch.rand(n)
        for size in (n // 5, n):
            metric = AUROC(task="binary", thresholds=1000)
            for lo in range(0, size, args.batch):
                hi = min(lo + args.batch, size)
                metric.update(probs[lo:hi], target[lo:hi])
            print(f"  N = {size:>10,}: state {_state_bytes(metric):,} bytes")


if __name__ == "__main__":
    main()
