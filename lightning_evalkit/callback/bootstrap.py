"""Bootstrap intervals in EvalCallback: ``EvalCallback(confidence_level=0.95, bootstrap=N)``.

Every value a metric logs without an analytic interval (no ``<name>_ci_lower/_upper`` of its own: a partial AUC,
a calibration error, a Brier score, an F1 of torchmetrics) gets the percentile interval of ``N`` Poisson
resamples, logged as ``<name>_ci_lower`` and ``<name>_ci_upper`` (so its margin chart appears in the Custom
Scalars tab). The resamples are those of :class:`~lightning_evalkit.classification.bootstrap.BootstrapInterval`:
sample ``i`` has the weight drawn from ``(bootstrap_seed, i, resample)``, where ``i`` is the sample's global index,
so 2 processes give the bits of one. The global index of a sample is, in this order:

1. ``outputs["indices"]``, when ``validation_step`` returns a dict with that key (one index per sample);
2. ``batch["indices"]``, when the batch is a dict with that key;
3. its dataset index, when the dataloader does not shuffle: a ``SequentialSampler`` on one process, a
   ``DistributedSampler(shuffle=False)`` under DDP (what Lightning validates with).

Otherwise the first batch raises, saying so. The callback keeps every evaluated sample (preds, target, index) on
the CPU for the epoch, gathers them on every rank at its end, sorts them by index, and replays each metric (a
fresh copy, never synced) on every resample: N computes per metric and epoch.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import SequentialSampler
from torchmetrics import Metric

from lightning_evalkit._core.checks import format_shape
from lightning_evalkit._core.report import LoggedValue, ReportOptions, reporting_of
from lightning_evalkit.callback.padding import dataset_indices, take_first
from lightning_evalkit.statistics.bootstrap import percentile_interval, resample_rows

INDICES_KEY = "indices"
_REFUSED_FAMILIES = ("lightning_evalkit.detection", "torchmetrics.detection")

Warn = Callable[[str, str], None]
Extra = Callable[[str, Metric, list[LoggedValue]], list[LoggedValue]]


class BootstrapSettings(NamedTuple):
    """How many resamples, with which seed, at which level."""

    num_resamples: int
    seed: int
    level: float


def check_bootstrap(
    bootstrap: Any, seed: Any, confidence_level: float | None, metrics: Mapping[str, Metric]
) -> BootstrapSettings | None:
    """The settings of ``EvalCallback(bootstrap=..., bootstrap_seed=...)``; raises for what cannot work.

    Example:
        >>> check_bootstrap(1000, None, 0.95, {})
        BootstrapSettings(num_resamples=1000, seed=0, level=0.95)
    """
    if bootstrap is None:
        if seed is not None:
            raise ValueError(
                f"Expected `bootstrap_seed` only with `bootstrap`, but got bootstrap_seed={seed!r} and "
                "bootstrap=None. Pass bootstrap=1000 (the number of resamples) too, or drop `bootstrap_seed`."
            )
        return None
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 2:
        raise ValueError(
            "Expected `bootstrap` to be None (no bootstrap intervals) or the number of resamples, an int >= 2 "
            f"(1000 is usual), but got {bootstrap!r}."
        )
    if confidence_level is None:
        raise ValueError(
            f"Expected `confidence_level` with `bootstrap={bootstrap}` (it is the level of the bootstrap "
            f"intervals), but got None. Pass EvalCallback(confidence_level=0.95, bootstrap={bootstrap}), or drop "
            "`bootstrap`."
        )
    seed = 0 if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"Expected `bootstrap_seed` to be None (0) or an int in [0, 2**64), but got {seed!r}.")
    for name, metric in metrics.items():
        if type(metric).__module__.startswith(_REFUSED_FAMILIES):
            raise ValueError(
                f"Expected metrics that take rows of tensor preds and target with `bootstrap`, but got "
                f"metrics[{name!r}], a detection {type(metric).__name__} (lists of per-image dicts). Evaluate it "
                "in an EvalCallback without `bootstrap` (for intervals that resample images, pass "
                "ImageBootstrapInterval(MeanAveragePrecision(...)) as the metric), or pass bootstrap=None."
            )
    return BootstrapSettings(bootstrap, seed, confidence_level)


def given_indices(outputs: Any, batch: Any, keep: int) -> Any:
    """The first ``keep`` of ``outputs["indices"]``, else of ``batch["indices"]``, else None.

    Example:
        >>> given_indices({"preds": 0}, {"indices": torch.tensor([4, 5, 6])}, 2)
        tensor([4, 5])
    """
    for source in (outputs, batch):
        if isinstance(source, Mapping) and INDICES_KEY in source:
            return take_first(source[INDICES_KEY], keep)
    return None


def sampler_order(dataloader: Any, world_size: int) -> Sequence[int] | None:
    """The dataset index of each sample this process's dataloader yields, in order, when it does not shuffle.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> sampler_order(DataLoader(range(3)), 1), sampler_order(DataLoader(range(3), shuffle=True), 1)
        (range(0, 3), None)
    """
    if world_size > 1:
        return dataset_indices(dataloader)
    batch_sampler = getattr(dataloader, "batch_sampler", None)
    sampler = getattr(batch_sampler, "sampler", None) or getattr(dataloader, "sampler", None)
    return range(len(sampler)) if isinstance(sampler, SequentialSampler) else None


def _no_indices_message(index: int) -> str:
    return (
        f"Expected the global index of each sample of dataloader {index} for EvalCallback(bootstrap=...), but got "
        "none: validation_step returned no 'indices', the batch is not a dict with 'indices', and the dataloader's "
        "order is unknown (it shuffles, or its sampler is not a SequentialSampler/DistributedSampler). Return "
        "{'preds': ..., 'target': ..., 'indices': dataset indices} from validation_step, or validate with "
        "shuffle=False."
    )


class Samples(NamedTuple):
    """Every sample of an epoch, over all processes, sorted by global index."""

    preds: Tensor
    target: Tensor
    indices: Tensor


class BootstrapSamples:
    """Each dataloader's evaluated samples (preds, target, global index), kept on the CPU for the epoch."""

    def __init__(self, settings: BootstrapSettings) -> None:
        self.settings = settings
        self._orders: dict[int, Sequence[int] | None] = {}
        self._kept: dict[int, list[tuple[Tensor, Tensor, Tensor]]] = {}

    def start(self, loaders: Sequence[Any], world_size: int) -> None:
        """Begin an epoch: forget the samples, learn each dataloader's order."""
        self._orders = {index: sampler_order(loader, world_size) for index, loader in enumerate(loaders)}
        self._kept = {}

    def add(self, dataloader_idx: int, preds: Any, target: Any, indices: Any, position: int) -> None:
        """Keep a batch's (real) samples; ``position`` is this process's count of samples before the batch."""
        if not isinstance(preds, Tensor) or not isinstance(target, Tensor) or preds.ndim == 0:
            raise ValueError(
                "Expected tensor `preds` and `target` with one row per sample for EvalCallback(bootstrap=...), but "
                f"got {type(preds).__name__} and {type(target).__name__}."
            )
        count = int(preds.shape[0])
        if indices is None:
            order = self._orders.get(dataloader_idx)
            if order is None:
                raise ValueError(_no_indices_message(dataloader_idx))
            indices = torch.tensor(list(order[position : position + count]), dtype=torch.long)
        indices = torch.as_tensor(indices)
        if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
            raise ValueError(f"Expected integer sample `indices`, but got {indices.dtype}.")
        if indices.shape != (count,) or target.shape[:1] != (count,):
            raise ValueError(
                f"Expected one index and one target per sample, shape ({count},), but got `indices` of "
                f"{format_shape(indices.shape)} and `target` of {format_shape(target.shape)}."
            )
        if count and bool(indices.min() < 0):
            raise ValueError(f"Expected sample `indices` >= 0, but got {int(indices.min())}.")
        cpu = (preds.detach().cpu(), target.detach().cpu(), indices.detach().cpu().long())
        self._kept.setdefault(dataloader_idx, []).append(cpu)

    def gathered(self, dataloader_idx: int, distributed: bool) -> Samples | None:
        """Every process's samples, sorted by index (a collective under DDP: call it on every rank); None if none."""
        kept = self._kept.get(dataloader_idx, [])
        if distributed:
            import torch.distributed as dist

            parts: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, kept)
            kept = [batch for part in parts for batch in part]
        if not kept:
            return None
        indices, order = torch.sort(torch.cat([batch[2] for batch in kept]), stable=True)
        repeated = indices[1:] == indices[:-1]
        if bool(repeated.any()):
            raise ValueError(
                f"Expected every sample index once for EvalCallback(bootstrap=...), but got index "
                f"{int(indices[1:][repeated][0])} more than once: the indices must be unique over the dataset."
            )
        preds, target = (torch.cat([batch[part] for batch in kept])[order] for part in (0, 1))
        return Samples(preds, target, indices)

    def intervals(self, dataloader_idx: int, distributed: bool, class_names: Any, warn: Warn) -> Extra:
        """``extra(name, metric, entries)`` for ``callback.results.logged_values``: the bootstrap intervals of the
        samples of ``dataloader_idx`` (gathered now: a collective under DDP)."""
        samples = self.gathered(dataloader_idx, distributed)

        def extra(name: str, metric: Metric, entries: list[LoggedValue]) -> list[LoggedValue]:
            return bootstrap_entries(name, metric, entries, samples, self.settings, class_names, warn)

        return extra


