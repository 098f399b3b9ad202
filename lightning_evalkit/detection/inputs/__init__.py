"""One parse per input family: per-image dicts (boxes, masks, RLE) validated into a flat ``DetectionBatch``."""
