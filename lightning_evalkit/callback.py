"""EvalCallback: updates metrics from validation/test outputs, logs them, writes their curves to TensorBoard."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from torchmetrics import Metric, MetricCollection

from lightning_evalkit import _callback_plots as plots_
from lightning_evalkit._checks import check_positive_int
from lightning_evalkit._padding import (
    PaddingTracker,
    dataloaders_as_list,
    dataset_indices,
    num_samples,
    real_sample_count,
    take_first,
    with_image_ids,
)
from lightning_evalkit.plotting import _class_name, figure_to_rgb

__all__ = ["EvalCallback", "EvalCallbackWarning"]

OutputTransform = Callable[[Any, Any], tuple[Any, Any]]


class EvalCallbackWarning(UserWarning):
    """A warning from EvalCallback (no TensorBoardLogger, DDP padding it cannot undo, a plot that failed)."""


def _callback_base() -> type:
    """A base class that is a Callback for pytorch_lightning and, where installed, for lightning.pytorch too.

    Both Trainers check ``isinstance(callback, Callback)`` against their own package's class; inheriting from
    both no-op hook classes makes one EvalCallback class pass both checks (and LightningCLI's subclass checks).
    """
    bases = []
    for package in ("pytorch_lightning", "lightning.pytorch"):
        try:
            bases.append(importlib.import_module(package).Callback)
        except ImportError:
            continue
    if not bases:  # pragma: no cover - pytorch_lightning is a dependency
        raise ImportError("EvalCallback needs pytorch_lightning or lightning installed.")
    return bases[0] if len(bases) == 1 else type("_LightningCallback", tuple(bases), {})


if TYPE_CHECKING:
    from pytorch_lightning import Callback as _CallbackBase
else:
    _CallbackBase = _callback_base()


def _tensorboard_logger_types() -> tuple[type, ...]:
    types = []
    for package in ("pytorch_lightning", "lightning.pytorch"):
        try:
            types.append(importlib.import_module(f"{package}.loggers").TensorBoardLogger)
        except (ImportError, AttributeError):
            continue
    return tuple(types)


def _check_metrics(metrics: Any) -> None:
    example = 'For example: EvalCallback(metrics={"auroc": AUROC(task="binary")}).'
    if isinstance(metrics, MetricCollection):
        if len(metrics) == 0:
            raise ValueError(
                "Expected `metrics` to hold at least one metric, but got an empty MetricCollection. " + example
            )
        return
    if not isinstance(metrics, Mapping):
        raise TypeError(
            "Expected `metrics` to be a dict of name -> torchmetrics.Metric or a MetricCollection, but got "
            f"{type(metrics).__name__}. {example}"
        )
    if not metrics:
        raise ValueError(f"Expected `metrics` to hold at least one metric, but got an empty dict. {example}")
    for name, metric in metrics.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Expected every key of `metrics` to be a non-empty str, but got {name!r}. {example}")
        if not isinstance(metric, Metric):
            raise TypeError(
                f"Expected `metrics[{name!r}]` to be a torchmetrics.Metric (such as AUROC, Sensitivity, "
                f"ConfusionMatrix or MeanAveragePrecision), but got {type(metric).__name__}. {example}"
            )


def _check_plots(plots: Any) -> tuple[str, ...]:
    if isinstance(plots, bool):
        return plots_.PLOT_NAMES if plots else ()
    listed = ", ".join(repr(name) for name in plots_.PLOT_NAMES)
    if isinstance(plots, str) or not isinstance(plots, Iterable):
        raise TypeError(f"Expected `plots` to be True, False or a list drawn from {listed}, but got {plots!r}.")
    chosen = tuple(plots)
    for name in chosen:
        if name not in plots_.PLOT_NAMES:
            raise ValueError(f"Expected every entry of `plots` to be one of {listed}, but got {name!r}.")
    return chosen


def _check_class_names(class_names: Any, metrics: Mapping[str, Metric]) -> None:
    if class_names is None or isinstance(class_names, Mapping):
        return
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError(
            "Expected `class_names` to be a list of names (index -> name) or a dict of label -> name, but "
            f"got {type(class_names).__name__}."
        )
    for name, metric in metrics.items():
        task = getattr(metric, "task", None)
        count = getattr(metric, "num_labels", None) if task == "multilabel" else getattr(metric, "num_classes", None)
        if task in ("multiclass", "multilabel") and isinstance(count, int) and count != len(class_names):
            raise ValueError(
                f"Expected `class_names` to hold {count} names, one per class of `metrics[{name!r}]`, but "
                f"got {len(class_names)}. Pass one name per class, or class_names=None to use the indices."
            )


class EvalCallback(_CallbackBase):
    """Update metrics from validation and test outputs, log them each epoch, and plot their curves.

    The metrics are updated in ``on_validation_batch_end`` (and ``on_test_batch_end``) from what
    ``validation_step`` returns, computed and synced on every rank at the end of the epoch, logged with
    ``pl_module.log`` (so ModelCheckpoint and EarlyStopping can monitor them, e.g. ``"val/auroc"``), then
    reset. Curves go to every TensorBoardLogger of the trainer, from rank 0. Under DDP the samples that
    DistributedSampler repeats to pad the last batches are dropped, so N processes log the one-process values.

    Args:
        metrics: name -> metric, or a MetricCollection. Names become the logged keys after ``prefix``.
        preds_key: key of the predictions in the dict that ``validation_step`` returns.
        target_key: key of the targets in that dict.
        output_transform: ``(outputs, batch) -> (preds, target)``, used instead of the keys when given.
        prefix: prefix of every logged name during validation.
        test_prefix: prefix of every logged name during testing.
        plot_every_n_epochs: write the plots every n-th validation epoch (scalars are logged every epoch).
        plots: True for every plot, False for none, or a list drawn from ``"roc"``,
            ``"sensitivity_specificity"``, ``"precision_recall"``, ``"confusion_matrix"``,
            ``"pr_curve_plugin"``, ``"detection_pr"``, ``"per_class_ap"``.
        class_names: names of the classes: a list indexed by class (label for detection) or a dict
            label -> name.

    Example:
        >>> from lightning_evalkit import AUROC
        >>> callback = EvalCallback(metrics={"auroc": AUROC(task="binary")})
        >>> callback.prefix
        'val/'
    """

    def __init__(
        self,
        metrics: dict[str, Metric] | MetricCollection,
        preds_key: str = "preds",
        target_key: str = "target",
        output_transform: OutputTransform | None = None,
        prefix: str = "val/",
        test_prefix: str = "test/",
        plot_every_n_epochs: int = 1,
        plots: bool | list[str] = True,
        class_names: list[str] | dict[int, str] | None = None,
    ) -> None:
        _check_metrics(metrics)
        for name, value in (("preds_key", preds_key), ("target_key", target_key), ("prefix", prefix)):
            if not isinstance(value, str):
                raise TypeError(f"Expected `{name}` to be a str, but got {type(value).__name__}.")
        if not isinstance(test_prefix, str):
            raise TypeError(f"Expected `test_prefix` to be a str, but got {type(test_prefix).__name__}.")
        if output_transform is not None and not callable(output_transform):
            raise TypeError(
                "Expected `output_transform` to be a callable (outputs, batch) -> (preds, target) or None, "
                f"but got {type(output_transform).__name__}."
            )
        check_positive_int("plot_every_n_epochs", plot_every_n_epochs)
        self.plots = _check_plots(plots)
        self.collection = metrics if isinstance(metrics, MetricCollection) else None
        self.metrics: dict[str, Metric] = dict(
            metrics.items(keep_base=False) if isinstance(metrics, MetricCollection) else metrics.items()
        )
        _check_class_names(class_names, self.metrics)
        self.preds_key, self.target_key, self.output_transform = preds_key, target_key, output_transform
        self.prefix, self.test_prefix, self.plot_every_n_epochs = prefix, test_prefix, plot_every_n_epochs
        self.class_names = class_names
        self._padding = PaddingTracker()
        self._dataset_indices: dict[int, list[int] | None] = {}
        self._warned: set[str] = set()

    @property
    def state_key(self) -> str:
        # Two EvalCallbacks (different prefixes) in one Trainer must not share a checkpoint key.
        return self._generate_state_key(prefix=self.prefix, test_prefix=self.test_prefix)

    # ------------------------------------------------------------------ hooks
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Move the metrics to the module's device."""
        self._to_device(pl_module)

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Reset the metrics and count each dataloader's real samples on this rank."""
        self._start_epoch(trainer, pl_module, trainer.val_dataloaders)

    def on_test_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Reset the metrics and count each dataloader's real samples on this rank."""
        self._start_epoch(trainer, pl_module, trainer.test_dataloaders)

    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Update the metrics with this batch's real (not padded) samples."""
        self._update(outputs, batch, dataloader_idx)

    def on_test_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Update the metrics with this batch's real (not padded) samples."""
        self._update(outputs, batch, dataloader_idx)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Compute, log and (every n-th epoch, on rank 0) plot the metrics, then reset them."""
        if trainer.sanity_checking:
            self._reset()
            return
        plot = (trainer.current_epoch + 1) % self.plot_every_n_epochs == 0
        self._finish_epoch(trainer, pl_module, self.prefix, plot)

    def on_test_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Compute, log and plot the metrics, then reset them."""
        self._finish_epoch(trainer, pl_module, self.test_prefix, plot=True)

    # ------------------------------------------------------------------ update
    def _to_device(self, pl_module: Any) -> None:
        for metric in self.metrics.values():
            metric.to(pl_module.device)

    def _start_epoch(self, trainer: Any, pl_module: Any, dataloaders: Any) -> None:
        self._to_device(pl_module)
        self._reset()
        real_counts: dict[int, int | None] = {}
        self._dataset_indices = {}
        if trainer.world_size > 1:
            for index, dataloader in enumerate(dataloaders_as_list(dataloaders)):
                self._dataset_indices[index] = dataset_indices(dataloader)
                real_counts[index], reason = real_sample_count(dataloader)
                if real_counts[index] is None:
                    self._warn_once(
                        trainer,
                        f"padding-{index}",
                        "EvalCallback cannot tell which samples DistributedSampler repeated to pad "
                        f"dataloader {index} ({reason}), so under DDP its metrics may count some samples "
                        "twice or miss some. Use a map-style dataset with Lightning's default sampler "
                        "(use_distributed_sampler=True) to get exactly the single-device values.",
                    )
        self._padding.start(real_counts)

    def _extract(self, outputs: Any, batch: Any) -> tuple[Any, Any]:
        if self.output_transform is not None:
            return self.output_transform(outputs, batch)
        if not isinstance(outputs, Mapping) or self.preds_key not in outputs or self.target_key not in outputs:
            got = f"a dict with keys {sorted(map(str, outputs))}" if isinstance(outputs, Mapping) else repr(outputs)
            if not isinstance(outputs, Mapping) and outputs is not None:
                got = type(outputs).__name__
            raise ValueError(
                "Expected the output of validation_step/test_step to be a dict with keys "
                f"{self.preds_key!r} and {self.target_key!r}, but got {got}. Return "
                f"{{{self.preds_key!r}: preds, {self.target_key!r}: target}}, set `preds_key` and "
                "`target_key`, or pass `output_transform=lambda outputs, batch: (preds, target)` to "
                "EvalCallback."
            )
        return outputs[self.preds_key], outputs[self.target_key]

    def _update(self, outputs: Any, batch: Any, dataloader_idx: int) -> None:
        preds, target = self._extract(outputs, batch)
        size = num_samples(preds)
        position = self._padding.position(dataloader_idx)
        keep = self._padding.keep(dataloader_idx, size)
        if keep == 0:
            return
        if keep < size:
            preds, target = take_first(preds, keep), take_first(target, keep)
        indices = self._dataset_indices.get(dataloader_idx)
        if indices is not None:  # under DDP: detection ties across images rank as on one device
            target = with_image_ids(target, indices[position : position + keep])
        if self.collection is not None:
            self.collection.update(preds, target)
        else:
            for metric in self.metrics.values():
                metric.update(preds, target)

    def _reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()

    # ------------------------------------------------------------------ compute, log, plot
    def _items(self) -> Iterable[tuple[str, Metric]]:
        if self.collection is not None:
            # copy_state: members of one compute group share the state the collection updated.
            return self.collection.items(keep_base=False, copy_state=True)
        return self.metrics.items()

    def _finish_epoch(self, trainer: Any, pl_module: Any, prefix: str, plot: bool) -> None:
        results = {name: metric.compute() for name, metric in self._items()}  # a collective: every rank
        for key, value in _scalars(results, self.class_names):
            pl_module.log(
                prefix + key,
                value,
                on_step=False,
                on_epoch=True,
                batch_size=1,
                # Values are already synced and equal on every rank; "max" of equal values is exact.
                sync_dist=True,
                reduce_fx="max",
                add_dataloader_idx=False,
            )
        if plot and self.plots:
            self._plot(trainer, prefix, results)
        self._reset()

    def _plot(self, trainer: Any, prefix: str, results: Mapping[str, Any]) -> None:
        # Counts are gathered on every rank (each call is a collective); only rank 0 draws.
        sources = self._plot_sources(results)
        if not trainer.is_global_zero:
            return
        loggers: list[Any] = [lg for lg in trainer.loggers if isinstance(lg, _tensorboard_logger_types())]
        if not loggers:
            self._warn_once(
                trainer,
                "no-tensorboard",
                "EvalCallback found no TensorBoardLogger in trainer.loggers, so it writes no curve plots "
                "(the scalars are still logged). Pass logger=TensorBoardLogger(...) to the Trainer, or "
                "plots=False.",
            )
            return
        self.write_plots([logger.experiment for logger in loggers], prefix, sources, trainer.global_step, trainer)

    def write_plots(
        self, writers: Sequence[Any], prefix: str, sources: Mapping[str, Any], step: int, trainer: Any = None
    ) -> None:
        """Draw the plots of ``sources`` and write them to TensorBoard SummaryWriters (rank 0's half).

        Each figure is built, rendered, written and dropped before the next one, so at most one is alive.
        """
        for tag, build in plots_.figure_builders(sources, self.plots, self.class_names):
            try:
                image = figure_to_rgb(build())
            except Exception as error:  # a plot must never stop a training run
                self._warn_once(trainer, f"plot-{tag}", f"EvalCallback could not draw {tag!r}: {error!r}")
                continue
            for writer in writers:
                writer.add_image(prefix + tag, image, step, dataformats="HWC")
        for tag, data in sources.get("pr_curve_plugin", []):
            for writer in writers:
                _add_pr_curve(writer, prefix + tag, data, step)

    def _plot_sources(self, results: Mapping[str, Any]) -> dict[str, Any]:
        """What the plots of ``results`` need (a collective on every rank); see ``_callback_plots.plot_sources``."""
        return plots_.plot_sources(list(self._items()), results, self.plots, self.class_names)

    def _warn_once(self, trainer: Any, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        if trainer is None or trainer.is_global_zero:
            warnings.warn(message, EvalCallbackWarning, stacklevel=2)


def _add_pr_curve(writer: Any, tag: str, data: Mapping[str, Any], step: int) -> None:
    writer.add_pr_curve_raw(
        tag,
        data["tp"],
        data["fp"],
        data["tn"],
        data["fn"],
        data["precision"],
        data["recall"],
        global_step=step,
        num_thresholds=len(data["tp"]),
    )


def _scalars(results: Mapping[str, Any], class_names: Any) -> Iterator[tuple[str, float]]:
    """(name, value) for every scalar in the computed results; per-class vectors give one name per class."""
    seen: set[str] = set()
    for name, result in results.items():
        entries = result.items() if isinstance(result, Mapping) else [(name, result)]
        for key, value in entries:
            if isinstance(result, Mapping) and key in ("classes", "precision", "recall", "scores"):
                continue  # labels and extended-summary arrays, not scalars
            key = f"{name}_{key}" if isinstance(result, Mapping) and key in seen else key
            seen.add(key)
            if not hasattr(value, "ndim") or value.ndim > 1:
                continue
            if value.ndim == 0:
                yield key, float(value)
                continue
            labels = result.get("classes") if isinstance(result, Mapping) else None
            for index, item in enumerate(value.reshape(-1).tolist()):
                label = int(labels.reshape(-1)[index]) if labels is not None and labels.numel() > index else index
                yield f"{key}/{_class_name(class_names, label)}", float(item)
