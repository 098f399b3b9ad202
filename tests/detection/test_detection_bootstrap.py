"""ImageBootstrapInterval: each resample equals pycocotools run on the drawn images (each image copied as often as
its Poisson weight says, under new ids in the same order); the bounds are numpy's percentiles of the resamples;
the order of the images, merging, 2 gloo processes and a COCO JSON round trip change no bit; bad input is refused
and changes nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from lightning_evalkit import ImageBootstrapInterval, MeanAveragePrecision
from lightning_evalkit.coco import load_coco, tm_to_coco
from lightning_evalkit.detection.coco.json_io import STAT_KEYS
from lightning_evalkit.statistics.bootstrap import poisson_weights
from tests._coco_reference import pycocotools_eval, pycocotools_stats, summary_from_arrays
from tests._ddp import run_in_processes
from tests._detection_data import random_images

NUM_IMAGES = 24
SEED = 5


def _data(seed: int = 3, num_images: int = NUM_IMAGES) -> tuple[list[dict], list[dict]]:
    """Random images with tied scores and crowds, each target with a unique id in shuffled order."""
    preds, target = random_images(seed, num_images, num_classes=3, scale=4, tied_scores=True)
    ids = (torch.randperm(num_images, generator=torch.Generator().manual_seed(seed)) * 7 + 11).tolist()
    return preds, [{**t, "image_id": image_id} for t, image_id in zip(target, ids, strict=True)]


def _fed(preds: list[dict], target: list[dict], order: list[int], batch: int = 5, **kwargs: Any) -> Any:
    num_resamples = kwargs.pop("n", 40)
    metric = ImageBootstrapInterval(MeanAveragePrecision(box_format="xywh", **kwargs), num_resamples, seed=SEED)
    for start in range(0, len(order), batch):
        chosen = order[start : start + batch]
        metric.update([preds[i] for i in chosen], [target[i] for i in chosen])
    return metric


def _drawn(preds: list[dict], target: list[dict], resample: int) -> tuple[list[dict], list[dict]]:
    """The images of one resample: in id order, each repeated by its weight (pycocotools numbers them anew)."""
    by_id = sorted(range(len(target)), key=lambda i: target[i]["image_id"])
    ids = torch.tensor([target[i]["image_id"] for i in by_id])
    weights = poisson_weights(SEED, ids, resample).tolist()
    chosen = [i for i, weight in zip(by_id, weights, strict=True) for _ in range(weight)]
    return [preds[i] for i in chosen], [target[i] for i in chosen]


def _per_class(precision: np.ndarray, recall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' per-class AP and AR at the largest max-detections, area all (-1 where undefined)."""

    def mean(values: np.ndarray) -> float:
        defined = values[values > -1]
        return float(np.mean(defined)) if defined.size else -1.0

    classes = precision.shape[2]
    return (
        np.array([mean(precision[:, :, k, 0, -1]) for k in range(classes)]),
        np.array([mean(recall[:, k, 0, -1]) for k in range(classes)]),
    )


def _as_nan(value: float) -> float:
    return float("nan") if value == -1 else value


def test_each_resample_equals_pycocotools_on_the_drawn_images() -> None:
    preds, target = _data()
    metric = _fed(preds, target, list(range(NUM_IMAGES)), class_metrics=True)
    resampled = metric.resampled()
    classes = metric.compute()["classes"].tolist()
    for resample in range(5):
        drawn = _drawn(preds, target, resample)
        arrays = pycocotools_eval(*drawn, box_format="xywh")
        stats = summary_from_arrays(arrays["precision"], arrays["recall"], np.linspace(0.5, 0.95, 10), [1, 10, 100])
        for key, value in stats.items():
            np.testing.assert_allclose(float(resampled[key][resample]), _as_nan(value), atol=1e-6, err_msg=key)
        # pycocotools' categories are the labels of the drawn images: place them among all the classes
        drawn_labels = sorted({int(v) for item in [*drawn[0], *drawn[1]] for v in item["labels"]})
        per_class_ap, per_class_ar = _per_class(arrays["precision"], arrays["recall"])
        expected_ap = np.full(len(classes), np.nan)
        expected_ar = np.full(len(classes), np.nan)
        for position, label in enumerate(drawn_labels):
            expected_ap[classes.index(label)] = _as_nan(per_class_ap[position])
            expected_ar[classes.index(label)] = _as_nan(per_class_ar[position])
        np.testing.assert_allclose(resampled["map_per_class"][resample].numpy(), expected_ap, atol=1e-6)
        np.testing.assert_allclose(resampled["mar_100_per_class"][resample].numpy(), expected_ar, atol=1e-6)
    # the resamples differ from the data and from each other (the test could fail)
    assert len({float(v) for v in resampled["map"][:5]}) == 5


