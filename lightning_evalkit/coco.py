"""COCO JSON evaluation from the command line, printing pycocotools' 12-line summary in its format::

    python -m lightning_evalkit.coco GT.json RESULTS.json --iou-type bbox|segm [--json stats.json]

``--json`` also writes the 12 stats. A problem with the input is one line on stderr naming the file, the record
and the field, and exit status 2. The code lives in ``lightning_evalkit.detection``
(``coco_evaluate``, ``coco_cli``, ``coco/json_io``); this entry point re-exports it.
"""

from lightning_evalkit.detection.coco.json_io import coco_to_tm, load_coco, tm_to_coco
from lightning_evalkit.detection.coco_cli import main
from lightning_evalkit.detection.coco_evaluate import evaluate_coco, format_summary

__all__ = ["coco_to_tm", "evaluate_coco", "format_summary", "load_coco", "main", "tm_to_coco"]

if __name__ == "__main__":
    main()
