"""DetectionErrorBreakdown and its functional twin equal tidecv 1.0.1, run here on the same data: random sets (with
crowd regions, score ties, integer boxes whose IoUs fall exactly on the thresholds), hypothesis-drawn images and
the edge cases. Every value within 1e-6: ours are float32 fractions (tidecv prints 100 times them in float64); the
float64 values underneath agree with tidecv's to 1e-12.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_evalkit import DetectionErrorBreakdown
from lightning_evalkit._core.report import ReportOptions
from lightning_evalkit.detection.tide.breakdown import _tide_compute, _tide_parse, _tide_update
from lightning_evalkit.functional import detection_error_breakdown
from tests._tide_data import KEYS, SPECIAL_KEYS, random_tide_set, tidecv_breakdown

pytest.importorskip("tidecv")

TOLERANCE = 1e-6  # float32 results; the float64 ones are checked to FLOAT64_TOLERANCE
FLOAT64_TOLERANCE = 1e-12


def _assert_equal(reference: dict[str, float], ours: dict[str, Any], tolerance: float = TOLERANCE) -> None:
    for key in (*KEYS, *SPECIAL_KEYS):
        got, expected = float(ours[key]), reference[key]
        assert (math.isnan(got) and math.isnan(expected)) or abs(got - expected) <= tolerance, (key, got, expected)


def _float64(preds: list, target: list, box_format: str = "xywh", **kwargs: Any) -> dict[str, torch.Tensor]:
    thresholds = (kwargs.get("pos_threshold", 0.5), kwargs.get("background_threshold", 0.1))
    batch = _tide_parse(preds, target, box_format)
    return _tide_compute(_tide_update(batch, *thresholds, kwargs.get("max_detections", 100)), torch.float64)


def _in_batches(metric: DetectionErrorBreakdown, preds: list, target: list) -> dict[str, torch.Tensor]:
    start = 0
    while start < len(preds):
        stop = start + 1 + start % 3
        metric.update(preds[start:stop], target[start:stop])
        start = stop
    return metric.compute()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["plain", "ties", "integer"])
def test_class_and_functional_equal_tidecv_on_random_sets(seed: int, kind: str) -> None:
    preds, target = random_tide_set(seed, images=10, ties=kind == "ties", integer=kind == "integer")
    reference = tidecv_breakdown(preds, target)
    assert not math.isnan(reference["map"])
    _assert_equal(reference, _in_batches(DetectionErrorBreakdown(box_format="xywh"), preds, target))
    _assert_equal(reference, detection_error_breakdown(preds, target, box_format="xywh"))
    _assert_equal(reference, _float64(preds, target), FLOAT64_TOLERANCE)


def test_the_random_sets_hold_every_kind_of_error() -> None:
    """The sets above exercise each error: tidecv finds every kind in them, and most dAPs are not 0."""
    found = {key: 0.0 for key in KEYS[1:]}
    for seed in range(6):
        reference = tidecv_breakdown(*random_tide_set(seed, images=10))
        for key in found:
            found[key] = max(found[key], reference[key])
    assert sum(value > 0 for value in found.values()) >= 5, found


@pytest.mark.parametrize(
    ("pos_threshold", "background_threshold", "max_detections"), [(0.7, 0.2, 100), (0.3, 0.0, 3), (0.5, 0.5, 2)]
)
def test_thresholds_and_max_detections_equal_tidecv(pos_threshold, background_threshold, max_detections) -> None:
    options = {
        "pos_threshold": pos_threshold,
        "background_threshold": background_threshold,
        "max_detections": max_detections,
    }
    for seed in range(3):
        preds, target = random_tide_set(100 + seed, images=8, integer=seed == 1)
        reference = tidecv_breakdown(preds, target, pos_threshold, background_threshold, max_detections)
        _assert_equal(reference, detection_error_breakdown(preds, target, box_format="xywh", **options))
        _assert_equal(reference, _float64(preds, target, **options), FLOAT64_TOLERANCE)


def test_xyxy_boxes_equal_tidecv_on_their_xywh() -> None:
    preds, target = random_tide_set(7, images=10, integer=True)
    reference = tidecv_breakdown(preds, target)

    def xyxy(items: list[dict]) -> list[dict]:
        return [
            {**item, "boxes": torch.cat([item["boxes"][:, :2], item["boxes"][:, :2] + item["boxes"][:, 2:]], 1)}
            for item in items
        ]

    _assert_equal(reference, detection_error_breakdown(xyxy(preds), xyxy(target), box_format="xyxy"))


def _image(boxes: list, labels: list, scores: list | None = None) -> dict[str, torch.Tensor]:
    out = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels).long()}
    if scores is not None:
        out["scores"] = torch.tensor(scores, dtype=torch.float32)
    return out


GT = [[0.0, 0, 20, 20], [40, 40, 10, 10]]
EDGE_CASES = {
    "no detections": ([_image([], [], []), _image([], [], [])], [_image(GT, [0, 1]), _image(GT[:1], [1])]),
    "no ground truth": ([_image(GT, [0, 1], [0.9, 0.4])], [_image([], [])]),
    "all duplicates": (
        [_image([[0.0, 0, 20, 20], [0, 0, 20, 19], [1, 0, 20, 20]], [0, 0, 0], [0.9, 0.8, 0.7])],
        [_image(GT[:1], [0])],
    ),
    "all background": ([_image([[100.0, 100, 5, 5], [200, 0, 9, 9]], [0, 1], [0.6, 0.3])], [_image(GT, [0, 1])]),
    "nothing at all": ([_image([], [], [])], [_image([], [])]),
    "no images": ([], []),
    "crowd only": (
        [_image([[0.0, 0, 20, 20], [50, 50, 5, 5]], [0, 0], [0.9, 0.5])],
        [{**_image(GT[:1], [0]), "iscrowd": torch.tensor([1])}],
    ),
    "crowd boundary": (  # crowd IoU exactly 0.5 is not ignored (tidecv: > pos_threshold), 100 / 120 is
        [_image([[0.0, 0, 20, 10], [50, 50, 10, 10], [0, 0, 10, 12]], [0, 0, 0], [0.9, 0.8, 0.95])],
        [{**_image([[50.0, 50, 10, 10], [0, 0, 10, 10]], [0, 0]), "iscrowd": torch.tensor([0, 1])}],
    ),
    "class and localisation on one ground truth": (
        [_image([[0.0, 0, 20, 20], [0, 0, 12, 20], [30, 30, 5, 5]], [1, 0, 0], [0.9, 0.8, 0.85])],
        [_image(GT[:1], [0])],
    ),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_equal_tidecv(case: str) -> None:
    preds, target = EDGE_CASES[case]
    reference = tidecv_breakdown(preds, target)
    _assert_equal(reference, detection_error_breakdown(preds, target, box_format="xywh"))
    _assert_equal(reference, _float64(preds, target), FLOAT64_TOLERANCE)
    metric = DetectionErrorBreakdown(box_format="xywh")
    if preds:
        metric.update(preds, target)
        _assert_equal(reference, metric.compute())
    else:
        with pytest.warns(UserWarning, match="before the ``update``"):
            _assert_equal(reference, metric.compute())


def test_the_edge_cases_are_what_they_say() -> None:
    """tidecv divides by zero where no class is left; the cases above reach that and the plain answers."""
    assert math.isnan(tidecv_breakdown(*EDGE_CASES["nothing at all"])["map"])
    no_dets = tidecv_breakdown(*EDGE_CASES["no detections"])
    assert no_dets["map"] == 0 and math.isnan(no_dets["missed"])  # fixing every miss leaves no class
    assert tidecv_breakdown(*EDGE_CASES["all duplicates"])["duplicate"] == 0  # the duplicates come after the hit
    assert tidecv_breakdown(*EDGE_CASES["all background"])["background"] == 0  # no true positive to gain from
    assert tidecv_breakdown(*EDGE_CASES["class and localisation on one ground truth"])["classification"] > 0
    assert tidecv_breakdown(*EDGE_CASES["crowd boundary"])["map"] == 0.5  # the one at 0.5 is a false positive


boxes = st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(1, 10), st.integers(1, 10))


@st.composite
def tide_images(draw: st.DrawFn) -> tuple[list, list]:
    preds, target = [], []
    for _ in range(draw(st.integers(1, 4))):
        gts = draw(st.lists(st.tuples(boxes, st.integers(0, 2), st.booleans()), max_size=4))
        dets = draw(st.lists(st.tuples(boxes, st.integers(0, 2), st.sampled_from([0.2, 0.4, 0.6, 0.8])), max_size=6))
        preds.append(_image([d[0] for d in dets], [d[1] for d in dets], [d[2] for d in dets]))
        crowd = torch.tensor([g[2] and i % 3 == 2 for i, g in enumerate(gts)], dtype=torch.int64)
        target.append({**_image([g[0] for g in gts], [g[1] for g in gts]), "iscrowd": crowd})
    return preds, target


@settings(max_examples=60, deadline=None)
@given(tide_images())
def test_hypothesis_images_equal_tidecv(data: tuple[list, list]) -> None:
    preds, target = data
    _assert_equal(tidecv_breakdown(preds, target), _float64(preds, target), FLOAT64_TOLERANCE)


def test_merge_state_equals_one_metric() -> None:
    preds, target = random_tide_set(11, images=12, ties=True)
    first, second, whole = (DetectionErrorBreakdown(box_format="xywh") for _ in range(3))
    first.update(preds[:5], target[:5])
    second.update(preds[5:], target[5:])
    whole.update(preds, target)
    first.merge_state(second)
    expected = whole.compute()
    result = first.compute()
    assert all(torch.equal(result[key], expected[key]) for key in expected)
    _assert_equal(tidecv_breakdown(preds, target), result)


def test_a_rejected_update_leaves_the_state_unchanged() -> None:
    preds, target = random_tide_set(3, images=4)
    metric = DetectionErrorBreakdown(box_format="xywh")
    metric.update(preds[:2], target[:2])
    before = {name: [t.clone() for t in getattr(metric, name)] for name in metric._defaults}
    bad = [{**preds[2], "boxes": torch.zeros(len(preds[2]["labels"]), 3)}]
    with pytest.raises(ValueError, match="boxes"):
        metric.update(bad, target[2:3])
    with pytest.raises(ValueError, match="scores"):
        metric.update([{k: v for k, v in preds[2].items() if k != "scores"}], target[2:3])
    after = {name: getattr(metric, name) for name in metric._defaults}
    assert all(len(before[n]) == len(after[n]) and all(map(torch.equal, before[n], after[n])) for n in before)
    metric.update(preds[2:], target[2:])
    _assert_equal(tidecv_breakdown(preds, target), metric.compute())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"box_format": "yxyx"}, "box_format"),
        ({"pos_threshold": 0.0}, "pos_threshold"),
        ({"pos_threshold": 1.5}, "pos_threshold"),
        ({"background_threshold": 0.6}, "at most `pos_threshold`"),
        ({"background_threshold": "0.1"}, "background_threshold"),
        ({"max_detections": 0}, "max_detections"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DetectionErrorBreakdown(**kwargs)
    with pytest.raises(ValueError, match=message):
        detection_error_breakdown([], [], **kwargs)


def test_report_logs_each_dap_and_draws_the_breakdown() -> None:
    preds, target = random_tide_set(5, images=6)
    metric = DetectionErrorBreakdown(box_format="xywh")
    metric.update(preds, target)
    value = metric.compute()
    logged = metric.logged_values("tide", value, ReportOptions())
    assert [entry.name for entry in logged] == [f"tide/{key}" for key in (*KEYS, *SPECIAL_KEYS)]
    assert [entry.value for entry in logged] == [float(value[key]) for key in (*KEYS, *SPECIAL_KEYS)]
    assert metric.plot_kinds() == {"error_breakdown": 0}
    (source,) = metric.plot_sources(value, ("error_breakdown",), ReportOptions())
    figure = source.build(None)
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()][:3] == ["Cls", "Loc", "Both"]
    assert figure.axes[0].texts[0].get_text() == f"{float(value['classification']):.3f}"
    with pytest.warns(UserWarning, match="before the ``update``"):
        empty = DetectionErrorBreakdown().compute()
    assert all(entry.undefined for entry in metric.logged_values("tide", empty, ReportOptions()))
    assert metric.plot_sources(empty, ("error_breakdown",), ReportOptions()) == []
    assert np.isnan(float(empty["map"]))


def test_forward_gives_the_batch_and_accumulates_every_batch() -> None:
    preds, target = random_tide_set(17, images=9, ties=True)
    metric = DetectionErrorBreakdown(box_format="xywh")
    batch_value = metric(preds[4:], target[4:])
    _assert_equal(tidecv_breakdown(preds[4:], target[4:]), batch_value)
    metric(preds[:4], target[:4])
    # forward puts the earlier states first: the images in the order they were seen
    _assert_equal(tidecv_breakdown(preds[4:] + preds[:4], target[4:] + target[:4]), metric.compute())


def test_plot_draws_the_callback_figure() -> None:
    preds, target = random_tide_set(5, images=6)
    metric = DetectionErrorBreakdown(box_format="xywh")
    metric.update(preds, target)
    figure, axes = metric.plot()
    assert axes is figure.axes[0] and axes.texts[0].get_text() == f"{float(metric.compute()['classification']):.3f}"
    with pytest.raises(ValueError, match="Expected `ax=None`"):
        metric.plot(ax=axes)
