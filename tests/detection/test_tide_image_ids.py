"""DetectionErrorBreakdown with ``image_id``: score ties across images are broken by image id, so images fed in any
order give tidecv's result on the images in ascending id order; a mix of given and missing ids is refused."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from lightning_evalkit import DetectionErrorBreakdown
from lightning_evalkit.functional import detection_error_breakdown
from tests._tide_data import KEYS, SPECIAL_KEYS, random_tide_set, tidecv_breakdown

pytest.importorskip("tidecv")


def with_ids(target: list[dict], ids: list[int]) -> list[dict]:
    """Alternate int and one-element tensor ids, as datasets give either."""
    return [
        {**t, "image_id": i if n % 2 else torch.tensor([i])} for n, (t, i) in enumerate(zip(target, ids, strict=True))
    ]


def shuffled_tie_set(seed: int, images: int = 10) -> tuple[list, list, list, list[int]]:
    """(preds, target) in id order, and the same images shuffled with their ids (a fixed permutation)."""
    preds, target = random_tide_set(seed, images=images, ties=True)
    ids = [3 * n + 5 for n in range(images)]
    order = torch.randperm(images, generator=torch.Generator().manual_seed(seed)).tolist()
    return preds, with_ids(target, ids), [preds[i] for i in order], [with_ids(target, ids)[i] for i in order]


def _assert_equal(reference: dict[str, float], ours: dict[str, Any]) -> None:
    for key in (*KEYS, *SPECIAL_KEYS):
        got, expected = float(ours[key]), reference[key]
        assert (math.isnan(got) and math.isnan(expected)) or abs(got - expected) <= 1e-6, (key, got, expected)


@pytest.mark.parametrize("seed", range(4))
def test_shuffled_images_with_ids_equal_tidecv_in_id_order(seed: int) -> None:
    preds, target, shuffled_preds, shuffled_target = shuffled_tie_set(seed)
    reference = tidecv_breakdown(preds, target)
    metric = DetectionErrorBreakdown(box_format="xywh")
    for first in range(0, len(shuffled_preds), 3):
        metric.update(shuffled_preds[first : first + 3], shuffled_target[first : first + 3])
    _assert_equal(reference, metric.compute())
    _assert_equal(reference, detection_error_breakdown(shuffled_preds, shuffled_target, box_format="xywh"))


def test_the_tie_set_depends_on_image_order() -> None:
    """The data above can fail the test: tidecv itself differs when the shuffled images keep no ids."""
    differs = []
    for seed in range(4):
        preds, target, shuffled_preds, shuffled_target = shuffled_tie_set(seed)
        in_order, shuffled = tidecv_breakdown(preds, target), tidecv_breakdown(shuffled_preds, shuffled_target)
        differs.append(any(abs(in_order[key] - shuffled[key]) > 1e-9 for key in in_order))
    assert any(differs)


def test_mixed_given_and_missing_ids_are_refused_and_leave_the_state() -> None:
    preds, target = random_tide_set(0, images=4, ties=True)
    metric = DetectionErrorBreakdown(box_format="xywh")
    metric.update(preds[:2], with_ids(target[:2], [0, 1]))
    before = {name: [t.clone() for t in getattr(metric, name)] for name in metric._defaults}
    with pytest.raises(ValueError, match="`image_id` in every target or in none"):
        metric.update(preds[2:], target[2:])
    for name, values in before.items():
        assert len(getattr(metric, name)) == len(values)
        assert all(torch.equal(a, b) for a, b in zip(getattr(metric, name), values, strict=True))
    with pytest.raises(ValueError, match="`image_id` in every target"):  # within one batch: the parser
        metric.update(preds[2:], [*with_ids(target[2:3], [2]), target[3]])
    other = DetectionErrorBreakdown(box_format="xywh")
    other.update(preds[2:], target[2:])
    metric.merge_state(other)
    with pytest.raises(ValueError, match="`image_id` in every target or in none"):
        metric.compute()


def test_merge_state_with_ids_equals_tidecv_in_id_order() -> None:
    preds, target, shuffled_preds, shuffled_target = shuffled_tie_set(1)
    first, second = DetectionErrorBreakdown(box_format="xywh"), DetectionErrorBreakdown(box_format="xywh")
    second.update(shuffled_preds[:4], shuffled_target[:4])  # merged after `first`, though seen in any order
    first.update(shuffled_preds[4:], shuffled_target[4:])
    first.merge_state(second)
    _assert_equal(tidecv_breakdown(preds, target), first.compute())
