# Sourced by every script in scripts/: makes .venv inside the repo and installs the package with its
# development extras. Uses the torch already importable by python3 when there is one; otherwise installs
# torch==2.13.0 (the CPU build on these machines: an unpinned torch pulls several GB of CUDA packages).
# An activated virtual environment whose lightning_evalkit is this repository's is used as it is.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ] && (cd / && "$VIRTUAL_ENV/bin/python" -c \
        "import sys, pytorch_lightning, lightning_evalkit; sys.exit(not lightning_evalkit.__file__.startswith('$repo/'))" \
        >/dev/null 2>&1); then
    export PATH="$VIRTUAL_ENV/bin:$PATH"
    cd "$repo"
    return 0
fi
venv="$repo/.venv"
python_bin="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    if "$python_bin" -c "import torch" >/dev/null 2>&1; then
        "$python_bin" -m venv --system-site-packages "$venv"
    else
        "$python_bin" -m venv "$venv"
    fi
fi
stamp="$venv/.evalkit-installed"
wanted="$(sha256sum "$repo/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
        "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
    fi
    "$venv/bin/python" -m pip install --quiet -e "$repo[dev]"
    echo "$wanted" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$repo"
