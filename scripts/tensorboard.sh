#!/usr/bin/env bash
# Opens TensorBoard, from the repository's .venv, on the demos' logs.
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
exec tensorboard --logdir "$logdir" "$@"
