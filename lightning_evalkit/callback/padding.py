"""Drop the samples that DistributedSampler repeats to pad every rank's share to the same length.

``DistributedSampler`` (drop_last=False) pads its index list to ``ceil(N / world) * world`` by repeating
its first indices, then gives rank r the positions r, r + world, ... Positions >= N are the repeats, and they
always come last in a rank's share, whether the sampler shuffles or not. So rank r holds ``len(range(r, N, world))``
real samples followed by the repeats: counting the samples seen and cutting each batch at that number keeps
every sample exactly once across ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DistributedSampler, IterableDataset


def dataloaders_as_list(dataloaders: Any) -> list[Any]:
    """Flatten ``trainer.val_dataloaders`` (or ``test_dataloaders``) into a list, in dataloader order."""
    if dataloaders is None:
        return []
    if isinstance(dataloaders, Mapping):
        return list(dataloaders.values())
    if isinstance(dataloaders, Sequence):
        return list(dataloaders)
    return [dataloaders]


def real_sample_count(dataloader: Any) -> tuple[int | None, str]:
    """How many real (not padded) samples this rank's dataloader yields, or None and the reason why not.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> sampler = DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)
        >>> real_sample_count(DataLoader(range(5), sampler=sampler))
        (2, '')
    """
    dataset = getattr(dataloader, "dataset", None)
    if isinstance(dataset, IterableDataset):
        return None, "its dataset is an IterableDataset"
    sampler = _distributed_sampler(dataloader)
    if sampler is None:
        batch_sampler = getattr(dataloader, "batch_sampler", None)
        found = getattr(batch_sampler, "sampler", None) or getattr(dataloader, "sampler", None)
        return None, f"its sampler is a {type(found).__name__}, not a DistributedSampler"
    if sampler.drop_last:
        # Nothing is repeated, but the tail of the data is never seen: say so rather than stay silent.
        return None, "its DistributedSampler has drop_last=True, which drops samples"
    return len(range(sampler.rank, len(sampler.dataset), sampler.num_replicas)), ""  # type: ignore[arg-type]


def _distributed_sampler(dataloader: Any) -> DistributedSampler | None:
    batch_sampler = getattr(dataloader, "batch_sampler", None)
    sampler = getattr(batch_sampler, "sampler", None) or getattr(dataloader, "sampler", None)
    return sampler if isinstance(sampler, DistributedSampler) else None


def dataset_indices(dataloader: Any) -> list[int] | None:
    """The dataset index of each sample this rank's dataloader yields, in order, when that is knowable.

    Known for a non-shuffling DistributedSampler (the order Lightning validates in), whose index list is a
    pure function of rank and world size; None otherwise.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> dataset_indices(DataLoader(range(5), sampler=DistributedSampler(range(5), 2, rank=1, shuffle=False)))
        [1, 3, 0]
    """
    sampler = _distributed_sampler(dataloader)
    if sampler is None or sampler.shuffle:
        return None
    return list(iter(sampler))


def with_image_ids(target: Any, indices: Sequence[int]) -> Any:
    """Detection targets (a list of per-image dicts) without ``image_id`` get ``indices`` as their ids.

    MeanAveragePrecision breaks score ties across images by image id, as pycocotools does: dataset indices
    make those ties rank alike whichever DDP rank held the image. Anything else is returned unchanged.

    Example:
        >>> with_image_ids([{"labels": torch.tensor([1])}], [7])
        [{'labels': tensor([1]), 'image_id': 7}]
    """
    is_detection = isinstance(target, list | tuple) and all(isinstance(item, Mapping) for item in target)
    if not is_detection or not target or any("image_id" in item for item in target):
        return target
    return [{**item, "image_id": index} for item, index in zip(target, indices, strict=True)]


def num_samples(value: Any) -> int:
    """Number of samples in a batch of predictions: a tensor's first dimension, a list's length."""
    if isinstance(value, torch.Tensor):
        return int(value.shape[0]) if value.ndim > 0 else 1
    if isinstance(value, Mapping):
        return num_samples(next(iter(value.values()))) if value else 0
    if isinstance(value, Sequence):
        return len(value)
    raise TypeError(
        f"Expected `preds` to be a torch.Tensor, a list or a dict of tensors, but got {type(value).__name__}."
    )


def take_first(value: Any, count: int) -> Any:
    """The first ``count`` samples of a batch (tensor, list, tuple, or dict of those).

    Example:
        >>> take_first({"a": torch.arange(4), "b": [1, 2, 3, 4]}, 2)
        {'a': tensor([0, 1]), 'b': [1, 2]}
    """
    if isinstance(value, torch.Tensor) and value.ndim > 0:
        return value[:count]
    if isinstance(value, Mapping):
        return {key: take_first(item, count) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(value[:count])
    return value


class PaddingTracker:
    """Counts the samples each dataloader has yielded on this rank and says how many of a batch are real.

    Example:
        >>> tracker = PaddingTracker()
        >>> tracker.start({0: 5})
        >>> tracker.keep(0, 4), tracker.keep(0, 4)
        (4, 1)
    """

    def __init__(self) -> None:
        self._real: dict[int, int | None] = {}
        self._seen: dict[int, int] = {}

    def start(self, real_counts: Mapping[int, int | None]) -> None:
        """Begin an epoch: ``real_counts[i]`` is dataloader i's real sample count here (None: keep all)."""
        self._real = dict(real_counts)
        self._seen = {}

    def position(self, dataloader_idx: int) -> int:
        """How many samples of ``dataloader_idx`` this rank has yielded so far this epoch."""
        return self._seen.get(dataloader_idx, 0)

    def keep(self, dataloader_idx: int, batch_size: int) -> int:
        """How many leading samples of the next batch of ``dataloader_idx`` to keep."""
        real = self._real.get(dataloader_idx)
        seen = self._seen.get(dataloader_idx, 0)
        self._seen[dataloader_idx] = seen + batch_size
        if real is None:
            return batch_size
        return max(0, min(batch_size, real - seen))


