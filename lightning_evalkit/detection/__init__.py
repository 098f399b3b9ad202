"""Detection and segmentation: the metric classes and the functional code they run.

- ``boxes``, ``masks``, ``rle``: box formats and IoU, mask IoU on words and runs, the COCO RLE codec.
- ``inputs/``: one parse of per-image dicts into a ``DetectionBatch`` (the per-image walk and the bulk path).
- ``coco/``: COCOeval's semantics: per-image matching, accumulation, the extended-summary IoUs, COCO JSON files.
- ``mean_ap`` / ``mean_ap_metric``: MeanAveragePrecision; ``intersection`` / ``intersection_metrics``: the IoU
  family and matched IoU; ``segmentation`` / ``segmentation_metric``: semantic-segmentation MeanIoU.
- ``detection_confusion`` / ``detection_confusion_metric``: the detection confusion matrix; ``operating_point`` /
  ``operating_point_metric``: precision, recall and F1 against confidence (faster-coco-eval's extended metrics).
- ``lvis/``: LVISMeanAveragePrecision, LVIS's federated evaluation (lvis-api) on the matching of ``coco/``.
- ``tide/``: DetectionErrorBreakdown, where the errors come from (TIDE, tidecv).
- ``bootstrap``: ImageBootstrapInterval, intervals of mAP and mAR by resampling images.
"""

from lightning_evalkit.detection.bootstrap import ImageBootstrapInterval
from lightning_evalkit.detection.detection_confusion_metric import DetectionConfusionMatrix
from lightning_evalkit.detection.intersection_metrics import (
    CompleteIntersectionOverUnion,
    DistanceIntersectionOverUnion,
    GeneralizedIntersectionOverUnion,
    IntersectionOverUnion,
    MatchedIntersectionOverUnion,
)
from lightning_evalkit.detection.lvis.lvis_map_metric import LVISMeanAveragePrecision
from lightning_evalkit.detection.mean_ap_metric import MeanAveragePrecision
from lightning_evalkit.detection.operating_point_metric import DetectionOperatingPoint
from lightning_evalkit.detection.segmentation import MeanIoU
from lightning_evalkit.detection.tide.breakdown_metric import DetectionErrorBreakdown

__all__ = [
    "CompleteIntersectionOverUnion",
    "DetectionConfusionMatrix",
    "DetectionOperatingPoint",
    "DetectionErrorBreakdown",
    "DistanceIntersectionOverUnion",
    "GeneralizedIntersectionOverUnion",
    "ImageBootstrapInterval",
    "IntersectionOverUnion",
    "LVISMeanAveragePrecision",
    "MatchedIntersectionOverUnion",
    "MeanAveragePrecision",
    "MeanIoU",
]