def test_the_value_is_the_wrapped_metrics_and_the_bounds_are_numpys_percentiles() -> None:
    preds, target = _data()
    metric = _fed(preds, target, list(range(NUM_IMAGES)), class_metrics=True)
    result, resampled = metric.compute(), metric.resampled()
    plain = MeanAveragePrecision(box_format="xywh", class_metrics=True)
    plain.update(preds, target)
    for key, value in plain.compute().items():
        assert torch.equal(result[key], value), key
    for key, values in resampled.items():
        flat = values.reshape(values.shape[0], -1).numpy()
        for column in range(flat.shape[1]):
            defined = flat[:, column][~np.isnan(flat[:, column])]
            lower, upper = np.percentile(defined, [2.5, 97.5]) if defined.size else (-1.0, -1.0)
            assert float(result[f"{key}_ci_lower"].reshape(-1)[column]) == pytest.approx(lower, abs=1e-6), key
            assert float(result[f"{key}_ci_upper"].reshape(-1)[column]) == pytest.approx(upper, abs=1e-6), key
    assert float(result["map_ci_lower"]) < float(result["map"]) < float(result["map_ci_upper"])


def test_image_order_batches_and_merging_change_no_bit() -> None:
    preds, target = _data()
    expected = _fed(preds, target, list(range(NUM_IMAGES))).compute()
    shuffled = torch.randperm(NUM_IMAGES, generator=torch.Generator().manual_seed(1)).tolist()
    first, second = _fed(preds, target, shuffled[:9], batch=4), _fed(preds, target, shuffled[9:], batch=7)
    second.merge_state(first)
    for result in (_fed(preds, target, shuffled, batch=3).compute(), second.compute()):
        assert result.keys() == expected.keys()
        assert all(torch.equal(result[key], value) for key, value in expected.items())


def test_resamples_without_ground_truth_are_left_out_and_an_image_without_any_is_undefined() -> None:
    preds, target = _data(num_images=2)
    target = [{**target[0], "boxes": target[0]["boxes"][:0], "labels": target[0]["labels"][:0]}, target[1]]
    target[0]["iscrowd"] = target[0]["iscrowd"][:0]
    metric = _fed(preds, target, [0, 1], n=60)
    undefined = int(metric.resampled()["map"].isnan().sum())
    assert undefined > 0  # image 1 (the only one with ground truth) is left out of some of the 60 resamples
    with pytest.warns(UserWarning, match=f"map is undefined in {undefined} of 60 resamples"):
        result = metric.compute()
    assert -1 < float(result["map_ci_lower"]) <= float(result["map_ci_upper"])
    empty = _fed(preds[:1], target[:1], [0], n=5)  # the image without ground truth alone
    with pytest.warns(UserWarning, match="No ground truth"):
        assert float(empty.compute()["map_ci_lower"]) == -1.0


def _state(metric: Any) -> dict[str, list[torch.Tensor]]:
    return {name: [t.clone() for t in getattr(metric, name)] for name in metric._defaults}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: [{k: v for k, v in item.items() if k != "image_id"} for item in t], "an `image_id` in every"),
        (lambda t: [{**item, "image_id": 11} for item in t], "every image once"),
        (lambda t: [{**t[0], "image_id": 1000}, {**t[1], "image_id": 1000}], "image_id 1000 again"),
        (lambda t: [{**t[0], "labels": t[0]["labels"].float()}, t[1]], "labels"),
    ],
)
def test_bad_batches_are_refused_and_change_nothing(change: Any, message: str) -> None:
    preds, target = _data()
    metric = _fed(preds, target, list(range(10)))
    before = _state(metric)
    with pytest.raises((ValueError, TypeError), match=message):
        metric.update(preds[10:12], change(target[10:12]))
    after = _state(metric)
    assert before.keys() == after.keys()
    assert all(len(before[k]) == len(after[k]) for k in before)
    assert all(torch.equal(a, b) for k in before for a, b in zip(before[k], after[k], strict=True))


