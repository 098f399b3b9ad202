"""LVIS federated evaluation (lvis-api 0.5.3's ``LVISEval``), built on the COCO matching of ``detection/coco``.

- ``federated``: the per-image rules at update time (top detections per image, declared categories, area > 0,
  positive and negative categories, not-exhaustive categories), as tensor operations.
- ``match``: the kept detections and ground truths matched by COCO's greedy rules, as compact records.
- ``lvis_map`` / ``lvis_map_metric``: the functional ``_update`` / ``_compute`` and the metric shell.
- ``json_io``, ``evaluate``, ``cli``: LVIS JSON files in, lvis-api's results and printout out.
"""
