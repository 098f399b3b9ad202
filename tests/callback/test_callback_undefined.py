"""An undefined value (NaN) is never logged as data, and monitors see NaN, not last epoch's value."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lightning_evalkit import AUROC, Sensitivity
from lightning_evalkit.callback.eval_callback import EvalCallback, EvalCallbackWarning
from tests._events import read_events
from tests._score_models import ScoreModulePL
from tests.callback.test_callback import make_trainer


@pytest.mark.slow
def test_an_undefined_auroc_is_not_logged_and_early_stopping_stops(tmp_path: Path) -> None:
    from pytorch_lightning.callbacks import EarlyStopping

    callback = EvalCallback({"auroc": AUROC(task="binary"), "sensitivity": Sensitivity(task="binary")}, plots=False)
    stopper = EarlyStopping(monitor="val/auroc", mode="max")  # check_finite=True by default
    trainer = make_trainer("pytorch_lightning", tmp_path, [callback, stopper], max_epochs=3)
    with pytest.warns(EvalCallbackWarning, match="did not log val/auroc") as record:
        trainer.fit(ScoreModulePL(val_size=1))  # one sample: one class, so AUROC is undefined (NaN)
    assert sum("did not log" in str(w.message) for w in record) == 1
    assert trainer.current_epoch == 1 and stopper.stopped_epoch == 0  # stopped at the first undefined value
    assert math.isnan(float(trainer.callback_metrics["val/auroc"]))
    tags = read_events(tmp_path).Tags()["scalars"]
    assert "val/auroc" not in tags
