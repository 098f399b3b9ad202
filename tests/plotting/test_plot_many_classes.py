"""Above 100 classes the plots build only the curves they draw; what they show still equals scikit-learn.

The one-vs-rest ROC draws the 10 classes with the most positives and gives the macro-average AUC over every
class in its title (from the metric's computed value where it holds it, else from every class's exact AUC).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from lightning_evalkit import AUROC, ROC
from lightning_evalkit.callback.plot_sources import figure_builders, plot_sources, pr_curve_entries
from lightning_evalkit.classification.curve_points import counts_on_uniform_grid
from lightning_evalkit.classification.plot_sources import MAX_MACRO_CURVE_CLASSES, curve_source
from lightning_evalkit.functional import curve_counts

metrics = pytest.importorskip("sklearn.metrics")

CLASSES = MAX_MACRO_CURVE_CLASSES + 20
WANTED = ("roc", "pr_curve_plugin")


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    weights = torch.linspace(1.0, 4.0, CLASSES)
    target = torch.multinomial(weights, 2400, replacement=True, generator=generator)
    logits = torch.randn(2400, CLASSES, generator=generator) + 2 * torch.nn.functional.one_hot(target, CLASSES)
    return logits.double().softmax(1), target


def _roc_title_and_labels(metric: object, results: dict[str, object]) -> tuple[str, list[str], list[object]]:
    sources = plot_sources([("curve", metric)], results, WANTED, None)  # type: ignore[arg-type]
    ((_, build),) = figure_builders(sources, WANTED, None)
    axes = build().axes[0]
    return axes.get_title(), [line.get_label() for line in axes.get_lines()], sources


@pytest.mark.parametrize(
    ("make", "with_result"),
    [
        (lambda: AUROC(task="multiclass", num_classes=CLASSES), True),  # macro AUC from the computed value
        (lambda: AUROC(task="multiclass", num_classes=CLASSES, average="none"), True),  # per-class values
        (lambda: AUROC(task="multiclass", num_classes=CLASSES), False),  # from every class's exact AUC
        (lambda: ROC(task="multiclass", num_classes=CLASSES), True),  # a curve metric's value holds no AUC
    ],
)
def test_many_class_roc_draws_the_top_ten_and_titles_the_macro_auc_of_all(make, with_result) -> None:  # type: ignore[no-untyped-def]
    probs, target = _data()
    metric = make()
    metric.update(probs, target)
    results = {"curve": metric.compute()} if with_result else {}
    title, labels, _ = _roc_title_and_labels(metric, results)
    assert f"10 of {CLASSES} classes shown" in title
    macro = float(re.search(r"macro-average AUC over all \d+ classes: ([0-9.]+)", title).group(1))  # type: ignore[union-attr]
    assert macro == pytest.approx(metrics.roc_auc_score(target, probs, multi_class="ovr"), abs=5e-5)
    named = [int(label.split(" vs rest")[0]) for label in labels if " vs rest" in label]
    support = np.bincount(target.numpy(), minlength=CLASSES)
    assert len(named) == 10 and sorted(support[named]) == sorted(np.sort(support)[-10:])
    for label, cls in zip(labels, named, strict=False):
        shown = float(re.search(r"AUC = ([0-9.]+)", label).group(1))  # type: ignore[union-attr]
        assert shown == pytest.approx(metrics.roc_auc_score(target == cls, probs[:, cls]), abs=5e-5)
        assert f"n = {support[cls]}" in label
    assert not any(label.startswith("macro") for label in labels)  # no curve of classes it did not build


def test_many_class_pr_curve_entries_equal_those_of_the_full_counts() -> None:
    probs, target = _data(1)
    metric = AUROC(task="multiclass", num_classes=CLASSES)
    metric.update(probs, target)
    _, _, sources = _roc_title_and_labels(metric, {"curve": metric.compute()})
    full = curve_counts(probs, target, task="multiclass", num_classes=CLASSES)
    support = np.bincount(target.numpy(), minlength=CLASSES)
    entries = pr_curve_entries(sources, None)  # type: ignore[arg-type]
    shown = [int(tag.rsplit("/", 1)[1]) for tag, _ in entries]  # type: ignore[attr-defined]
    assert sorted(support[shown]) == sorted(np.sort(support)[-10:])
    for (_, data), cls in zip(entries, shown, strict=True):  # type: ignore[call-overload]
        expected = counts_on_uniform_grid(*full[cls])
        for key, values in expected.items():
            np.testing.assert_array_equal(data[key], values)


def test_up_to_the_limit_every_curve_is_built_and_the_macro_curve_drawn() -> None:
    probs, target = _data()
    keep = target < MAX_MACRO_CURVE_CLASSES
    probs, target = probs[keep][:, :MAX_MACRO_CURVE_CLASSES], target[keep]
    metric = AUROC(task="multiclass", num_classes=MAX_MACRO_CURVE_CLASSES)
    metric.update(probs / probs.sum(1, keepdim=True), target)
    title, labels, _ = _roc_title_and_labels(metric, {"curve": metric.compute()})
    assert len(curve_source(metric).counts) == MAX_MACRO_CURVE_CLASSES
    assert "macro-average AUC" not in title
    assert any(label.startswith(f"macro average over all {MAX_MACRO_CURVE_CLASSES} classes") for label in labels)


def _plot_sources_on_rank(rank: int, world_size: int, sync_on_compute: bool) -> dict[str, object]:
    probs, target = _data(2)
    metric = AUROC(task="multiclass", num_classes=CLASSES, sync_on_compute=sync_on_compute)
    metric.update(probs[rank::world_size], target[rank::world_size])  # each rank a different share
    with metric.sync_context(should_sync=not sync_on_compute):  # as the callback computes what it logs
        results = {"curve": metric.compute()}
    source = curve_source(metric, metric._macro_auc(results["curve"]))  # what the callback's plots gather
    return {
        "classes": source.classes,
        "support": source.support.tolist(),
        "macro_auc": source.macro_auc,
        "counts": [[field.tolist() for field in counts] for counts in source.counts],
        "rank_samples": len(metric._cat_state(metric._values_name)),  # the local state is left as it was
    }


@pytest.mark.ddp
@pytest.mark.slow
@pytest.mark.parametrize("sync_on_compute", [True, False])
def test_many_class_plot_sources_under_ddp_equal_one_process(sync_on_compute: bool) -> None:
    from tests._ddp import run_in_processes

    per_rank = run_in_processes(_plot_sources_on_rank, 2, sync_on_compute)
    _, target = _data(2)
    expected = _plot_sources_on_rank(0, 1, True)
    for rank, got in enumerate(per_rank):
        assert got["rank_samples"] == len(target[rank::2])
        assert got["classes"] == expected["classes"] and got["support"] == expected["support"]
        assert got["counts"] == expected["counts"]
        assert got["macro_auc"] == pytest.approx(expected["macro_auc"], abs=1e-12)


def test_per_class_ap_of_a_thousand_classes_keeps_a_bounded_height() -> None:
    from lightning_evalkit import plotting
    from lightning_evalkit.plotting.bars import MAX_BARS_INCHES

    heights = [plotting.plot_per_class_ap(np.linspace(0, 1, k), list(range(k))).get_figheight() for k in (80, 1000)]
    assert heights[0] < heights[1] <= MAX_BARS_INCHES + 2.0  # bars plus the title and axis margins
