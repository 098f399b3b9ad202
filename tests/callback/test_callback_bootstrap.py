"""EvalCallback(confidence_level=..., bootstrap=N): values without an analytic interval get BootstrapInterval's
interval, logged as ``<name>_ci_lower/_upper`` with a margin chart, the same bits on 2 gloo processes as on one."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchmetrics.classification import BinaryF1Score

from lightning_evalkit import AUROC, CalibrationError, EvalCallback, MeanAveragePrecision
from lightning_evalkit.callback.bootstrap import BootstrapSamples, BootstrapSettings
from lightning_evalkit.callback.eval_callback import EvalCallbackWarning
from lightning_evalkit.classification.bootstrap import BootstrapInterval
from lightning_evalkit.functional import auroc_confidence_interval
from lightning_evalkit.statistics.bootstrap import resample_rows
from tests._events import read_events, scalars
from tests._score_models import ScoreDataset, ScoreModulePL, epoch_scores
from tests.callback.test_callback import make_trainer
from tests.callback.test_callback_intervals import _margin_charts

VAL_SIZE, RESAMPLES, LEVEL, SEED = 101, 40, 0.9, 7  # 101 % 2 == 1: under DDP rank 1 gets a padded repeat


class OneClassFirstPL(ScoreModulePL):  # type: ignore[misc, valid-type]
    """Epoch 0 validates on negatives only (every AUC undefined), epoch 1 on the real labels.

    With ``offset``, validation_step also returns ``indices``: the dataset index plus ``offset``.
    """

    def __init__(self, val_size: int = VAL_SIZE, offset: int | None = None) -> None:
        super().__init__(val_size=val_size)
        self.offset = offset

    def _outputs(self, batch: Any) -> dict[str, torch.Tensor]:
        outputs = super()._outputs(batch)
        if self.current_epoch == 0:
            outputs["target"] = torch.zeros_like(outputs["target"])
        if self.offset is not None:
            outputs["indices"] = batch[0] + self.offset
        return outputs


def _callback(**kwargs: Any) -> EvalCallback:
    metrics = {
        "pauc": AUROC(task="binary", max_fpr=0.5),  # no interval of its own: bootstrapped
        "auroc": AUROC(task="binary"),  # DeLong's: left alone
        "ece": CalibrationError(task="binary", n_bins=5),
        "f1": BinaryF1Score(),  # a torchmetrics metric
    }
    return EvalCallback(
        metrics, plots=False, confidence_level=LEVEL, bootstrap=RESAMPLES, bootstrap_seed=SEED, **kwargs
    )


def _fit(tmp_path: Path, module: Any, **trainer_kwargs: Any) -> dict[str, list[float]]:
    trainer = make_trainer("pytorch_lightning", tmp_path, [_callback()], **trainer_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    events = read_events(tmp_path)
    return {tag: scalars(events, tag) for tag in events.Tags()["scalars"] if tag.startswith("val")}


def _by_hand(metric: Any, indices: torch.Tensor) -> tuple[float, float, float]:
    """BootstrapInterval of ``metric`` on epoch 1's samples, numbered ``indices``."""
    data = ScoreDataset(VAL_SIZE)
    interval = BootstrapInterval(metric, num_resamples=RESAMPLES, confidence_level=LEVEL, seed=SEED)
    interval.update(epoch_scores(data.scores, torch.arange(VAL_SIZE), 1), data.labels, indices)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(float(value) for value in interval.compute())  # type: ignore[return-value]


def _as_logged(value: float) -> float:
    return float(np.float32(value))  # TensorBoard keeps float32


@pytest.mark.slow
@pytest.mark.parametrize("offset", [None, 1000], ids=["dataset-order", "indices-from-validation-step"])
def test_the_interval_is_bootstrap_intervals_on_the_same_samples(tmp_path: Path, offset: int | None) -> None:
    logged = _fit(tmp_path, OneClassFirstPL(offset=offset))
    indices = torch.arange(VAL_SIZE) + (offset or 0)
    for name, metric in (("pauc", AUROC(task="binary", max_fpr=0.5)), ("ece", CalibrationError("binary", n_bins=5))):
        value, lower, upper = _by_hand(metric, indices)
        assert logged[f"val/{name}"][-1] == _as_logged(value)
        assert logged[f"val/{name}_ci_lower"][-1] == _as_logged(lower), name
        assert logged[f"val/{name}_ci_upper"][-1] == _as_logged(upper), name
        assert lower < upper
    # epoch 0 has one class: the partial AUC and its interval are undefined, so not logged; ECE is defined
    assert len(logged["val/pauc"]) == len(logged["val/pauc_ci_lower"]) == 1
    assert len(logged["val/ece_ci_lower"]) == 2
    # the full AUC keeps DeLong's interval
    data = ScoreDataset(VAL_SIZE)
    scores = epoch_scores(data.scores, torch.arange(VAL_SIZE), 1)
    _, delong_lower, _ = auroc_confidence_interval(scores, data.labels, task="binary", level=LEVEL)
    assert logged["val/auroc_ci_lower"] == [_as_logged(float(delong_lower))]
    # a torchmetrics metric: the percentile interval (numpy's) of its values on the same resamples
    f1 = [
        float(BinaryF1Score()(scores[rows], data.labels[rows]))
        for rows in (resample_rows(SEED, indices, b) for b in range(RESAMPLES))
    ]
    lower, upper = np.percentile(f1, [5.0, 95.0])
    assert logged["val/f1_ci_lower"][-1] == _as_logged(lower)
    assert logged["val/f1_ci_upper"][-1] == _as_logged(upper)


