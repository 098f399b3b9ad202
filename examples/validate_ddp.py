"""What "exact under DDP" means: one model, validated on 1 process and on 2, logs the same numbers.

Training under DDP is a different run (each rank sees half of each batch, so the effective batch and the
trained weights differ), so a DDP training run's validation numbers differ from a 1-device run's. What is
exact is the evaluation of a given model. This script trains the breast-cancer classifier for a few epochs on
one process, saves the checkpoint, then validates that checkpoint with ``trainer.validate`` on 1 process and
on 2 gloo processes (CPU), and prints both sets of numbers side by side::

    python examples/validate_ddp.py
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import pytorch_lightning as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_classifier import BreastCancerClassifier, BreastCancerData, quiet_lightning

from lightning_evalkit import AUROC, ConfusionMatrix, EvalCallback, Sensitivity, Specificity

KEYS = ("val/auroc", "val/sensitivity", "val/specificity")


def _callback() -> EvalCallback:
    metrics = {
        "auroc": AUROC(task="binary"),
        "sensitivity": Sensitivity(task="binary"),
        "specificity": Specificity(task="binary"),
        "confusion_matrix": ConfusionMatrix(task="binary"),
    }
    return EvalCallback(metrics, plots=False)


def _trainer(devices: int, root: str, **kwargs: object) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp_spawn" if devices > 1 else "auto",
        callbacks=[_callback()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        **kwargs,  # type: ignore[arg-type]
    )


def validate(checkpoint: str, devices: int, root: str) -> dict[str, float]:
    """``trainer.validate`` of the checkpoint on ``devices`` CPU processes; the logged metrics."""
    model = BreastCancerClassifier.load_from_checkpoint(checkpoint)
    (results,) = _trainer(devices, root).validate(model, datamodule=BreastCancerData(batch_size=32))
    return {key: float(results[key]) for key in KEYS}


def main() -> None:
    """Train briefly, then validate the same checkpoint on 1 and on 2 processes and print both."""
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    pl.seed_everything(0, verbose=False)
    with tempfile.TemporaryDirectory() as root:
        trainer = _trainer(1, root, max_epochs=3)
        trainer.fit(BreastCancerClassifier(), datamodule=BreastCancerData(batch_size=32))
        checkpoint = str(Path(root) / "model.ckpt")
        trainer.save_checkpoint(checkpoint)
        one, two = validate(checkpoint, 1, root), validate(checkpoint, 2, root)
    print(f"{'metric':>16} {'1 process':>12} {'2 processes':>12}")
    for key in KEYS:
        print(f"{key:>16} {one[key]:>12.10f} {two[key]:>12.10f}")
    print("identical:", one == two)


if __name__ == "__main__":
    main()