def test_an_image_id_twice_in_a_batch_is_named() -> None:
    preds, target = _data()
    metric = _fed(preds, target, [])
    ids = [9000, 9000, 1000]  # the repeated id first, so sorting moves it
    with pytest.raises(ValueError, match="image_id 9000 again"):
        metric.update(preds[:3], [{**t, "image_id": i} for t, i in zip(target[:3], ids, strict=True)])


def test_a_metric_that_cannot_be_resampled_by_image_is_refused() -> None:
    from lightning_evalkit import AUROC

    with pytest.raises(TypeError, match=r"Expected `metric` to be a MeanAveragePrecision.*BootstrapInterval"):
        ImageBootstrapInterval(AUROC(task="binary"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="extended_summary=False"):
        ImageBootstrapInterval(MeanAveragePrecision(extended_summary=True))
    with pytest.raises(ValueError, match="num_resamples"):
        ImageBootstrapInterval(MeanAveragePrecision(), num_resamples=1)


def _on_rank(rank: int, world_size: int) -> dict[str, torch.Tensor]:
    preds, target = _data()
    mine = list(range(NUM_IMAGES - 1 - rank, -1, -world_size))  # interleaved, in reverse
    return _fed(preds, target, mine, batch=4).compute()


@pytest.mark.ddp
def test_two_gloo_processes_give_the_bits_of_one() -> None:
    expected = _fed(*_data(), list(range(NUM_IMAGES))).compute()
    for result in run_in_processes(_on_rank, 2):
        assert result.keys() == expected.keys()
        assert all(torch.equal(result[key], value) for key, value in expected.items())


def test_the_plot_draws_each_interval_and_writes_its_bounds() -> None:
    preds, target = _data()
    metric = _fed(preds, target, list(range(NUM_IMAGES)))
    result = metric.compute()
    _, axes = metric.plot(result)
    texts = [text.get_text() for text in axes.texts]
    lower, upper = float(result["map_ci_lower"]), float(result["map_ci_upper"])
    assert f"{float(result['map']):.4f} [{lower:.3f}, {upper:.3f}]" in texts
    assert axes.containers and len(axes.containers[-1].lines[2][0].get_segments()) == sum("[" in t for t in texts)


def test_a_coco_json_round_trip_gives_the_bits_of_the_tensors(tmp_path: Any) -> None:
    # tensors -> tm_to_coco files (image ids = list positions) -> load_coco -> the same resamples, bit for bit;
    # and the value is pycocotools' on those files
    preds, target = random_images(8, NUM_IMAGES, num_classes=3, scale=4, given_area=True)
    name = str(tmp_path / "run")
    tm_to_coco(preds, target, name, box_format="xywh")
    loaded_preds, loaded_target = load_coco(name + "_target.json", name + "_preds.json", "bbox")
    ids = [int(t["image_id"]) for t in loaded_target]
    by_position = [{**t, "image_id": image_id} for t, image_id in zip(target, ids, strict=True)]
    order = list(range(NUM_IMAGES))
    from_tensors = _fed(preds, by_position, order).compute()
    from_files = _fed(loaded_preds, loaded_target, order).compute()
    assert from_files.keys() == from_tensors.keys()
    for key, value in from_tensors.items():
        assert torch.equal(from_files[key], value), key
    reference = pycocotools_stats(name + "_target.json", name + "_preds.json", "bbox")
    for key, value in zip(STAT_KEYS, reference, strict=True):
        assert abs(float(from_files[key]) - value) < 1e-7, key
    assert bool((from_files["map_ci_upper"] > from_files["map_ci_lower"]).all())
