"""A griffe extension for the API reference: reads the package's docstrings as Markdown, as they are written.

The docstrings are Google style with a few reStructuredText habits, which the API pages would otherwise show
raw. When griffe loads an object, this extension (the docstrings themselves stay as they are, and
``--doctest-modules`` runs their examples):

- reads an ``Example:`` section as ``Examples:``, Google style's doctest section (griffe reads the singular as
  an admonition and renders the ``>>>`` lines as nested quotes);
- turns the roles ``:func:`name``` (``:class:``, ``:meth:``, ``:mod:``, ...) into the code span ```name```;
- ends a paragraph that introduces a literal block with ``:`` instead of ``::`` (the indented block below it
  is already a Markdown code block).
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`~?([^`]+)`")
_LITERAL = re.compile(r"(\S)::$", re.MULTILINE)


def markdown_docstring(text: str) -> str:
    """The docstring ``text`` with the three rewrites above."""
    text = _EXAMPLE.sub(r"\1Examples:", text)
    text = _ROLE.sub(r"`\1`", text)
    return _LITERAL.sub(r"\1:", text)


class MarkdownDocstrings(Extension):
    """Rewrite each docstring when griffe loads its object (parsing is lazy, at render time)."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring before griffe parses it."""
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
