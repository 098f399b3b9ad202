"""The README's calibration example runs as written and prints the numbers its comment shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.slow
def test_readme_calibration_example_prints_what_it_says() -> None:
    text = README.read_text()
    section = text[text.index("## Calibration and clinical utility") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    code = block.group(1)
    expected = re.search(r"^# (.+)$", code, re.M)
    assert expected is not None
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, str(README), "exec"), {})
    assert output.getvalue().strip() == expected.group(1).strip()