@pytest.mark.slow
def test_the_margin_chart_layout_lists_the_bootstrap_interval(tmp_path: Path) -> None:
    _fit(tmp_path, OneClassFirstPL())
    charts = _margin_charts(read_events(tmp_path))
    for name in ("pauc", "ece", "f1", "auroc"):
        assert charts[f"val/{name}"] == [f"val/{name}", f"val/{name}_ci_lower", f"val/{name}_ci_upper"]


@pytest.mark.slow
@pytest.mark.ddp
def test_two_process_ddp_logs_the_single_process_bits(tmp_path: Path) -> None:
    single = _fit(tmp_path / "single", OneClassFirstPL())
    ddp = _fit(tmp_path / "ddp", OneClassFirstPL(), devices=2, strategy="ddp_spawn")
    assert "val/pauc_ci_upper" in single and set(ddp) == set(single)
    for tag, values in single.items():
        assert ddp[tag] == values, tag  # exactly


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bootstrap": 100}, "Expected `confidence_level` with `bootstrap=100`"),
        ({"bootstrap": 0, "confidence_level": 0.95}, "an int >= 2 (1000 is usual), but got 0"),
        ({"bootstrap": -5, "confidence_level": 0.95}, "but got -5"),
        ({"bootstrap": True, "confidence_level": 0.95}, "but got True"),
        ({"bootstrap": 10.0, "confidence_level": 0.95}, "but got 10.0"),
        ({"bootstrap_seed": 3}, "Pass bootstrap=1000 (the number of resamples) too, or drop `bootstrap_seed`"),
        ({"bootstrap": 10, "bootstrap_seed": -1, "confidence_level": 0.95}, "an int in [0, 2**64), but got -1"),
        ({"bootstrap": 10, "bootstrap_seed": "a", "confidence_level": 0.95}, "but got 'a'"),
    ],
)
def test_a_bootstrap_misconfiguration_is_refused_when_built(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        EvalCallback({"auroc": AUROC(task="binary")}, **kwargs)


def test_detection_metrics_are_refused_and_a_partial_auc_is_accepted_with_bootstrap() -> None:
    with pytest.raises(ValueError, match=r"metrics\['map'\], a detection MeanAveragePrecision"):
        EvalCallback({"map": MeanAveragePrecision()}, confidence_level=0.9, bootstrap=10)
    with pytest.raises(ValueError, match="Expected no confidence interval of a partial AUC"):
        EvalCallback({"pauc": AUROC(task="binary", max_fpr=0.2)}, confidence_level=0.9)
    EvalCallback({"pauc": AUROC(task="binary", max_fpr=0.2)}, confidence_level=0.9, bootstrap=10)


class ShuffledPL(ScoreModulePL):  # type: ignore[misc, valid-type]
    def val_dataloader(self) -> DataLoader:
        return DataLoader(ScoreDataset(self.val_size), batch_size=self.batch_size, shuffle=True)


@pytest.mark.slow
def test_samples_without_a_known_global_index_are_refused_at_the_first_batch(tmp_path: Path) -> None:
    trainer = make_trainer("pytorch_lightning", tmp_path, [_callback()], num_sanity_val_steps=0)
    with pytest.raises(ValueError, match=re.escape("Expected the global index of each sample of dataloader 0")):
        trainer.fit(ShuffledPL())


def test_bad_indices_are_explained() -> None:
    samples = BootstrapSamples(BootstrapSettings(10, 0, 0.9))
    samples.start([DataLoader(range(4))], 1)
    preds, target = torch.rand(2), torch.tensor([0, 1])
    for indices, message in (
        (torch.tensor([0.0, 1.0]), "Expected integer sample `indices`, but got torch.float32"),
        (torch.tensor([0, 1, 2]), "shape (2,), but got `indices` of (3,) and `target` of (2,)"),
        (torch.tensor([0, -3]), "Expected sample `indices` >= 0, but got -3"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            samples.add(0, preds, target, indices, 0)
    with pytest.raises(ValueError, match="Expected tensor `preds` and `target`"):
        samples.add(0, [{"boxes": preds}], target, None, 0)
    assert samples.gathered(0, distributed=False) is None  # the refused batches left nothing
    samples.add(0, preds, target, None, 0)  # the dataset order: 0, 1
    assert samples.gathered(0, distributed=False).indices.tolist() == [0, 1]  # type: ignore[union-attr]
    samples.add(0, preds, target, torch.tensor([5, 1]), 2)
    with pytest.raises(ValueError, match="got index 1 more than once: the indices must be unique"):
        samples.gathered(0, distributed=False)


@pytest.mark.slow
def test_resamples_where_a_value_is_undefined_are_left_out_with_a_warning(tmp_path: Path) -> None:
    trainer = make_trainer("pytorch_lightning", tmp_path, [_callback()], max_epochs=1, num_sanity_val_steps=0)
    with pytest.warns(EvalCallbackWarning, match=r"pauc is undefined \(NaN\) in \d+ of 40 bootstrap resamples"):
        trainer.fit(ScoreModulePL(val_size=4))  # one negative: some resamples have none
