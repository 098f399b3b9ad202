"""Read scalars, images and PR curves back from TensorBoard event files."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_events(log_dir: Path) -> EventAccumulator:
    """Load every event of the one folder under ``log_dir`` holding event files (fit and test write one each)."""
    folders = {path.parent for path in Path(log_dir).rglob("events.out.tfevents.*")}
    assert len(folders) == 1, f"expected one folder of event files under {log_dir}, found {folders}"
    accumulator = EventAccumulator(str(folders.pop()), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(events: EventAccumulator, tag: str) -> list[float]:
    """The values logged under ``tag``, in step order."""
    return [event.value for event in events.Scalars(tag)]