def _replica(metric: Metric) -> Metric:
    """A fresh, never-syncing copy of ``metric`` on the CPU: it replays samples already gathered."""
    replica = copy.deepcopy(metric).cpu()
    replica.reset()
    replica.sync_on_compute = replica._to_sync = False
    return replica


def _replay(replica: Metric, name: str, samples: Samples, rows: Tensor, options: ReportOptions) -> dict[Any, float]:
    """``{(name, label): value}`` of what ``replica`` logs on the rows ``rows`` (NaN where undefined)."""
    replica.reset()
    replica.update(samples.preds[rows], samples.target[rows])
    entries = reporting_of(replica).logged_values(name, replica.compute(), options)
    return {(entry.name, entry.label): math.nan if entry.undefined else entry.value for entry in entries}


def bootstrap_entries(
    name: str,
    metric: Metric,
    entries: list[LoggedValue],
    samples: Samples | None,
    settings: BootstrapSettings,
    class_names: Any,
    warn: Warn,
) -> list[LoggedValue]:
    """``<value>_ci_lower/_upper`` of each value ``metric`` logs without an interval of its own (see the module).

    The values are those it logs by itself (no interval, no operating point), computed again on the samples; each
    bound is undefined where the value is, or where every resample is.
    """
    if samples is None:
        return []
    own = ReportOptions(class_names=class_names)  # the metric's own values: no interval, no operating point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the metric's warnings were said by its own compute; a resample's are noise
        replica = _replica(metric)
        whole = _replay(replica, name, samples, torch.arange(samples.indices.numel()), own)
        covered = {(entry.name, entry.label) for entry in entries}
        keys = [key for key in whole if (key[0] + "_ci_lower", key[1]) not in covered and key in covered]
        if not keys:
            return []
        values = torch.full((settings.num_resamples, len(keys)), math.nan, dtype=torch.float64)
        for resample in range(settings.num_resamples):
            rows = resample_rows(settings.seed, samples.indices, resample)
            got = _replay(replica, name, samples, rows, own)
            values[resample] = torch.tensor([got.get(key, math.nan) for key in keys], dtype=torch.float64)
    defined = torch.tensor([not math.isnan(whole[key]) for key in keys])
    undefined = int(values[:, defined].isnan().any(1).sum())  # where the value itself is undefined, so are they
    if undefined:
        warn(
            f"bootstrap-undefined-{name}",
            f"EvalCallback: {name} is undefined (NaN) in {undefined} of {settings.num_resamples} bootstrap resamples "
            "(a resample without a class, say); they are left out of its interval.",
        )
    lower, upper = percentile_interval(values, settings.level)
    out = []
    for column, (key, label) in enumerate(keys):
        bounds = (float(lower[column]), float(upper[column]))
        undefined_bounds = math.isnan(whole[(key, label)]) or any(math.isnan(bound) for bound in bounds)
        out += [
            LoggedValue(f"{key}_ci_{side}", bound, undefined_bounds, label)
            for side, bound in zip(("lower", "upper"), bounds, strict=True)
        ]
    return out
