"""The IoU family: pairwise GIoU/DIoU/CIoU against the published formulas written out here, and the metrics
against torchmetrics' definition (its test cases re-expressed, its published expected values)."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_evalkit import (
    CompleteIntersectionOverUnion,
    DistanceIntersectionOverUnion,
    GeneralizedIntersectionOverUnion,
    IntersectionOverUnion,
)
from lightning_evalkit.functional import (
    complete_box_iou,
    complete_intersection_over_union,
    distance_box_iou,
    distance_intersection_over_union,
    generalized_box_iou,
    generalized_intersection_over_union,
    intersection_over_union,
    plain_box_iou,
)


def _formula(kind: str, a: list[float], b: list[float], eps: float = 1e-7) -> float:
    """IoU (Jaccard), GIoU (Rezatofighi et al. 2019), DIoU and CIoU (Zheng et al. 2020), for one xyxy pair."""
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = area_a + area_b - inter
    iou = inter / union
    cw, ch = max(a[2], b[2]) - min(a[0], b[0]), max(a[3], b[3]) - min(a[1], b[1])
    if kind == "iou":
        return iou
    if kind == "giou":
        return iou - (cw * ch - union) / (cw * ch)
    rho2 = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    diou = iou - rho2 / (cw**2 + ch**2 + eps)
    if kind == "diou":
        return diou
    v = 4 / math.pi**2 * (math.atan((b[2] - b[0]) / (b[3] - b[1])) - math.atan((a[2] - a[0]) / (a[3] - a[1]))) ** 2
    return diou - v / (1 - iou + v + eps) * v


PAIRWISE = {"iou": plain_box_iou, "giou": generalized_box_iou, "diou": distance_box_iou, "ciou": complete_box_iou}


def _random_boxes(seed: int, count: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    corner = torch.rand(count, 2, generator=gen, dtype=torch.float64) * 50
    return torch.cat([corner, corner + 1 + torch.rand(count, 2, generator=gen, dtype=torch.float64) * 30], 1)


@pytest.mark.parametrize("kind", list(PAIRWISE))
def test_pairwise_matrices_equal_the_published_formulas(kind):
    a, b = _random_boxes(0, 7), _random_boxes(1, 5)
    matrix = PAIRWISE[kind](a, b)
    assert matrix.shape == (7, 5) and matrix.dtype == torch.float64
    for i in range(7):
        for j in range(5):
            assert matrix[i, j].item() == pytest.approx(_formula(kind, a[i].tolist(), b[j].tolist()), abs=1e-12)
    xywh = torch.cat([a[:, :2], a[:, 2:] - a[:, :2]], 1), torch.cat([b[:, :2], b[:, 2:] - b[:, :2]], 1)
    torch.testing.assert_close(PAIRWISE[kind](*xywh, box_format="xywh"), matrix)
    assert PAIRWISE[kind](a.float(), b.float()).dtype == torch.float32


# torchmetrics' tests/unittests/detection/test_intersection.py batches (_preds_class/_target_class), re-expressed
_P1 = [[296.55, 93.96, 314.97, 152.79], [298.55, 98.96, 314.97, 151.79]]
_T1 = [[300.00, 100.00, 315.00, 150.00]]
_P2, _P3 = [[328.94, 97.05, 342.49, 122.98]], [[356.62, 95.47, 372.33, 147.55]]
_T2, _T3 = [[330.00, 100.00, 350.00, 125.00]], [[350.00, 100.00, 375.00, 150.00]]


def _item(boxes, labels):
    return {"boxes": torch.tensor(boxes), "labels": torch.tensor(labels)}


BATCHES = [
    ([_item(_P1, [4, 5])], [_item(_T1, [5])]),
    ([_item(_P1, [4, 5])], [_item(_T1, [5])]),
    ([_item(_P2, [4]), _item(_P3, [4])], [_item(_T2, [4]), _item(_T3, [4])]),
    ([_item(_P2, [5]), _item(_P3, [5])], [_item(_T2, [5]), _item(_T3, [4])]),
]


def _reference(kind, batches, respect_labels, iou_threshold, class_metrics):
    """torchmetrics' test reference (its ``_tv_wrapper_class``) with the formulas above for torchvision's."""
    values, labels_seen = [], set()
    for preds, target in batches:
        for p, t in zip(preds, target, strict=True):
            labels_seen.update(p["labels"].tolist() + t["labels"].tolist())
            for i, pb in enumerate(p["boxes"].double().tolist()):
                for j, tb in enumerate(t["boxes"].double().tolist()):
                    value = _formula(kind, pb, tb)
                    same = p["labels"][i] == t["labels"][j]
                    if (iou_threshold is None or value >= iou_threshold) and (same or not respect_labels):
                        values.append((value, int(t["labels"][j])))
    result = {kind: sum(v for v, _ in values) / len(values) if values else 0.0}
    if class_metrics:
        for label in sorted(labels_seen):
            mine = [v for v, c in values if c == label]
            result[f"{kind}/cl_{label}"] = sum(mine) / len(mine) if mine else 0.0
    return result


CLASSES = {
    "iou": (IntersectionOverUnion, intersection_over_union),
    "giou": (GeneralizedIntersectionOverUnion, generalized_intersection_over_union),
    "diou": (DistanceIntersectionOverUnion, distance_intersection_over_union),
    "ciou": (CompleteIntersectionOverUnion, complete_intersection_over_union),
}


@pytest.mark.parametrize("kind", list(CLASSES))
@pytest.mark.parametrize("respect_labels", [True, False])
@pytest.mark.parametrize("iou_threshold", [None, 0.5, 0.7, 0.9])
@pytest.mark.parametrize("class_metrics", [True, False])
def test_class_and_functional_equal_torchmetrics_definition(kind, respect_labels, iou_threshold, class_metrics):
    metric_class, functional = CLASSES[kind]
    args = {"respect_labels": respect_labels, "iou_threshold": iou_threshold, "class_metrics": class_metrics}
    metric = metric_class(**args)
    for preds, target in BATCHES:
        metric.update(preds, target)
    expected = _reference(kind, BATCHES, **args)
    result = metric.compute()
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert result[key].item() == pytest.approx(value, abs=1e-6), key
    single = functional(*BATCHES[2], **args)
    for key, value in _reference(kind, BATCHES[2:3], **args).items():
        assert single[key].item() == pytest.approx(value, abs=1e-6), key


@pytest.mark.parametrize("kind", list(CLASSES))
def test_torchmetrics_empty_image_cases(kind):
    """torchmetrics' published cases: one empty prediction gives 0 everywhere; an empty side against the same
    boxes on the other image gives 0.5 everywhere."""
    metric_class, _ = CLASSES[kind]
    target = [_item([[8.0, 70, 76, 110], [247.0, 131, 315, 175], [361.0, 177, 395, 203]], [0, 0, 0])]
    empty = {"boxes": torch.empty(0, 4), "labels": torch.tensor([], dtype=torch.int64), "scores": torch.tensor([])}
    metric = metric_class(class_metrics=True)
    metric.update([empty], target)
    assert all(value.item() == 0.0 for value in metric.compute().values())
    boxes = _item([[0.1, 0.1, 0.2, 0.2], [0.3, 0.3, 0.4, 0.4]], [1, 2])
    x, y = [{"boxes": torch.empty(0, 4), "labels": torch.tensor([], dtype=torch.long)}, boxes], [boxes, boxes]
    for preds, target in ((x, y), (y, x)):
        metric = metric_class(class_metrics=True)
        metric.update(preds, target)
        assert all(value.item() == pytest.approx(0.5, abs=1e-6) for value in metric.compute().values())


def test_torchmetrics_corner_cases():
    """torchmetrics issues 1921 and 2905, with its published expected values."""
    boxes = [[300.00, 100.00, 315.00, 150.00], [298.55, 98.96, 314.97, 151.79]]
    metric = IntersectionOverUnion(class_metrics=True, iou_threshold=0.75, respect_labels=True)
    assert all(value.item() == 1.0 for value in metric([_item(boxes, [4, 5])], [_item(boxes, [4, 5])]).values())
    preds = [_item(_P1, [4, 6])]
    target = [_item([[300.00, 100.00, 315.00, 150.00]] * 2, [4, 5])]
    expected = {"iou": 0.6897670030593872, "iou/cl_4": 0.6897670030593872, "iou/cl_5": 0.0, "iou/cl_6": 0.0}
    result = IntersectionOverUnion(class_metrics=True)(preds, target)
    assert {key: pytest.approx(value.item(), abs=1e-7) for key, value in result.items()} == expected


def test_tensor_form_is_torchmetrics_functional():
    preds = torch.tensor([_P1[0], _P2[0], _P3[0]])
    target = torch.tensor([_T1[0], _T2[0], _T3[0]])
    matrix = intersection_over_union(preds, target, aggregate=False)
    torch.testing.assert_close(matrix, plain_box_iou(preds, target))
    assert intersection_over_union(preds, target).item() == pytest.approx(matrix.diag().mean().item())
    cut = generalized_intersection_over_union(preds, target, iou_threshold=0.7, replacement_val=-5.0, aggregate=False)
    reference = generalized_box_iou(preds, target)
    torch.testing.assert_close(cut, torch.where(reference < 0.7, -5.0, reference))
    with pytest.raises(ValueError, match=r"Expected `preds` to be a box tensor of shape \(N, 4\), but got \(25,\)"):
        intersection_over_union(torch.randn(25), torch.randn(25, 4))


@pytest.mark.parametrize("kind", list(PAIRWISE))
def test_zero_area_boxes_give_no_nan(kind):
    points = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 4.0]])
    matrix = PAIRWISE[kind](points, points)
    assert not bool(matrix.isnan().any())
    assert PAIRWISE["iou"](points, points).tolist() == [[0.0, 0.0], [0.0, 0.0]]
