"""scripts/tensorboard.sh starts TensorBoard so that every epoch's image stays reachable (checked through
TensorBoard's own flag parsing and data ingestion, on 15 epochs of images)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "tensorboard.sh"


def _script_flags() -> list[str]:
    line = next(line for line in SCRIPT.read_text().splitlines() if line.startswith("exec tensorboard"))
    words = shlex.split(line)
    flags = []
    for index, word in enumerate(words):
        if word == "--samples_per_plugin":
            flags += [word, words[index + 1]]
    return flags


def _kept(log_dir: Path, flags: list[str]) -> tuple[int, int]:
    from tensorboard import program
    from tensorboard.backend.event_processing.data_ingester import LocalDataIngester

    board = program.TensorBoard()
    board.configure(argv=["tensorboard", "--logdir", str(log_dir), *flags])
    multiplexer = LocalDataIngester(board.flags).deprecated_multiplexer
    multiplexer.AddRunsFromDirectory(str(log_dir))
    multiplexer.Reload()
    images = multiplexer.Tensors(".", "val/roc")
    curves = multiplexer.Tensors(".", "val/pr_curve")
    return len(images), len(curves)


def test_the_script_keeps_every_epochs_image_and_pr_curve(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    epochs = 150  # past TensorBoard's defaults of 10 images and 100 PR curves per tag
    writer = SummaryWriter(str(tmp_path))
    for step in range(epochs):
        writer.add_image("val/roc", np.zeros((4, 4, 3), dtype=np.uint8), step, dataformats="HWC")
        counts = np.array([3.0, 1.0])
        writer.add_pr_curve_raw("val/pr_curve", counts, counts, counts, counts, counts / 4, counts / 4, step, 2)
    writer.close()
    assert _kept(tmp_path, []) == (10, 100)  # TensorBoard's defaults drop most epochs
    flags = _script_flags()
    assert re.search(r"images=0", " ".join(flags)) is not None
    assert _kept(tmp_path, flags) == (epochs, epochs)
