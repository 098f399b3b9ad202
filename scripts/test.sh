#!/usr/bin/env bash
# The whole test suite: ruff, mypy, the import layers (lint-imports), then pytest (unit, property, reference-data, doctest, DDP and Trainer tests).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow and not ddp"`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ruff check .
ruff format --check .
mypy
lint-imports
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet
python -m pytest -n 2 --dist loadgroup "$@"
