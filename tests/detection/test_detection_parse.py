"""The one parse step for detection input: a single walk over the images into a trusted flat batch."""

from __future__ import annotations

import pytest
import torch

from lightning_evalkit.detection.inputs import walk as _detection_inputs
from lightning_evalkit.detection.inputs.parse import parse_detection_inputs
from lightning_evalkit.detection.inputs.walk import _parse_masks


class _CountingDict(dict):
    """A dict that counts how often each key is read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads: dict[str, int] = {}

    def __getitem__(self, key):
        self.reads[key] = self.reads.get(key, 0) + 1
        return super().__getitem__(key)


def test_each_key_of_each_image_is_read_once():
    pred = _CountingDict(boxes=torch.tensor([[0.0, 0, 2, 2]]), scores=torch.tensor([0.5]), labels=torch.tensor([1]))
    gt = _CountingDict(boxes=torch.tensor([[0.0, 0, 2, 3]]), labels=torch.tensor([1]), iscrowd=torch.tensor([0]))
    batch = parse_detection_inputs([pred], [gt])
    assert set(pred.reads.values()) == {1} and set(gt.reads.values()) == {1}
    assert batch.det_boxes.dtype == torch.float64 and batch.gt_areas.tolist() == [6.0]
    assert batch.det_labels.dtype == torch.long and batch.gt_crowd.dtype == torch.bool


def test_integer_boxes_and_empty_vectors_normalise():
    pred = {"boxes": torch.tensor([[0, 0, 1, 1]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}
    empty = {key: torch.tensor([]) for key in ("boxes", "labels", "iscrowd", "area")}
    batch = parse_detection_inputs([pred], [empty])
    assert batch.det_boxes.tolist() == [[0.0, 0.0, 1.0, 1.0]] and batch.gt_boxes.shape == (0, 4)
    assert batch.gt_labels.dtype == torch.long and batch.gt_labels.numel() == 0


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int32, torch.int64, torch.float32])
def test_parse_masks_accepts_binary_dtypes(dtype):
    masks = torch.tensor([[[0, 1], [1, 1]]]).to(dtype)
    out = _parse_masks(masks, "target", 0)
    assert out.dtype == torch.bool and out.tolist() == [[[False, True], [True, True]]]


def test_parse_masks_contract_for_empty_and_bad_values():
    assert _parse_masks(torch.tensor([]), "preds", 2).shape == (0, 0, 0)
    with pytest.raises(ValueError, match=r"Expected `masks` of image 2 in `preds` to hold only 0 and 1, but got 0.5"):
        _parse_masks(torch.tensor([[[0.5]]]), "preds", 2)
    with pytest.raises(ValueError, match=r"to have shape \(N, H, W\), but got \(2, 2\)"):
        _parse_masks(torch.zeros(2, 2), "preds", 0)
    assert "_parse_masks" in _detection_inputs.__dict__


def test_empty_masks_take_the_other_sides_size():
    pred = {"masks": torch.tensor([]), "scores": torch.tensor([]), "labels": torch.tensor([])}
    gt = {"masks": torch.ones(1, 3, 4, dtype=torch.uint8), "labels": torch.tensor([2])}
    batch = parse_detection_inputs([pred], [gt], iou_types=("segm",))
    det_words, gt_words = batch.det_masks.words[0], batch.gt_masks.words[0]  # dense masks as lines of words
    assert det_words.words.shape[1:] == gt_words.words.shape[1:] and det_words.lines == gt_words.lines == 3
    assert batch.det_areas.shape == (0,) and batch.gt_iou_areas.tolist() == [12.0]
