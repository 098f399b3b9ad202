"""Malformed COCO JSON, generated: the loader and the command line refuse it with one clear error, quickly.

A small valid ground truth and results list are drawn, then broken: one field of one record given a value of the
wrong type or out of range, a required key removed, any node of either file replaced by nested garbage, or the
file's bytes replaced (empty, not UTF-8, not JSON). load_coco / evaluate_coco must raise ValueError or TypeError
whose one-line message names the file (and, for a broken field, the record and the field); the command line must
exit with status 2 and print exactly one line. Every example runs under a deadline.
"""

from __future__ import annotations

import json
import math
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lightning_evalkit.coco import evaluate_coco, main
from lightning_evalkit.detection.rle import rle_encode

SETTINGS = settings(
    max_examples=60,
    deadline=timedelta(seconds=2),
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
HEIGHT, WIDTH = 12, 16
MODES = ("bbox", "segm", "bbox-from-segm")  # the last: results with RLE only, evaluated as boxes


def _rle(x: int, y: int, w: int, h: int) -> dict:
    mask = torch.zeros(1, HEIGHT, WIDTH, dtype=torch.bool)
    mask[0, y : y + h, x : x + w] = True
    return {"size": [HEIGHT, WIDTH], "counts": rle_encode(mask)[0]["counts"].decode()}


@st.composite
def _rect(draw: st.DrawFn) -> tuple[int, int, int, int]:
    x, y = draw(st.integers(0, WIDTH - 2)), draw(st.integers(0, HEIGHT - 2))
    return x, y, draw(st.integers(1, WIDTH - x)), draw(st.integers(1, HEIGHT - y))


@st.composite
def coco_files(draw: st.DrawFn, mode: str) -> tuple[dict, list[dict]]:
    """A valid ground truth (1-3 images, 2 categories, polygons) and results (boxes and/or RLE) for ``mode``."""
    ids = draw(st.lists(st.integers(1, 50), min_size=1, max_size=3, unique=True))
    images = [{"id": i, "height": HEIGHT, "width": WIDTH, "file_name": f"{i}.jpg"} for i in ids]
    annotations, results = [], []
    for k in range(draw(st.integers(1, 4))):
        x, y, w, h = draw(_rect())
        polygon = [x, y, x + w, y, x + w, y + h, x, y + h]
        ann = {"id": 100 + k, "image_id": draw(st.sampled_from(ids)), "category_id": draw(st.sampled_from([1, 2]))}
        ann.update(bbox=[x, y, w, h], area=w * h, iscrowd=draw(st.sampled_from([0, 1])), segmentation=[polygon])
        annotations.append(ann)
    for _ in range(draw(st.integers(1, 4))):
        x, y, w, h = draw(_rect())
        result = {"image_id": draw(st.sampled_from(ids)), "category_id": draw(st.sampled_from([1, 2]))}
        result["score"] = draw(st.floats(0, 1))
        if mode == "bbox":
            result["bbox"] = [x, y, w, h]
        else:
            result["segmentation"] = _rle(x, y, w, h)
        results.append(result)
    categories = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    return {"images": images, "annotations": annotations, "categories": categories}, results


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
)
GARBAGE = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)
_NOT_NUMBER = st.one_of(st.none(), st.booleans(), st.text(max_size=4), st.lists(st.integers(), max_size=2), st.just({}))
_NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
_NOT_ID = st.one_of(_NOT_NUMBER, st.floats(), st.integers(2**63, 2**70), st.integers(-(2**70), -(2**63) - 1))


def _bad_box() -> st.SearchStrategy:
    number = st.integers(0, 9)
    return st.one_of(
        _NOT_NUMBER.filter(lambda v: not isinstance(v, list)),
        st.lists(number, max_size=3),
        st.lists(number, min_size=5, max_size=6),
        st.tuples(number, number, st.integers(-9, -1), number).map(list),
        st.tuples(number, number, number, st.floats(-9, -0.01)).map(list),
        st.tuples(number, number, number, _NOT_NUMBER | _NOT_FINITE).map(list),
    )


def _bad_rle() -> st.SearchStrategy:
    good = _rle(1, 1, 2, 2)
    return st.one_of(
        st.just({"size": [HEIGHT, WIDTH]}),
        st.just({"counts": good["counts"]}),
        st.builds(lambda size: {**good, "size": size}, _NOT_NUMBER | st.lists(st.integers(-3, 3), max_size=3)),
        st.just({**good, "size": [4, 4]}),  # not the image's size
        st.builds(lambda counts: {**good, "counts": counts}, st.text(alphabet="!#$%~é\x00", min_size=1, max_size=6)),
        st.builds(lambda c: {**good, "counts": c}, st.lists(st.integers(-5, 200), min_size=1, max_size=4)).filter(
            lambda rle: min(rle["counts"]) < 0 or sum(rle["counts"]) != HEIGHT * WIDTH
        ),
        st.builds(lambda counts: {**good, "counts": counts}, st.none() | st.floats() | st.just({})),
    )


