#!/usr/bin/env bash
# Trains the breast-cancer classifier demo in the repository's .venv and reports its metrics.
# Extra arguments go to the LightningCLI program, e.g. `bash scripts/demo.sh fit --config configs/classifier.yaml`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python examples/train_classifier.py "$@"