def lacks_image_ids(target: Any) -> bool:
    """Whether ``target`` is a batch of detection targets (a list of dicts) without ``image_id``."""
    is_detection = isinstance(target, list | tuple) and bool(target) and all(isinstance(t, Mapping) for t in target)
    return is_detection and not all("image_id" in item for item in target)


def _loader_drop_last(dataloader: Any) -> str | None:
    """Why the DataLoader's own ``drop_last=True`` leaves samples out on this process, or None when it does not."""
    batch_sampler = getattr(dataloader, "batch_sampler", None)
    if not getattr(batch_sampler, "drop_last", False):
        return None
    try:
        size, batch = len(batch_sampler.sampler), int(batch_sampler.batch_size)  # type: ignore[union-attr]
    except (TypeError, AttributeError):
        return "its DataLoader has drop_last=True"
    if size % batch == 0:
        return None
    return f"its DataLoader has drop_last=True, which leaves out the last {size % batch} of {size} samples"


def coverage_problems(
    dataloader: Any, index: int, limit: int | float | None, limit_name: str, world_size: int
) -> list[tuple[str, str]]:
    """(key, warning) for each reason the metrics of dataloader ``index`` will not see every sample exactly once.

    ``limit`` is the number of batches Lightning runs from this dataloader (``trainer.num_val_batches[index]``).

    Example:
        >>> from torch.utils.data import DataLoader
        >>> [key for key, _ in coverage_problems(DataLoader(range(5), batch_size=2, drop_last=True), 0, 2, "", 1)]
        ['drop-last-0']
    """
    problems = []
    dropped = _loader_drop_last(dataloader)
    if dropped is not None:
        where = "on each process " if world_size > 1 else ""
        problems.append(
            (
                f"drop-last-{index}",
                f"EvalCallback's metrics for dataloader {index} do not cover the whole dataset: {dropped} "
                f"{where}(the values differ from a run over every sample). Use drop_last=False for evaluation.",
            )
        )
    try:
        length = len(dataloader)
    except TypeError:
        length = None
    if limit is not None and length is not None and limit < length:
        ddp = " and under DDP the batches run differ from one device's" if world_size > 1 else ""
        problems.append(
            (
                f"limit-{index}",
                f"EvalCallback's metrics for dataloader {index} cover {int(limit)} of its {length} batches "
                f"({limit_name}){ddp}, so they are not the values over the whole dataset.",
            )
        )
    if world_size > 1:
        real, reason = real_sample_count(dataloader)
        if real is None:
            problems.append(
                (
                    f"padding-{index}",
                    "EvalCallback cannot tell which samples DistributedSampler repeated to pad "
                    f"dataloader {index} ({reason}), so under DDP its metrics may count some samples "
                    "twice or miss some. Use a map-style dataset with Lightning's default sampler "
                    "(use_distributed_sampler=True) to get exactly the single-device values.",
                )
            )
    return problems
