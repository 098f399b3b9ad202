#!/usr/bin/env bash
# Opens TensorBoard, from the repository's .venv, on the demos' logs, keeping every epoch's images.
# Usage: bash scripts/tensorboard.sh [LOGDIR] [tensorboard options], e.g. `bash scripts/tensorboard.sh tb_logs --port 6007`.
# LOGDIR defaults to the repository's tb_logs, where both demos write; a relative LOGDIR is taken from the
# directory you run the script in.
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
    logdir="$(cd "$(dirname "$1")" 2>/dev/null && pwd)/$(basename "$1")"
    shift
else
    logdir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tb_logs"
fi
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
echo "TensorBoard on $logdir (Ctrl+C to stop)"
# TensorBoard keeps 10 images and 100 PR curves per tag by default, sampled over the steps, so most epochs'
# plots of a long run would be unreachable: 0 keeps every one.
exec tensorboard --logdir "$logdir" --samples_per_plugin images=0,pr_curves=0 "$@"
