"""intra_op_threads / single_threaded: the metric runs on one intra-op thread and restores the setting."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit import MeanAveragePrecision
from lightning_evalkit._core.threads import intra_op_threads, single_threaded


def test_restores_previous_count_after_error() -> None:
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match=r"^boom$"), intra_op_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_metric_update_and_compute_run_single_threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    import lightning_evalkit.detection.mean_ap as functional

    metric = MeanAveragePrecision()  # built before the spies: its constructor matches an empty batch

    for name in ("_map_update", "_map_compute"):
        original = getattr(functional, name)

        def spy(*args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(torch.get_num_threads())
            return _original(*args, **kwargs)

        monkeypatch.setattr(f"lightning_evalkit.detection.mean_ap_metric.{name}", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
        metric.update(
            [{"boxes": boxes, "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}],
            [{"boxes": boxes, "labels": torch.tensor([1])}],
        )
        assert float(metric.compute()["map"]) == pytest.approx(1.0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1]


def test_nested_calls_keep_one_thread() -> None:
    @single_threaded
    def inner() -> int:
        return torch.get_num_threads()

    @single_threaded
    def outer() -> tuple[int, int]:
        return inner(), torch.get_num_threads()

    assert outer() == (1, 1)
