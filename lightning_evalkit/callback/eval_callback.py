"""EvalCallback: updates metrics from validation/test outputs, logs them, writes their curves to TensorBoard."""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torchmetrics import Metric, MetricCollection

from lightning_evalkit._core.checks import check_choice, check_positive_int
from lightning_evalkit._core.rank_warnings import collect_on_every_rank, say_gathered
from lightning_evalkit._core.report import LoggedValue, PlotSource, ReportOptions, reporting_of
from lightning_evalkit.callback import plot_sources as plots_
from lightning_evalkit.callback.arguments import check_class_names, check_metrics, check_plots
from lightning_evalkit.callback.bootstrap import BootstrapSamples, check_bootstrap, given_indices
from lightning_evalkit.callback.metric_sets import MetricSet
from lightning_evalkit.callback.padding import (
    PaddingTracker,
    coverage_problems,
    dataloaders_as_list,
    dataset_indices,
    lacks_image_ids,
    num_samples,
    real_sample_count,
    take_first,
    with_image_ids,
)
from lightning_evalkit.callback.results import check_sync_settings, compute_quietly, logged_values, scalar_name
from lightning_evalkit.callback.sinks import TensorBoardSink, logging_step, sinks_for
from lightning_evalkit.classification.operating_points import CRITERIA
from lightning_evalkit.plotting.curves import figure_to_rgb
from lightning_evalkit.statistics.normal import check_level

__all__ = ["EvalCallback", "EvalCallbackWarning"]

OutputTransform = Callable[[Any, Any], tuple[Any, Any]]


class EvalCallbackWarning(UserWarning):
    """A warning from EvalCallback (no image logger, samples not evaluated exactly once, undefined values, a plot)."""


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


