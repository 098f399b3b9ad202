"""Where the curve images go: one small adapter ("sink") per kind of Lightning logger, chosen from trainer.loggers.

Scalars reach every logger through ``pl_module.log``; only images need an adapter. A logger kind whose package is
not installed simply never appears in ``trainer.loggers``: nothing here imports wandb or mlflow.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np


class Sink(Protocol):
    """Takes one rendered image (H, W, 3 uint8) or one set of PR-curve counts at a step."""

    def image(self, tag: str, image: np.ndarray, step: int) -> None: ...

    def pr_curve(self, tag: str, data: Mapping[str, np.ndarray], step: int) -> None: ...

    def margin_charts(self, charts: Mapping[str, tuple[str, str, str]]) -> None: ...


class TensorBoardSink:
    """A TensorBoard SummaryWriter (a TensorBoardLogger's ``experiment``): images and the PR-curve plugin."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.writer.add_image(tag, image, step, dataformats="HWC")

    def pr_curve(self, tag: str, data: Mapping[str, np.ndarray], step: int) -> None:
        self.writer.add_pr_curve_raw(
            tag, *(data[k] for k in ("tp", "fp", "tn", "fn", "precision", "recall")), step, len(data["tp"])
        )

    def margin_charts(self, charts: Mapping[str, tuple[str, str, str]]) -> None:
        """The Custom Scalars tab's layout: per chart title, a margin chart of (value, lower, upper) tags, so each
        value is drawn with its interval as a band over the epochs."""
        # TensorBoard reads one layout per run (the last written): every EvalCallback writing to this writer adds
        # its charts to the ones kept on the writer, and the union is written.
        kept = self.writer.__dict__.setdefault("_evalkit_margin_charts", {})
        kept.update(charts)
        layout = {"Intervals": {title: ["Margin", list(tags)] for title, tags in sorted(kept.items())}}
        self.writer.add_custom_scalars(layout)


class MLflowSink:
    """An MLFlowLogger: time-stepped images through the MLflow client (``key``/``step``), else one file per step."""

    def __init__(self, logger: Any) -> None:
        self.client, self.run_id = logger.experiment, logger.run_id

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        if "step" in inspect.signature(self.client.log_image).parameters:
            self.client.log_image(self.run_id, image, key=tag, step=step)
        else:  # MLflow before 2.12: no image series
            self.client.log_image(self.run_id, image, artifact_file=f"{tag}/step_{step}.png")

    def pr_curve(self, tag: str, data: Mapping[str, np.ndarray], step: int) -> None:
        """MLflow has no PR-curve widget; the precision-recall image carries the curve."""

    def margin_charts(self, charts: Mapping[str, tuple[str, str, str]]) -> None:
        """No layout to write: the bounds are logged as scalars beside the value."""


class LogImageSink:
    """WandbLogger, and any other logger with ``log_image(key, images, step)``."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.logger.log_image(key=tag, images=[image], step=step)

    def pr_curve(self, tag: str, data: Mapping[str, np.ndarray], step: int) -> None:
        """No PR-curve widget in the generic interface; the precision-recall image carries the curve."""

    def margin_charts(self, charts: Mapping[str, tuple[str, str, str]]) -> None:
        """No layout to write: the bounds are logged as scalars beside the value."""


def _logger_class(name: str) -> tuple[type, ...]:
    found = []
    for package in ("pytorch_lightning", "lightning.pytorch"):
        try:
            found.append(getattr(importlib.import_module(f"{package}.loggers"), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _is_tensorboard(logger: Any) -> bool:
    return isinstance(logger, _logger_class("TensorBoardLogger"))


def _is_mlflow(logger: Any) -> bool:
    return isinstance(logger, _logger_class("MLFlowLogger"))


def _has_log_image(logger: Any) -> bool:
    return callable(getattr(logger, "log_image", None))


# (does this logger belong to the kind?, its sink), first match wins.
SINK_KINDS: list[tuple[Callable[[Any], bool], Callable[[Any], Sink]]] = [
    (_is_tensorboard, lambda logger: TensorBoardSink(logger.experiment)),
    (_is_mlflow, MLflowSink),
    (_has_log_image, LogImageSink),
]


def sinks_for(loggers: Sequence[Any]) -> list[Sink]:
    """One sink per logger that can take images; loggers that cannot (CSVLogger) get none.

    Example:
        >>> from pytorch_lightning.loggers import CSVLogger
        >>> sinks_for([CSVLogger("logs")])
        []
    """
    sinks = []
    for logger in loggers:
        for belongs, make in SINK_KINDS:
            if belongs(logger):
                sinks.append(make(logger))
                break
    return sinks


def logging_step(trainer: Any) -> int:
    """The step Lightning writes epoch-end ``self.log`` values at, so images sit beside their epoch's scalars."""
    epoch_loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    step = getattr(epoch_loop, "_batches_that_stepped", None)
    return int(step) if step is not None else int(trainer.global_step)
