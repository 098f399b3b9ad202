"""evaluate_coco / load_coco (column-wise loader) against pycocotools' COCO + loadRes + COCOeval on random files."""

from __future__ import annotations

import contextlib
import gc
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lightning_evalkit.coco import evaluate_coco, load_coco
from tests._detection_data import random_images

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _coco_files(seed: int, num_images: int, unknown_category: bool) -> tuple[dict, list[dict]]:
    """A ground-truth dataset with scattered image ids and a results list in shuffled order."""
    preds, target = random_images(seed, num_images, scale=6, given_area=True)
    rng = np.random.default_rng(seed)
    ids = (rng.permutation(num_images * 3)[:num_images] + 1).tolist()
    images = [{"id": image_id, "height": 100, "width": 100} for image_id in ids]
    annotations, results = [], []
    for image_id, pred, gt in zip(ids, preds, target, strict=True):
        for box, label, crowd, area in zip(
            gt["boxes"].tolist(), gt["labels"].tolist(), gt["iscrowd"].tolist(), gt["area"].tolist(), strict=True
        ):
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": label, "bbox": box}
            annotations.append({**ann, "area": area, "iscrowd": crowd})
        columns = (pred["boxes"].tolist(), pred["labels"].tolist(), pred["scores"].tolist())
        for box, label, score in zip(*columns, strict=True):
            results.append({"image_id": image_id, "category_id": label, "bbox": box, "score": score})
    if unknown_category and results:
        results.append({**results[0], "category_id": 99, "score": 1.0})
    results = [results[i] for i in rng.permutation(len(results))]
    categories = [{"id": c} for c in range(4)]  # random_images' labels lie in 0..3
    return {"images": images, "annotations": annotations, "categories": categories}, results


def _pycocotools(gt: dict, results: list[dict]) -> dict[str, np.ndarray]:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results) if results else COCO(), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {"stats": evaluator.stats, **{key: evaluator.eval[key] for key in ("precision", "recall", "scores")}}


@settings(max_examples=25, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_images=st.integers(1, 8),
    unknown_category=st.booleans(),
    images_per_update=st.integers(1, 4),
)
def test_evaluate_coco_equals_pycocotools(seed, num_images, unknown_category, images_per_update) -> None:
    gt, results = _coco_files(seed, num_images, unknown_category)
    if not results:
        return
    ours = evaluate_coco(gt, results, "bbox", images_per_update)
    ref = _pycocotools(gt, results)
    # pycocotools keeps every ground-truth category, also those never seen; ours the classes seen
    seen = np.searchsorted(np.arange(4), ours["classes"].numpy())
    np.testing.assert_allclose(ours["precision"].numpy(), ref["precision"][:, :, seen], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["recall"].numpy(), ref["recall"][:, seen], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["scores"].numpy(), ref["scores"][:, :, seen], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["stats"].numpy(), ref["stats"], rtol=0, atol=1e-12)


def test_load_coco_groups_results_by_image_in_file_order() -> None:
    gt, results = _coco_files(3, 5, unknown_category=True)
    preds, target = load_coco(gt, results)
    ids = sorted(image["id"] for image in gt["images"])
    assert [int(t["image_id"]) for t in target] == ids
    for image_id, item in zip(ids, preds, strict=True):
        mine = [r for r in results if r["image_id"] == image_id and r["category_id"] != 99]
        assert item["scores"].tolist() == [r["score"] for r in mine]
        assert item["boxes"].tolist() == [r["bbox"] for r in mine]
        assert item["labels"].tolist() == [r["category_id"] for r in mine]
    for image_id, item in zip(ids, target, strict=True):
        mine = [a for a in gt["annotations"] if a["image_id"] == image_id]
        assert item["area"].tolist() == [a["area"] for a in mine]
        assert item["iscrowd"].tolist() == [a["iscrowd"] for a in mine]


def test_load_coco_leaves_the_garbage_collector_as_it_was(tmp_path) -> None:
    gt, results = _coco_files(1, 2, unknown_category=False)
    assert gc.isenabled()
    load_coco(gt, results)
    assert gc.isenabled()
    gc.disable()
    try:
        load_coco(gt, results)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("result", "match"),
    [
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}, "bbox"),
        ({"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, "category_id"),
        ({"category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, "image_id"),
    ],
)
def test_malformed_results_name_the_field(result: dict, match: str) -> None:
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": []}
    good = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}
    with pytest.raises(ValueError, match=match):
        load_coco(gt, [good, result])
