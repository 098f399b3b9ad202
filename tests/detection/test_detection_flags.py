"""The packed (threshold, area range) flags of the mAP and LVIS states: packing round-trips, numpy and torch
agree, and matching with more than 8 area ranges (several bytes per row) gives the flags of fewer."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit.detection.coco import flags
from lightning_evalkit.detection.coco.match import coco_match
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.mean_ap import AREA_RANGES, DEFAULT_IOU_THRESHOLDS
from tests._detection_data import random_images


@pytest.mark.parametrize("num_areas", [1, 3, 4, 8, 9, 17])
def test_pack_round_trips_and_numpy_equals_torch(num_areas: int, monkeypatch: pytest.MonkeyPatch) -> None:
    values = torch.rand(37, 5, num_areas, generator=torch.Generator().manual_seed(num_areas)) > 0.5
    packed = flags.pack_area_flags(values)
    assert packed.dtype == torch.uint8 and packed.shape == (37, 5, -(-num_areas // 8))
    assert flags.unpack_area_flags(packed, num_areas).equal(values)
    assert flags.unpack_area_flags(packed[:0], num_areas).shape == (0, 5, num_areas)
    by_row = values.permute(1, 2, 0).reshape(5 * num_areas, 37)  # row t * A + a
    assert flags.unpack_area_flags_by_row(packed, num_areas).equal(by_row)
    assert flags.unpack_area_flags_by_row(packed[:0], num_areas).shape == (5 * num_areas, 0)
    monkeypatch.setattr(flags, "_numpy_fits", lambda tensor: False)
    assert flags.pack_area_flags(values).equal(packed)
    assert flags.unpack_area_flags(packed, num_areas).equal(values)
    assert flags.unpack_area_flags_by_row(packed, num_areas).equal(by_row)


def test_the_bit_of_each_area_range() -> None:
    values = torch.zeros(1, 1, 10, dtype=torch.bool)
    values[0, 0, [0, 2, 9]] = True
    assert flags.pack_area_flags(values).tolist() == [[[0b101, 0b10]]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_more_than_eight_area_ranges_give_the_same_flags(seed: int) -> None:
    preds, target = random_images(seed, 6, max_dets=14, scale=6, given_area=True)
    batch = parse_detection_inputs(preds, target, "xywh")
    thresholds = torch.tensor(DEFAULT_IOU_THRESHOLDS, dtype=torch.float64)
    ranges = torch.tensor(AREA_RANGES, dtype=torch.float64)
    few = coco_match(batch, thresholds, ranges, 100, "bbox")
    many = coco_match(batch, thresholds, torch.cat([ranges, ranges, ranges[:1]]), 100, "bbox")  # 9 ranges
    for name in ("det_matched", "det_ignored"):
        wide = flags.unpack_area_flags(getattr(many, name), 9)
        assert wide[..., :4].equal(flags.unpack_area_flags(getattr(few, name), 4)), name
        assert wide[..., 4:8].equal(wide[..., :4]) and wide[..., 8].equal(wide[..., 0]), name
