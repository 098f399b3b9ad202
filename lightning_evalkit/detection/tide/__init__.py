"""Where the detection errors come from: TIDE (Bolya et al., 2020), tidecv 1.0.1's numbers.

- ``image_errors``: one image's matching and the error of each detection, at update time.
- ``fixes``: the mAP and the mAP after fixing each kind of error, from the records.
- ``breakdown`` / ``breakdown_metric``: the functional ``_update`` / ``_compute`` and the metric shell.
"""
