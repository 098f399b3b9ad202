"""pycocotools COCOeval's semantics: per-image matching at update time, accumulation at compute, COCO JSON files."""
