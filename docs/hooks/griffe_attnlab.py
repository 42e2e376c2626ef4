"""A griffe extension that reads attnlab's docstrings as written (see ``extensions:`` in
mkdocs.yml).

The docstrings are Google style with a few reStructuredText habits that mkdocstrings does not
render. Before the docstrings are parsed, this extension rewrites, in the parsed copy only:

* ``Example:`` section titles to ``Examples:``, so the doctests render as code;
* Sphinx roles (``:func:`attnlab.attend```, ``:class:`~attnlab.core.Score```) to code spans
  (``~`` keeps the last name, as Sphinx shows it);
* ``.. math::`` directives to ``text`` code blocks holding the formula;
* a parameter list split over two lines (``a, b, c,`` then ``d: text``) to one line.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const|math|term):`(~?)([^`]+)`"
)
_EXAMPLE = re.compile(r"^(\s*)Example:\s*$")
_MATH = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_GROUP_HEAD = re.compile(r"^(\s+)\w+(?:, \w+)*,\s*$")
_GROUP_TAIL = re.compile(r"^\s+\w+(?:, \w+)*:")


def _role(match: re.Match[str]) -> str:
    text = match.group(2)
    if match.group(1):
        text = text.rsplit(".", 1)[-1]
    return f"`{text}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def normalize(text: str) -> str:
    """The docstring ``text`` with the rewrites listed in the module docstring."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        math = _MATH.match(line)
        if math:
            pad, formula = math.group(1), [math.group(2)] if math.group(2).strip() else []
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > len(pad)):
                if lines[j].strip():
                    formula.append(lines[j].strip())
                j += 1
            out += [f"{pad}```text", *(f"{pad}{f}" for f in formula), f"{pad}```", ""]
            i = j
            continue
        if _GROUP_HEAD.match(line) and i + 1 < len(lines) and _GROUP_TAIL.match(lines[i + 1]):
            out.append(line.rstrip() + " " + lines[i + 1].strip())
            i += 2
            continue
        line = _EXAMPLE.sub(r"\1Examples:", line)
        out.append(_ROLE.sub(_role, line))
        i += 1
    return "\n".join(out)


class AttnlabDocstrings(griffe.Extension):
    """Rewrite each docstring of the loaded objects before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Normalise ``obj``'s docstring in place."""
        if obj.docstring is not None:
            obj.docstring.value = normalize(obj.docstring.value)
