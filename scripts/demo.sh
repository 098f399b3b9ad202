#!/usr/bin/env bash
# The main job: trains the breast-cancer classifier demo and reports its metrics.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python examples/train_classifier.py "$@"
