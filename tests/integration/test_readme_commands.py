"""Every shell command the README and the documentation pages show runs as written, so they cannot drift.

The commands are read from README.md and then docs/*.md (the pages moved out of the README): the lines of their
```bash blocks and every inline code span that starts with ``bash scripts/``, ``python ``, ``pytest ``,
``tensorboard `` or ``mkdocs ``. Each runs in a fresh shell
whose PATH starts with this test's environment, which is what ``source .venv/bin/activate`` gives a user (the
README says to do that once). What each command is given, honestly:

- trainings (``scripts/demo.sh``, ``scripts/detector.sh``, ``python examples/...``) run for real, shortened:
  1 epoch, 2 training and 2 validation batches, logs in a temporary directory; only the first command of
  each program trains, the program's later commands (other arguments) parse their config (``--print_config``);
- a DDP command (with ``configs/ddp.yaml``) only parses its config (``--print_config``): 2 processes and a GPU
  setting are out of reach of a unit test (``test_callback_ddp.py`` runs DDP for real);
- ``tensorboard`` and ``scripts/tensorboard.sh`` start and are stopped once they print their address;
- ``mkdocs build`` runs for real (strict, gallery included) into a temporary folder; ``mkdocs serve`` starts
  on a free port and is stopped once it says where it serves;
- ``python examples/validate_ddp.py`` runs as written (one model validated on 1 and on 2 gloo processes) and
  must print ``identical: True``; it carries the ``ddp`` marker;
- the first ``scripts/test.sh`` runs ruff and mypy, then only collects (does not run) this file's tests; a
  later ``scripts/test.sh`` command has its pytest arguments checked by ``pytest --collect-only``;
- ``pytest`` commands only collect; benchmark scripts get ``--help``;
- ``python -m lightning_evalkit.coco GT RESULTS ...`` runs for real on the COCO val2014-100 reference files in
  ../shared (its two file names replaced by theirs, ``--json`` written to a temporary file); given no files it
  gets ``--help``.

A command that fits none of these fails the test, so a new README command gets a rule here.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PREFIXES = ("bash scripts/", "python ", "pytest ", "tensorboard ", "mkdocs ")
TRAINING = ("bash scripts/demo.sh", "bash scripts/detector.sh", "python examples/")
SPAWNS_PROCESSES = ("python examples/validate_ddp.py",)


def documents() -> list[Path]:
    """README.md, then the documentation pages (docs/*.md, docs/api/*.md), in a fixed order."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "docs").glob("api/*.md"))]


def readme_commands() -> list[str]:
    """The shell commands of the README and the docs pages, in order, without comments, placeholders or
    duplicates."""
    found: list[str] = []
    for document in documents():
        found += _commands_in(document.read_text())
    return list(dict.fromkeys(found))


def _commands_in(text: str) -> list[str]:
    found: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        found += [line.split(" #")[0].strip() for line in block.splitlines() if line.strip()]
    found += re.findall(r"(?<!`)`([^`\n]+)`(?!`)", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return [re.sub(r"\s*\[[^\]]*\]", "", c).strip() for c in found if c.startswith(PREFIXES)]


def _environment(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = sys.prefix  # the scripts use an activated environment that imports this repository
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(REPO)
    env["MPLBACKEND"] = "Agg"
    return env


def _program(command: str) -> str:
    return shlex.split(command)[1]


def _first_of_its_program(command: str) -> bool:
    commands = readme_commands()
    return next(c for c in commands if _program(c) == _program(command)) == command


def _shortened(command: str, tmp_path: Path) -> list[str]:
    args = shlex.split(command)
    if "configs/ddp.yaml" in command or not _first_of_its_program(command):
        return [*args, "--print_config"]
    if command in ("bash scripts/demo.sh", "python examples/train_classifier.py"):
        args += ["fit", "--config", "configs/classifier.yaml"]
    if command in ("bash scripts/detector.sh", "python examples/train_detector.py"):
        args += ["fit", "--config", "configs/detector.yaml"]
    return [
        *args,
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=2",
        "--trainer.enable_progress_bar=false",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        f"--trainer.default_root_dir={tmp_path}",
    ]


def _serves(args: list[str], env: dict[str, str], tmp_path: Path) -> None:
    """Start a server command, wait for the address it prints, stop it."""
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [*args, "--port", "0", "--host", "127.0.0.1"], cwd=REPO, env=env, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 120
            while "http://" not in log.read_text() and server.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            assert "http://127.0.0.1:" in log.read_text(), log.read_text()
        finally:
            server.terminate()
            server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _mkdocs(args: list[str], env: dict[str, str], tmp_path: Path) -> None:
    """``mkdocs build`` for real into a temporary folder; ``mkdocs serve`` until it says where it serves."""
    if args[1] == "build":
        done = subprocess.run(
            [*args, "--site-dir", str(tmp_path / "site")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert (tmp_path / "site" / "gallery" / "binary_roc.png").is_file(), "the gallery was not rendered"
        return
    assert args[1] == "serve", f"No rule for the mkdocs command {args!r}"
    address = f"127.0.0.1:{_free_port()}"
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([*args, "--dev-addr", address], cwd=REPO, env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 240
            while f"Serving on http://{address}" not in log.read_text():
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _coco_command(args: list[str], tmp_path: Path) -> list[str]:
    if len(args) == 3:
        return [*args, "--help"]
    reference = REPO.parent / "shared" / "reference" / "coco-val2014-100"
    if not reference.is_dir():
        pytest.skip(f"COCO reference files not found at {reference}")
    files = [
        str(reference / "instances_val2014_100.json"),
        str(reference / "instances_val2014_fakebbox100_results.json"),
    ]
    rest = [str(tmp_path / "stats.json") if a.endswith(".json") else a for a in args[5:]]
    return [*args[:3], *files, *rest]


def _run(command: str, tmp_path: Path) -> None:
    env = _environment(tmp_path)
    args = shlex.split(command)
    if command.startswith(("tensorboard ", "bash scripts/tensorboard.sh")):
        if command.startswith("tensorboard "):
            args = ["tensorboard", "--logdir", str(tmp_path)]
        return _serves(args, env, tmp_path)
    if command.startswith("mkdocs "):
        return _mkdocs(args, env, tmp_path)
    if command == "python examples/validate_ddp.py":  # runs as written: one model on 1 and on 2 processes
        done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0 and "identical: True" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
        return
    if command.startswith(TRAINING):
        args = _shortened(command, tmp_path)
    elif command.startswith("bash scripts/test.sh") and _first_of_its_program(command):
        args = [*args, "-n", "0", "--collect-only", "-q", str(Path(__file__))]
    elif command.startswith("bash scripts/test.sh"):
        args = [sys.executable, "-m", "pytest", *args[2:], "--collect-only", "-q", str(Path(__file__))]
    elif command.startswith("pytest "):
        args = [*args, "--collect-only", "-q"]
    elif command.startswith("python benchmarks/"):
        args = [*args, "--help"]
    elif command.startswith("python -m lightning_evalkit.coco"):
        args = _coco_command(args, tmp_path)
    else:
        pytest.fail(f"No rule for the README command {command!r}: add one to {Path(__file__).name}.")
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command!r} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_the_readme_shows_the_commands_a_new_user_needs() -> None:
    commands = _commands_in((REPO / "README.md").read_text())
    for wanted in ("bash scripts/demo.sh", "bash scripts/tensorboard.sh", "bash scripts/detector.sh"):
        assert wanted in commands
    # Bare python/pytest/tensorboard commands need the venv, and the README must say so.
    assert "source .venv/bin/activate" in (REPO / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [pytest.param(c, marks=pytest.mark.ddp) if c.startswith(SPAWNS_PROCESSES) else c for c in readme_commands()],
)
def test_readme_command_runs_as_written(command: str, tmp_path: Path) -> None:
    _run(command, tmp_path)
