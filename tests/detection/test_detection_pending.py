"""bbox batches wait in MeanAveragePrecision and are matched together: every way of reading the metric sees
exactly what matching each update at once gives (states bit for bit, results equal)."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchmetrics import MetricCollection

from lightning_evalkit import MeanAveragePrecision
from tests._ddp import run_in_processes
from tests._detection_data import random_images, split_points

pytestmark = pytest.mark.filterwarnings("ignore:No ground truth was counted")
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}
NEVER = 10**9  # a pending limit never reached: every batch waits until the states are read


def _metric(limit: int, **kwargs) -> MeanAveragePrecision:
    metric = MeanAveragePrecision(box_format="xywh", **kwargs)
    metric._pending_limit = limit
    return metric


def _feed(metric: MeanAveragePrecision, preds, target, bounds) -> MeanAveragePrecision:
    for start, stop in bounds:
        metric.update(preds[start:stop], target[start:stop])
    return metric


def _states(metric: MeanAveragePrecision) -> dict[str, torch.Tensor]:
    return {name: metric._cat_state(name) for name in metric._templates}


def _assert_equal(result: dict, expected: dict) -> None:
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(result[key], value), key


def _data(seed: int = 4, num_images: int = 9, with_ids: bool = False):
    preds, target = random_images(seed, num_images, scale=6, given_area=True)
    if with_ids:
        target = [{**t, "image_id": 100 - i} for i, t in enumerate(target)]
    return preds, target


@settings(max_examples=40, **SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_images=st.integers(1, 9),
    parts=st.integers(1, 5),
    limit=st.sampled_from([1, 2, 3, NEVER]),
    average=st.sampled_from(["macro", "micro"]),
    with_ids=st.booleans(),
)
def test_pending_batches_give_the_states_of_matching_each_update(seed, num_images, parts, limit, average, with_ids):
    preds, target = _data(seed, num_images, with_ids)
    bounds = split_points(seed, num_images, parts)
    kwargs = dict(average=average, class_metrics=True)
    at_once, waiting = (
        _feed(_metric(0, **kwargs), preds, target, bounds),
        _feed(_metric(limit, **kwargs), preds, target, bounds),
    )
    assert _states(waiting).keys() == _states(at_once).keys()
    for name, value in _states(at_once).items():
        assert torch.equal(_states(waiting)[name], value), name
    _assert_equal(waiting.compute(), at_once.compute())


@pytest.mark.parametrize("limit", [0, NEVER])
def test_every_way_of_reading_the_metric_sees_the_pending_batches(limit):
    preds, target = _data()
    expected = _feed(_metric(0), preds, target, [(0, 4), (4, 9)]).compute()
    make = lambda: _feed(_metric(limit), preds, target, [(0, 4), (4, 9)])  # noqa: E731
    _assert_equal(make().compute(), expected)
    _assert_equal(copy.deepcopy(make()).compute(), expected)
    _assert_equal(make().clone().compute(), expected)
    _assert_equal(pickle.loads(pickle.dumps(make())).compute(), expected)
    _assert_equal(make().to("cpu").compute(), expected)
    _assert_equal(make().double().compute(), expected)
    persistent = make()
    persistent.persistent(True)
    buffer = io.BytesIO()
    torch.save(persistent.state_dict(), buffer)
    loaded = _feed(_metric(limit), preds[:2], target[:2], [(0, 2)])  # its own pending batch is replaced
    loaded.persistent(True)
    loaded.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    _assert_equal(loaded.compute(), expected)
    # merge_state puts the incoming records first: image ids make the result independent of that order
    preds, target = _data(with_ids=True)
    first, second = _feed(_metric(limit), preds, target, [(0, 4)]), _feed(_metric(limit), preds, target, [(4, 9)])
    first.merge_state(second)
    _assert_equal(first.compute(), _feed(_metric(0), preds, target, [(0, 9)]).compute())
    state = make().metric_state
    assert all(torch.equal(torch.cat(state[name]), value) for name, value in _states(make()).items())


def test_forward_returns_the_batch_value_and_accumulates():
    preds, target = _data()
    at_once, waiting = _metric(0), _metric(NEVER)
    for start, stop in [(0, 3), (3, 5), (5, 9)]:
        _assert_equal(waiting(preds[start:stop], target[start:stop]), at_once(preds[start:stop], target[start:stop]))
    _assert_equal(waiting.compute(), at_once.compute())


def test_reset_forgets_pending_batches():
    preds, target = _data()
    metric = _feed(_metric(NEVER), preds, target, [(0, 4)])
    metric.reset()
    _feed(metric, preds, target, [(4, 9)])
    _assert_equal(metric.compute(), _feed(_metric(0), preds, target, [(4, 9)]).compute())


def test_a_collection_with_compute_groups_equals_separate_metrics():
    preds, target = _data()
    configs = {"plain": {}, "micro": {"average": "micro"}, "twice": {}, "thr": {"iou_thresholds": [0.5, 0.6]}}
    collection = MetricCollection({name: _metric(NEVER, **kwargs) for name, kwargs in configs.items()})
    for start, stop in [(0, 4), (4, 6), (6, 9)]:
        collection.update(preds[start:stop], target[start:stop])
    result = collection.compute()
    for name, kwargs in configs.items():
        expected = _feed(_metric(0, **kwargs), preds, target, [(0, 9)]).compute()
        _assert_equal({key[len(name) + 1 :]: v for key, v in result.items() if key.startswith(name + "_")}, expected)


def _evaluate(rank: int, world_size: int, limit: int) -> dict:
    preds, target = _data(num_images=11, with_ids=True)
    bounds = [(0, 0), (0, 11)] if limit == NEVER else [(0, 5), (5, 11)]
    start, stop = bounds[rank]
    return _feed(_metric(limit), preds, target, [(i, min(i + 2, stop)) for i in range(start, stop, 2)]).compute()


@pytest.mark.ddp
@pytest.mark.parametrize("limit", [pytest.param(3, marks=pytest.mark.slow), NEVER])
def test_two_gloo_ranks_with_pending_batches_equal_one_process(limit):
    preds, target = _data(num_images=11, with_ids=True)
    expected = _feed(_metric(0), preds, target, [(0, 11)]).compute()
    for result in run_in_processes(_evaluate, 2, limit):
        _assert_equal(result, expected)