class EvalCallback(_CallbackBase):
    """Update metrics from validation and test outputs, log them each epoch, and plot their curves.

    The metrics are updated in ``on_validation_batch_end`` (and ``on_test_batch_end``) from what
    ``validation_step`` returns, computed and synced on every rank at the end of the epoch, logged with
    ``pl_module.log`` (so ModelCheckpoint and EarlyStopping can monitor them, e.g. ``"val/auroc"``), then
    reset. Curves go, from rank 0, to every logger that takes images (TensorBoard, W&B, MLflow, any logger
    with ``log_image``) at the step of that epoch's scalars. Under DDP the samples that DistributedSampler
    repeats to pad the last batches are dropped and the states are synced whatever the metrics' sync
    settings, so N processes log the one-process values. Each validation dataloader gets its own copy of
    the metrics, logged as ``val/<name>/dataloader_idx_<i>`` when there are several. Undefined values
    (NaN, COCO's -1) are not logged; a warning lists them. Per-class values go to a TensorBoard group of their
    own, ``val_per_class/<name>/<class name>`` (``per_class_prefix(prefix)``), so the headline values stay on
    the first page; ``trainer.callback_metrics`` holds them under the same keys.

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
            ``"pr_curve_plugin"``, ``"detection_pr"``, ``"per_class_ap"``, ``"calibration"``,
            ``"decision_curve"``, ``"per_class_values"``, ``"detection_confusion_matrix"``, ``"f1_confidence"``,
            ``"error_breakdown"``.
        class_names: names of the classes: a list indexed by class (label for detection) or a dict
            label -> name.
        confidence_level: when set, also log ``<name>_ci_lower`` and ``<name>_ci_upper`` for every metric with
            a ``confidence_interval()`` (AUROC: DeLong; Sensitivity, Specificity: binomial), at this level
            unless the metric sets its own ``confidence_level``.
        operating_point: "youden" or "closest_topleft": also log, for every binary ROC or AUROC, the best
            point by that criterion as ``<name>_op_threshold``, ``<name>_op_sensitivity`` and
            ``<name>_op_specificity`` (with ``confidence_level``, their Wilson bounds ``..._ci_lower/upper``).
        bootstrap: with ``confidence_level``, the number of resamples (1000 is usual) giving each value logged
            without an interval a bootstrap one, ``<name>_ci_lower/_upper`` (see ``callback.bootstrap``).
        bootstrap_seed: seed of the resampling weights (default 0).

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
        confidence_level: float | None = None,
        operating_point: str | None = None,
        bootstrap: int | None = None,
        bootstrap_seed: int | None = None,
    ) -> None:
        check_metrics(metrics)
        self.confidence_level = None if confidence_level is None else check_level(confidence_level)
        settings = check_bootstrap(bootstrap, bootstrap_seed, self.confidence_level, dict(metrics.items()))
        self._bootstrap = None if settings is None else BootstrapSamples(settings)
        if operating_point is not None:
            check_choice("operating_point", operating_point, CRITERIA)
        self.operating_point = operating_point
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
        self.plots = check_plots(plots)
        self._sets = {0: MetricSet(metrics)}  # one per evaluation dataloader, cloned from the first on demand
        self.collection, self.metrics = self._sets[0].collection, self._sets[0].metrics
        check_class_names(class_names, self.metrics)
        self.preds_key, self.target_key, self.output_transform = preds_key, target_key, output_transform
        self.prefix, self.test_prefix, self.plot_every_n_epochs = prefix, test_prefix, plot_every_n_epochs
        self.class_names = class_names
        self._options = ReportOptions(self.confidence_level, operating_point, self.plots, class_names, bootstrap)
        # refuses what cannot work now, before any epoch; what will be left out is said once, on rank 0
        self._report_warnings = [
            (f"report-{name}-{index}", message)
            for name, metric in self.metrics.items()
            for index, message in enumerate(reporting_of(metric).check_report(name, self._options))
        ]
        self._padding = PaddingTracker()
        self._dataset_indices: dict[int, list[int] | None] = {}
        self._num_dataloaders = 1
        self._kept: dict[int, int] = {}
        self._warned: set[str] = set()
        self._said: set[tuple[type[Warning], str]] = set()  # the metrics' warnings said this run
        self._charts: dict[str, tuple[str, str, str]] = {}  # margin charts of values with intervals
        self._charts_written: dict[str, tuple[str, str, str]] = {}
        self._update_warnings: list[tuple[type[Warning], str]] = []  # under DDP, every rank's update warnings

    @property
    def state_key(self) -> str:
        # Two EvalCallbacks (different prefixes) in one Trainer must not share a checkpoint key.
        return self._generate_state_key(prefix=self.prefix, test_prefix=self.test_prefix)

    # ------------------------------------------------------------------ hooks
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Check the metrics' sync settings and move the metrics to the module's device."""
        check_sync_settings(self.metrics, trainer.world_size)
        self._to_device(pl_module)

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Reset the metrics and count each dataloader's real samples on this rank."""
        limits = None if trainer.sanity_checking else getattr(trainer, "num_val_batches", None)
        self._start_epoch(trainer, pl_module, trainer.val_dataloaders, limits, "limit_val_batches")

    def on_test_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Reset the metrics and count each dataloader's real samples on this rank."""
        limits = getattr(trainer, "num_test_batches", None)
        self._start_epoch(trainer, pl_module, trainer.test_dataloaders, limits, "limit_test_batches")

    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Update the metrics with this batch's real (not padded) samples."""
        self._update(trainer, outputs, batch, dataloader_idx)

    def on_test_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Update the metrics with this batch's real (not padded) samples."""
        self._update(trainer, outputs, batch, dataloader_idx)

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
        for metric_set in self._sets.values():
            metric_set.to(pl_module.device)

    def _start_epoch(self, trainer: Any, pl_module: Any, dataloaders: Any, limits: Any, limit_name: str) -> None:
        loaders = dataloaders_as_list(dataloaders)
        self._num_dataloaders = max(1, len(loaders))
        for index in range(1, self._num_dataloaders):
            if index not in self._sets:
                self._sets[index] = self._sets[0].clone()
        self._to_device(pl_module)
        self._reset()
        self._kept = {}
        real_counts: dict[int, int | None] = {}
        self._dataset_indices = {}
        for index, dataloader in enumerate(loaders):
            limit = limits[index] if isinstance(limits, list | tuple) and index < len(limits) else None
            for key, message in coverage_problems(dataloader, index, limit, limit_name, trainer.world_size):
                self._warn_once(trainer, key, message)
            if trainer.world_size > 1:
                self._dataset_indices[index] = dataset_indices(dataloader)
                real_counts[index], _ = real_sample_count(dataloader)
        self._padding.start(real_counts)
        if self._bootstrap is not None:
            self._bootstrap.start(loaders, trainer.world_size)

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

    def _update(self, trainer: Any, outputs: Any, batch: Any, dataloader_idx: int) -> None:
        preds, target = self._extract(outputs, batch)
        size = num_samples(preds)
        position = self._padding.position(dataloader_idx)
        keep = self._padding.keep(dataloader_idx, size)
        if keep == 0:
            return
        if keep < size:
            preds, target = take_first(preds, keep), take_first(target, keep)
        if trainer.world_size > 1:
            indices = self._dataset_indices.get(dataloader_idx)
            if indices is not None:  # detection ties across images rank as on one device
                target = with_image_ids(target, indices[position : position + keep])
            elif lacks_image_ids(target):
                self._warn_once(trainer, f"image-id-{dataloader_idx}", unordered_detection_message(dataloader_idx))
        self._kept[dataloader_idx] = self._kept.get(dataloader_idx, 0) + keep
        with collect_on_every_rank(self._update_warnings, active=trainer.world_size > 1):  # said at epoch end
            self._set(dataloader_idx).update(preds, target)
        if self._bootstrap is not None:
            self._bootstrap.add(dataloader_idx, preds, target, given_indices(outputs, batch, keep), position)

    def _set(self, dataloader_idx: int) -> MetricSet:
        if dataloader_idx not in self._sets:  # a dataloader the epoch start did not list
            self._sets[dataloader_idx] = self._sets[0].clone()
        return self._sets[dataloader_idx]

    def _reset(self) -> None:
        for metric_set in self._sets.values():
            metric_set.reset()

    # ------------------------------------------------------------------ compute, log, plot
    def _items(self) -> Iterable[tuple[str, Metric]]:
        return self._sets[0].items()

    def _mark_ranks_that_saw_nothing(self, trainer: Any, pl_module: Any) -> None:
        """A rank whose batches were all padding must not warn "compute before update" when others updated."""
        if trainer.world_size <= 1:
            return
        local = torch.tensor(
            [self._kept.get(index, 0) for index in range(self._num_dataloaders)], device=pl_module.device
        )
        total = trainer.strategy.reduce(local.clone(), reduce_op="sum")
        for index in range(self._num_dataloaders):
            if int(local[index]) == 0 and int(total[index]) > 0:
                self._set(index).mark_updated()

    def _finish_epoch(self, trainer: Any, pl_module: Any, prefix: str, plot: bool) -> None:
        self._mark_ranks_that_saw_nothing(trainer, pl_module)
        if trainer.world_size > 1:  # a collective: what any rank's updates said, once from rank 0
            say_gathered(self._update_warnings, self._said)
        skipped: list[str] = []
        for index in range(self._num_dataloaders):
            suffix = f"/dataloader_idx_{index}" if self._num_dataloaders > 1 else ""
            items = list(self._set(index).items())
            results = compute_quietly(  # a collective: every rank
                items, trainer.world_size > 1, trainer.is_global_zero, self._said
            )
            extra = (
                None
                if self._bootstrap is None
                else self._bootstrap.intervals(  # a collective: gathers samples
                    index, trainer.world_size > 1, self.class_names, functools.partial(self._warn_once, trainer)
                )
            )
            values = logged_values(items, results, self._options, extra)  # a collective: intervals, operating points
            skipped += self._log_values(trainer, pl_module, values, prefix, suffix)
            self._charts.update(self._margin_charts(values, prefix, suffix))
            if plot and self.plots:
                self._plot(trainer, prefix, suffix, items, results)
        if skipped:
            self._warn_once(trainer, "undefined:" + ",".join(skipped), undefined_message(skipped))
        self._write_margin_charts(trainer)
        self._reset()

    def _margin_charts(
        self, values: Sequence[LoggedValue], prefix: str, suffix: str
    ) -> dict[str, tuple[str, str, str]]:
        """``{value tag: (value tag, lower tag, upper tag)}`` of every value logged with ``_ci_lower/_upper``."""
        names = {(value.name, value.label) for value in values}
        charts = {}
        for name, label in names:
            if (name + "_ci_lower", label) in names and (name + "_ci_upper", label) in names:
                value, lower, upper = (
                    self._tag(LoggedValue(n, 0.0, False, label), prefix, suffix)
                    for n in (name, name + "_ci_lower", name + "_ci_upper")
                )
                charts[value] = (value, lower, upper)
        return charts

    def _write_margin_charts(self, trainer: Any) -> None:
        # One layout for the whole run, rewritten only when a chart is added; rank 0 writes it.
        if not trainer.is_global_zero or self._charts == self._charts_written:
            return
        for sink in sinks_for(trainer.loggers):
            sink.margin_charts(dict(sorted(self._charts.items())))
        self._charts_written = dict(self._charts)

    def _tag(self, value: LoggedValue, prefix: str, suffix: str) -> str:
        group = prefix if value.label is None else per_class_prefix(prefix)
        return group + scalar_name(value, self.class_names) + suffix

    def _log_values(
        self, trainer: Any, pl_module: Any, values: Sequence[LoggedValue], prefix: str, suffix: str
    ) -> list[str]:
        skipped = []
        for value in values:
            name = self._tag(value, prefix, suffix)
            if value.undefined:
                # Not logged, so no logger shows it; NaN replaces last epoch's value in callback_metrics, so
                # ModelCheckpoint/EarlyStopping never act on a stale number. Written there directly: a
                # `self.log` of it with other arguments than a defined epoch's would make Lightning refuse
                # the defined epoch's call (same name, different arguments).
                skipped.append(name)
                trainer.callback_metrics[name] = torch.tensor(float("nan"))
                continue
            pl_module.log(
                name,
                value.value,
                on_step=False,
                on_epoch=True,
                batch_size=1,
                # Values are already synced and equal on every rank; "max" of equal values is exact.
                sync_dist=True,
                reduce_fx="max",
                add_dataloader_idx=False,
            )
        return skipped

    def _plot(
        self, trainer: Any, prefix: str, suffix: str, items: list[tuple[str, Metric]], results: Mapping[str, Any]
    ) -> None:
        # Counts are gathered on every rank (each call is a collective); only rank 0 draws.
        sources = plots_.plot_sources(
            items, results, self.plots, self.class_names, self.confidence_level, self.operating_point
        )
        if not trainer.is_global_zero:
            return
        for key, message in self._report_warnings:
            self._warn_once(trainer, key, message)
        sinks = sinks_for(trainer.loggers)
        if not sinks:
            self._warn_once(
                trainer,
                "no-image-logger",
                "EvalCallback found no logger that takes images in trainer.loggers (TensorBoardLogger, "
                "WandbLogger, MLFlowLogger or any logger with `log_image`), so it writes no curve plots (the "
                "scalars are still logged). Pass such a logger to the Trainer, or plots=False.",
            )
            return
        self.write_plots(sinks, prefix, sources, logging_step(trainer), trainer, suffix)

    def write_plots(
        self,
        sinks: Sequence[Any],
        prefix: str,
        sources: Sequence[PlotSource],
        step: int,
        trainer: Any = None,
        suffix: str = "",
    ) -> None:
        """Draw the plots of ``sources`` and send them to every sink (rank 0's half of the plotting).

        ``sinks`` are image sinks (``lightning_evalkit.callback.sinks``) or TensorBoard SummaryWriters. Each figure is
        built, rendered, sent and dropped before the next one, so at most one is alive.
        """
        sinks = [sink if hasattr(sink, "pr_curve") else TensorBoardSink(sink) for sink in sinks]
        for tag, build in plots_.figure_builders(sources, self.plots, self.class_names):
            try:
                image = figure_to_rgb(build())
            except Exception as error:  # a plot must never stop a training run
                self._warn_once(trainer, f"plot-{tag}", f"EvalCallback could not draw {tag!r}: {error!r}")
                continue
            for sink in sinks:
                sink.image(prefix + tag + suffix, image, step)
        for tag, data in plots_.pr_curve_entries(sources, self.class_names):
            for sink in sinks:
                sink.pr_curve(prefix + tag + suffix, data, step)

    def _plot_sources(self, results: Mapping[str, Any]) -> list[PlotSource]:
        """What the plots of ``results`` need (a collective on every rank); see ``callback.plot_sources``."""
        return plots_.plot_sources(
            list(self._items()), results, self.plots, self.class_names, self.confidence_level, self.operating_point
        )

    def _warn_once(self, trainer: Any, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        if trainer is None or trainer.is_global_zero:
            warnings.warn(message, EvalCallbackWarning, stacklevel=2)


def undefined_message(keys: Sequence[str]) -> str:
    """The warning for values that are undefined this epoch and so not logged."""
    return (
        f"EvalCallback did not log {', '.join(keys)}: undefined this epoch (NaN, or -1, COCO's 'undefined', "
        "e.g. no ground truth of that size or class). They are absent from the loggers and NaN in "
        "trainer.callback_metrics, so ModelCheckpoint/EarlyStopping never act on them."
    )


def unordered_detection_message(index: int) -> str:
    """The warning for a shuffled (or unknown-order) detection dataloader without image ids under DDP."""
    return (
        f"EvalCallback cannot tell the dataset index of the images of dataloader {index} under DDP (its sampler "
        "shuffles or is not a DistributedSampler) and its targets carry no `image_id`, so detections with equal "
        "scores in different images may rank differently than on one device (mAP can differ). Give each target "
        "an `image_id` (e.g. its dataset index), or validate with shuffle=False."
    )


def per_class_prefix(prefix: str) -> str:
    """The group of per-class values: ``"val/"`` -> ``"val_per_class/"``.

    Example:
        >>> per_class_prefix("val/"), per_class_prefix("test_mc/"), per_class_prefix("")
        ('val_per_class/', 'test_mc_per_class/', 'per_class/')
    """
    stem = prefix.rstrip("/")
    return f"{stem}_per_class/" if stem else "per_class/"
