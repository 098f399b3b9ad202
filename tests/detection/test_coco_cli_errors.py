"""The COCO command line on bad input: one line on stderr naming the file, the record and the field, exit status 2.

Each case is an input that used to end in a 20-40-line traceback, often with a last line that did not say what
was wrong (``'int' object is not subscriptable``, pycocotools' ``OverflowError ... uint32``, a JSON error
without the file name).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from lightning_evalkit.coco import load_coco, main
from lightning_evalkit.detection.rle import rle_encode

PROG = "python -m lightning_evalkit.coco"


def _gt() -> dict:
    return {
        "images": [{"id": 1, "height": 8, "width": 8}, {"id": 2, "height": 8, "width": 8}],
        "categories": [{"id": 1}, {"id": 2}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0},
            {"id": 11, "image_id": 2, "category_id": 2, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0},
        ],
    }


def _results() -> list[dict]:
    return [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.9},
        {"image_id": 2, "category_id": 2, "bbox": [1, 1, 3, 4], "score": 0.8},
    ]


def _write(folder: Path, name: str, content: Any) -> str:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content))
    return str(path)


def _run(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    return int(exit_info.value.code or 0), err.splitlines()


def _segm_gt() -> dict:
    gt = _gt()
    for ann in gt["annotations"]:
        ann["segmentation"] = [[0, 0, 4, 0, 4, 4, 0, 4]]
    return gt


def _rle(side: int) -> dict:
    mask = torch.zeros(1, side, side, dtype=torch.bool)
    mask[0, 1:3, 1:3] = True
    rle = rle_encode(mask)[0]
    return {"size": rle["size"], "counts": rle["counts"].decode()}


def _mutated(base: Any, path: tuple, value: Any) -> Any:
    content = json.loads(json.dumps(base))
    target = content
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return content


_CASES = [  # (side, path into the content, new value, what the one line must name besides the file)
    ("gt", ("annotations", 1, "bbox"), 5, ["annotation 1 (id 11)", "`bbox`"]),
    ("gt", ("annotations", 0, "image_id"), 7, ["annotation 0 (id 10)", "`image_id`", "7"]),
    ("gt", ("annotations", 0, "category_id"), "1", ["annotation 0 (id 10)", "`category_id`", "string"]),
    ("gt", ("annotations", 1, "iscrowd"), 2, ["annotation 1 (id 11)", "`iscrowd`"]),
    ("gt", ("annotations", 0, "area"), -3, ["annotation 0 (id 10)", "`area`"]),
    ("gt", ("images", 1, "id"), 1, ["image 0", "image 1", "unique"]),
    ("gt", ("images", 0), [1, 2], ["image 0", "object"]),
    ("gt", ("categories",), KeyError, ["`categories`"]),
    ("gt", ("categories", 1, "id"), None, ["category 1", "`id`", "null"]),
    ("results", (1, "score"), "0.5", ["result 1", "`score`", "string"]),
    ("results", (0, "bbox"), [0, 0, -1, 4], ["result 0", "`bbox`", "width"]),
    ("results", (0, "bbox"), [0, 0, float("nan"), 4], ["result 0", "`bbox`", "NaN"]),
    ("results", (1, "image_id"), 5, ["result 1", "`image_id`", "5"]),
    ("results", (1, "category_id"), KeyError, ["result 1", "`category_id`"]),
    ("results", (0,), "oops", ["result 0", "object"]),
]


@pytest.mark.parametrize(("side", "path", "value", "named"), _CASES)
def test_a_bad_record_is_one_line_naming_file_record_and_field(tmp_path, capsys, side, path, value, named) -> None:
    gt, results = _gt(), _results()
    gt = _mutated(gt, path, value) if side == "gt" else gt
    results = _mutated(results, path, value) if side == "results" else results
    gt_file, results_file = _write(tmp_path, "gt.json", gt), _write(tmp_path, "dt.json", results)
    code, lines = _run(capsys, [gt_file, results_file])
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{PROG}: error: Expected ")
    assert (gt_file if side == "gt" else results_file) in lines[0]
    for text in named:
        assert text in lines[0], (text, lines[0])


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b'{"images": [', "line 1 column 13"),
        (b"\xff\xfe[]", "byte 0xff at offset 0"),
        (b"[" * 100_000, "nested"),
        (b"[]", "COCO dataset"),
        (b'{"images": {}, "categories": []}', "`images`"),
    ],
)
def test_a_bad_file_is_one_line_naming_it(tmp_path, capsys, content: bytes, named: str) -> None:
    gt_file, results_file = _write(tmp_path, "gt.json", content), _write(tmp_path, "dt.json", _results())
    code, lines = _run(capsys, [gt_file, results_file])
    assert code == 2 and len(lines) == 1, lines
    assert gt_file in lines[0] and named in lines[0], lines[0]


def test_missing_file_and_unwritable_output_are_one_line(tmp_path, capsys) -> None:
    gt_file, results_file = _write(tmp_path, "gt.json", _gt()), _write(tmp_path, "dt.json", _results())
    code, lines = _run(capsys, [gt_file, str(tmp_path / "nothing.json")])
    assert code == 2 and lines == [f"{PROG}: error: cannot read {tmp_path / 'nothing.json'}: No such file or directory"]
    code, lines = _run(capsys, [str(tmp_path), results_file])
    assert code == 2 and len(lines) == 1 and str(tmp_path) in lines[0]
    code, lines = _run(capsys, [gt_file, results_file, "--json", str(tmp_path / "no" / "stats.json")])
    assert code == 2 and len(lines) == 1 and "cannot write" in lines[0]


def test_segmentation_problems_are_one_line(tmp_path, capsys) -> None:
    """pycocotools' own errors (an OverflowError on negative RLE counts) become the loader's one line."""
    gt = _segm_gt()
    gt["annotations"][1]["segmentation"] = {"size": [8, 8], "counts": [-1, 65]}
    segm = [{**r, "segmentation": _rle(8)} for r in _results()]
    for result in segm:
        del result["bbox"]
    gt_file, results_file = _write(tmp_path, "gt.json", gt), _write(tmp_path, "dt.json", segm)
    code, lines = _run(capsys, [gt_file, results_file, "--iou-type", "segm"])
    assert code == 2 and len(lines) == 1 and "annotation 1 (id 11)" in lines[0] and "counts" in lines[0]
    gt_file = _write(tmp_path, "gt.json", _segm_gt())
    segm[1]["segmentation"] = _rle(4)
    results_file = _write(tmp_path, "dt.json", segm)
    code, lines = _run(capsys, [gt_file, results_file, "--iou-type", "segm"])
    assert code == 2 and len(lines) == 1 and "result 1" in lines[0] and "[8, 8]" in lines[0], lines


def test_argument_errors_and_help(capsys) -> None:
    code, lines = _run(capsys, ["gt.json", "dt.json", "--iou-type", "bbx"])
    assert code == 2 and len(lines) == 1 and "invalid choice: 'bbx'" in lines[0]
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out


def test_unknown_image_of_a_ground_truth_is_named_there() -> None:
    gt = _gt()
    gt["annotations"][1]["image_id"] = 99
    with pytest.raises(ValueError, match=r"`image_id` of annotation 1 \(id 11\) in `gt_json` .* got 99\.$"):
        load_coco(gt, _results())
    with pytest.raises(ValueError, match=r"`image_id` of result 0 in `results_json` .* of `gt_json`, but got 98\."):
        load_coco(_gt(), [{**_results()[0], "image_id": 98}])


def test_a_real_invocation_prints_one_line_and_exits_2(tmp_path) -> None:
    gt_file = _write(tmp_path, "gt.json", _gt())
    results_file = _write(tmp_path, "dt.json", [{**_results()[0], "bbox": 3}])
    done = subprocess.run(
        [sys.executable, "-m", "lightning_evalkit.coco", gt_file, results_file],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{PROG}: error: Expected `bbox` of result 0 in {results_file} to be [x, y, width, height]: 4 finite "
        "numbers with width and height >= 0, but got 3."
    ]
