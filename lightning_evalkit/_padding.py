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
    batch_sampler = getattr(dataloader, "batch_sampler", None)
    sampler = getattr(batch_sampler, "sampler", None) or getattr(dataloader, "sampler", None)
    if not isinstance(sampler, DistributedSampler):
        return None, f"its sampler is a {type(sampler).__name__}, not a DistributedSampler"
    if sampler.drop_last:
        # Nothing is repeated, but the tail of the data is never seen: say so rather than stay silent.
        return None, "its DistributedSampler has drop_last=True, which drops samples"
    return len(range(sampler.rank, len(sampler.dataset), sampler.num_replicas)), ""  # type: ignore[arg-type]


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

    def keep(self, dataloader_idx: int, batch_size: int) -> int:
        """How many leading samples of the next batch of ``dataloader_idx`` to keep."""
        real = self._real.get(dataloader_idx)
        seen = self._seen.get(dataloader_idx, 0)
        self._seen[dataloader_idx] = seen + batch_size
        if real is None:
            return batch_size
        return max(0, min(batch_size, real - seen))
