"""A griffe extension for the API reference: docstrings as the site should render them.

zoo_tune's Google docstrings title their doctests ``Example:``; griffe's Google parser knows
only ``Examples:`` as a section of code, and renders ``Example:`` as a note of plain text (its
``>>>`` lines as quotes, ``[8, 2]`` as a broken link). Some docstrings also name other objects
with Sphinx roles (``:meth:`fit```), which Markdown shows as they are written. Loaded by
mkdocs.yml's mkdocstrings options; the package's docstrings stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.M)
_ROLE = re.compile(r":(?:meth|func|mod|data|class|attr|exc|obj):`~?([^`]+)`")


class ExampleSections(griffe.Extension):
    """Before a docstring is parsed: ``Example:`` becomes ``Examples:``, a role plain code."""

    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _ROLE.sub(r"`\1`", text)
