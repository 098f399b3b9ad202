#!/usr/bin/env bash
# Trains the shapes detector demo (MeanAveragePrecision + EvalCallback) in the repository's .venv.
# Extra arguments go to the LightningCLI program, e.g. `bash scripts/detector.sh fit --config configs/detector.yaml`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python examples/train_detector.py "$@"