def _bad_polygons() -> st.SearchStrategy:
    return st.one_of(
        st.just([]),
        st.just([[1, 1, 5, 1, 5]]),  # odd
        st.just([["1", 1, 5, 1, 5, 5]]),
        st.just([[1, 1, 5, 1, math.nan, 5]]),
        st.just([[1, 1, 5e12, 1, 5, 5]]),  # far off: pycocotools would walk it pixel by pixel
        st.just([1, 2, 3, 4, 5, 6]),
        _NOT_NUMBER.filter(lambda v: not isinstance(v, list | dict)),
    )


BAD_VALUES = {  # field -> values that are wrong for it (DELETE: the key removed)
    "image_id": _NOT_ID | st.integers(51, 10**6),  # ids above 50 name no image
    "category_id": _NOT_ID,
    "bbox": _bad_box(),
    "score": _NOT_NUMBER | _NOT_FINITE,
    "area": _NOT_NUMBER | _NOT_FINITE | st.floats(-1e6, -0.01),
    "iscrowd": st.one_of(st.integers(2, 9), st.integers(-9, -1), st.text(max_size=2), st.none(), st.floats(0.1, 0.9)),
    "id": _NOT_ID,
    "gt_segmentation": _bad_rle() | _bad_polygons(),
    "dt_segmentation": _bad_rle() | st.just([[1, 1, 5, 1, 5, 5]]),
}
DELETE = object()
FIELDS = {  # record list -> the fields every evaluation reads, and which of them it requires (see _fields)
    "annotations": (["image_id", "category_id", "area", "iscrowd"], ["image_id", "category_id"]),
    "images": (["id"], ["id"]),
    "categories": (["id"], ["id"]),
    "results": (["image_id", "category_id", "score"], ["image_id", "category_id", "score"]),
}
KIND = {"annotations": "annotation", "images": "image", "categories": "category", "results": "result"}


def _fields(mode: str, where: str) -> tuple[list[str], list[str]]:
    read, required = (list(v) for v in FIELDS[where])
    extra = {
        ("bbox", "annotations"): "bbox",
        ("bbox", "results"): "bbox",
        ("bbox-from-segm", "annotations"): "bbox",
        ("bbox-from-segm", "results"): "segmentation",
        ("segm", "annotations"): "segmentation",
        ("segm", "results"): "segmentation",
    }.get((mode, where))
    return ([*read, extra], [*required, extra]) if extra else (read, required)


@st.composite
def broken_field(draw: st.DrawFn) -> tuple[str, dict, list, tuple[str, int, str]]:
    """A valid pair with one field of one record made wrong: (mode, gt, results, (list, record, field))."""
    mode = draw(st.sampled_from(MODES))
    gt, results = draw(coco_files(mode))
    where = draw(st.sampled_from(["annotations", "images", "categories", "results"]))
    records = results if where == "results" else gt[where]
    index = draw(st.integers(0, len(records) - 1))
    read, required = _fields(mode, where)
    field = draw(st.sampled_from(read))
    strategy = (
        BAD_VALUES["dt_segmentation" if where == "results" else "gt_segmentation"]
        if field == "segmentation"
        else BAD_VALUES[field]
    )
    value = draw(strategy | st.just(DELETE)) if field in required else draw(strategy)
    if value is DELETE:
        del records[index][field]
    else:
        records[index][field] = value
    return mode, gt, results, (where, index, field)


def _fixed(mode: str, where: str, index: int, field: str, value: Any) -> tuple[str, dict, list, tuple]:
    """One broken field of a fixed valid pair: the cases that must be tried every run (pycocotools crashes on
    them: a polygon point at 5e12 makes its rasteriser segfault, negative counts overflow its uint32)."""
    gt = {
        "images": [{"id": 3, "height": HEIGHT, "width": WIDTH}, {"id": 4, "height": HEIGHT, "width": WIDTH}],
        "categories": [{"id": 1}, {"id": 2}],
        "annotations": [
            {"id": 7, "image_id": 3, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0},
            {"id": 8, "image_id": 4, "category_id": 2, "bbox": [2, 2, 3, 3], "area": 9, "iscrowd": 1},
        ],
    }
    for ann in gt["annotations"]:
        x, y, w, h = ann["bbox"]
        ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    results = [{"image_id": 4, "category_id": 2, "score": 0.5}, {"image_id": 3, "category_id": 1, "score": 0.7}]
    for result in results:
        result.update({"bbox": [1, 1, 4, 4]} if mode == "bbox" else {"segmentation": _rle(1, 1, 4, 4)})
    (results if where == "results" else gt[where])[index][field] = value
    return mode, gt, results, (where, index, field)


