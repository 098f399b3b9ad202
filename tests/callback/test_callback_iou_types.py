"""EvalCallback with MeanAveragePrecision(iou_type=("bbox", "segm")) in a real Trainer: one set of detection plots
per IoU type, drawn from that type's own arrays; a detection metric without extended summary says once that its
plots cannot be drawn."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lightning_evalkit
from lightning_evalkit import EvalCallback
from lightning_evalkit._core.report import ReportOptions
from lightning_evalkit.callback.eval_callback import EvalCallbackWarning
from lightning_evalkit.detection.plot_sources import iou_type_views
from tests._events import read_events, scalars
from tests.callback.test_callback import make_trainer
from tests.callback.test_callback_detection import FixedDetections, pycocotools_stats

pytest.importorskip("pycocotools")
DETECTION_TAGS = ("detection_pr", "per_class_ap")


def with_masks(images: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each box also as a mask on a 128 x 128 canvas (so bbox and segm give different numbers)."""
    for pred, target in images:
        for item in (pred, target):
            masks = torch.zeros(len(item["boxes"]), 128, 128, dtype=torch.bool)
            for index, (x1, y1, x2, y2) in enumerate(item["boxes"].round().long().clamp(0, 128).tolist()):
                masks[index, y1:y2, x1:x2] = True
                masks[index, y1 : (y1 + y2) // 2, x1 : (x1 + x2) // 2] = False  # an L shape: mask IoU != box IoU
            item["masks"] = masks
    return images


class BoxesAndMasks(FixedDetections):
    def __init__(self) -> None:
        super().__init__()
        self.images = with_masks(self.images)


def _single_type(iou_type: str, images: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, torch.Tensor]:
    metric = lightning_evalkit.MeanAveragePrecision(iou_type=iou_type, extended_summary=True, class_metrics=True)
    metric.update([p for p, _ in images], [t for _, t in images])
    return metric.compute()


def test_each_iou_type_view_holds_that_types_own_arrays() -> None:
    images = with_masks(FixedDetections().images)
    both = lightning_evalkit.MeanAveragePrecision(iou_type=("bbox", "segm"), extended_summary=True, class_metrics=True)
    both.update([p for p, _ in images], [t for _, t in images])
    per_type = iou_type_views(both.compute())
    assert [tag for tag, _ in per_type] == ["bbox_", "segm_"]
    for (_, view), iou_type in zip(per_type, ("bbox", "segm"), strict=True):
        single = _single_type(iou_type, images)
        for key in ("precision", "recall", "classes", "map", "map_per_class"):
            assert torch.equal(view[key], single[key]), (iou_type, key)
    assert not torch.equal(per_type[0][1]["precision"], per_type[1][1]["precision"])
    sources = both.plot_sources(both.compute(), ["per_class_ap"], ReportOptions())
    assert [s.tag for s in sources] == ["bbox_per_class_ap", "segm_per_class_ap"]
    assert both.plot_sources(both.compute(), ["roc"], ReportOptions()) == []


@pytest.mark.slow
def test_two_iou_types_get_one_set_of_detection_plots_each(tmp_path: Path) -> None:
    metric = lightning_evalkit.MeanAveragePrecision(
        iou_type=("bbox", "segm"), extended_summary=True, class_metrics=True
    )
    trainer = make_trainer("pytorch_lightning", tmp_path, [EvalCallback({"map": metric}, class_names=["cat", "dog"])])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(BoxesAndMasks())
    assert not [w for w in record if "could not draw" in str(w.message) or "cannot draw" in str(w.message)]
    events = read_events(tmp_path)
    for iou_type in ("bbox", "segm"):
        for tag in DETECTION_TAGS:
            images = events.Images(f"val/{iou_type}_{tag}")
            assert len(images) == 2  # one per validation epoch, at the epoch's scalar step
            assert [i.step for i in images] == [e.step for e in events.Scalars(f"val/{iou_type}_map")]
    assert not {f"val/{tag}" for tag in DETECTION_TAGS} & set(events.Tags()["images"])
    stats = pycocotools_stats(FixedDetections().images)  # the bbox numbers are pycocotools' own
    np.testing.assert_allclose(scalars(events, "val/bbox_map"), [stats[0]] * 2, rtol=1e-6, atol=1e-7)
    segm = _single_type("segm", BoxesAndMasks().images)
    np.testing.assert_allclose(scalars(events, "val/segm_map"), [float(segm["map"])] * 2, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_detection_plots_without_extended_summary_are_announced_once(tmp_path: Path) -> None:
    metric = lightning_evalkit.MeanAveragePrecision(iou_type=("bbox", "segm"))
    trainer = make_trainer("pytorch_lightning", tmp_path, [EvalCallback({"map": metric})])
    with pytest.warns(EvalCallbackWarning) as record:
        trainer.fit(BoxesAndMasks())
    announced = [str(w.message) for w in record if "cannot draw" in str(w.message)]
    assert len(announced) == 1 and "extended_summary=True" in announced[0] and "metrics['map']" in announced[0]
    assert not [tag for tag in read_events(tmp_path).Tags()["images"] if tag.endswith(DETECTION_TAGS)]