_FIXED = [
    _fixed("segm", "annotations", 1, "segmentation", [[1, 1, 5e12, 1, 5, 5]]),
    _fixed("segm", "annotations", 0, "segmentation", {"size": [HEIGHT, WIDTH], "counts": [-1, HEIGHT * WIDTH + 1]}),
    _fixed("segm", "results", 1, "segmentation", {"size": [HEIGHT, WIDTH], "counts": "~~~"}),
    _fixed("bbox-from-segm", "results", 0, "segmentation", {"size": [HEIGHT, WIDTH], "counts": [5, 1]}),
]


def _examples(test: Any) -> Any:
    for case in _FIXED:
        test = example(broken=case)(test)
    return test


def _iou_type(mode: str) -> str:
    return "segm" if mode == "segm" else "bbox"


def _assert_clear(error: BaseException, *files: str) -> str:
    message = str(error)
    assert isinstance(error, ValueError | TypeError), repr(error)
    assert "\n" not in message and message.startswith("Expected "), message
    assert any(name in message for name in files), message
    return message


@SETTINGS
@given(broken=broken_field())
@_examples
def test_a_broken_field_is_named_with_its_file_and_record(broken) -> None:
    mode, gt, results, (where, index, field) = broken
    with pytest.raises((ValueError, TypeError)) as info:
        evaluate_coco(gt, results, _iou_type(mode))
    file = "`results_json`" if where == "results" else "`gt_json`"
    message = _assert_clear(info.value, file)
    assert f"{KIND[where]} {index}" in message and f"`{field}" in message, (where, index, field, message)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


@st.composite
def garbled(draw: st.DrawFn) -> tuple[str, dict, list, str]:
    """A valid pair with any one node (the top level too) of one file replaced by garbage, or a key removed."""
    mode = draw(st.sampled_from(MODES))
    gt, results = draw(coco_files(mode))
    side = draw(st.sampled_from(["gt", "results"]))
    content: Any = gt if side == "gt" else results
    path = draw(st.sampled_from(_paths(content)))
    if not path:  # (a string would be read as a path)
        content = draw(GARBAGE.filter(lambda value: not isinstance(value, str)))
    else:
        parent = content
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(GARBAGE)
    return (mode, content, results, side) if side == "gt" else (mode, gt, content, side)


@SETTINGS
@given(case=garbled())
def test_garbage_anywhere_is_evaluated_or_refused_in_one_line(case) -> None:
    mode, gt, results, side = case
    try:
        result = evaluate_coco(gt, results, _iou_type(mode))
    except (ValueError, TypeError) as error:
        _assert_clear(error, "`gt_json`" if side == "gt" else "`results_json`")
    else:
        assert result["stats"].shape == (12,)


def _not_json(data: bytes) -> bool:
    try:
        json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return True
    return False


BAD_BYTES = st.one_of(
    st.just(b""),
    st.binary(max_size=40).filter(_not_json),
    st.builds(lambda text: b"\xff" + text.encode(), st.text(max_size=10)),  # not UTF-8
    st.builds(lambda depth: b"[" * depth, st.integers(1, 100_000)),  # truncated, or nested past the parser
    st.builds(lambda garbage: json.dumps(garbage).encode(), GARBAGE),  # JSON, but not COCO
)


def _cli(capsys: pytest.CaptureFixture, folder: Path, gt: Any, results: Any, mode: str) -> tuple[int, list[str]]:
    files = []
    for name, content in (("gt.json", gt), ("dt.json", results)):
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
        files.append(str(path))
    capsys.readouterr()
    try:
        main([*files, "--iou-type", _iou_type(mode)])
    except SystemExit as done:
        code = int(done.code or 0)
    else:
        code = 0
    return code, capsys.readouterr().err.splitlines()


@SETTINGS
@given(mode=st.sampled_from(MODES), side=st.sampled_from(["gt", "results"]), content=BAD_BYTES, data=st.data())
def test_command_line_on_bad_bytes_is_one_line_and_status_2(capsys, mode, side, content, data) -> None:
    gt, results = data.draw(coco_files(mode))
    if side == "gt":
        gt = content
    else:
        results = content
    with tempfile.TemporaryDirectory() as folder:
        code, lines = _cli(capsys, Path(folder), gt, results, mode)
        if code == 0:  # garbage that happens to be a valid (empty) results list
            assert side == "results" and json.loads(content) == [], content
            return
        assert code == 2 and len(lines) == 1, lines
        assert str(Path(folder) / ("gt.json" if side == "gt" else "dt.json")) in lines[0], lines[0]


@SETTINGS
@given(broken=broken_field())
@_examples
def test_command_line_on_a_broken_field_is_one_line_and_status_2(capsys, broken) -> None:
    mode, gt, results, (where, index, field) = broken
    with tempfile.TemporaryDirectory() as folder:
        code, lines = _cli(capsys, Path(folder), gt, results, mode)
    assert code == 2 and len(lines) == 1, (where, index, field, lines)
    assert f"{KIND[where]} {index}" in lines[0] and f"`{field}" in lines[0], lines[0]
