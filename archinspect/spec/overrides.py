"""`--set dotted.key=value` overrides, typed by YAML rules and located as '--set ...'.

A key is a dotted path through mappings and lists: `model.hidden_channels`,
`model.dilation_rates[1]`, `model.layers[2].conv.kernel_size`. Missing mappings are created;
a list index must exist (an argument the file leaves to its family's default list starts from
that default), and a path that runs into a value of the wrong shape is a located problem.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from archinspect.errors import Location, Problem, UsageError
from archinspect.spec.document import Document, join, parse_document
from archinspect.spec.messages import brief_repr, shorten, yaml_repr

_SEGMENT = r"[^.\[\]]+(?:\[\d+\])*"
_KEY = re.compile(rf"^{_SEGMENT}(?:\.{_SEGMENT})*$")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

Part = str | int


def parse_key(key: str) -> list[Part] | None:
    """'model.layers[2].conv' -> ['model', 'layers', 2, 'conv']; None when malformed."""
    if not _KEY.match(key):
        return None
    return [int(index) if index else name for name, index in _PART.findall(key)]


def _split(item: str) -> tuple[str, list[Part], str]:
    key, sep, text = item.partition("=")
    key = key.strip()
    parts = parse_key(key) if sep else None
    if parts is None:
        raise UsageError(
            "error: --set expects KEY=VALUE with a dotted key, e.g. "
            f"--set model.hidden_channels=32; got {brief_repr(item)}"
        )
    return key, parts, text


def apply_overrides(doc: Document, overrides: list[str]) -> None:
    """Write each override into the document in place; later overrides win.

    Every override's syntax is checked first, so a malformed one is reported even when the
    file itself is broken.
    """
    parsed = [(item, *_split(item)) for item in overrides]
    if doc.data is None and not doc.problems:
        doc.data = {}
    if not isinstance(doc.data, dict):
        return  # the file's own problem is reported by validation
    for item, key, parts, text in parsed:
        where = Location(f"--set {shorten(item)}")
        value_doc = parse_document(text, where.source, key)
        if value_doc.problems:
            doc.problems.extend(Problem(key, p.message, where) for p in value_doc.problems)
            continue
        _set(doc, key, parts, value_doc, where)


def _set(doc: Document, key: str, parts: list[Part], value_doc: Document, where: Location) -> None:
    node: Any = doc.data
    path = ""
    for part, below in zip(parts, parts[1:], strict=False):
        child_path = join(path, part)
        child = node[part] if isinstance(part, int) else node.get(part)
        if child is None and isinstance(below, str):
            child = node[part] = {}
            doc.marks[child_path] = where
        elif child is None:
            found, default = _family_default(doc, child_path)
            if not found or not isinstance(default, list):
                message = (
                    f"is {yaml_repr(default)} (the family's default), not a list, so --set {key} "
                    f"cannot set index {below} in it"
                    if found
                    else f"is not set, so --set {key} cannot set index {below} in it; give the "
                    f"whole list, e.g. --set {child_path}=[...]"
                )
                doc.problems.append(Problem(child_path, message, where))
                return
            child = node[part] = default
            for i in range(len(child)):
                doc.marks[join(child_path, i)] = where
        problem = _cannot_descend(child, below, key)
        if problem is not None:
            doc.problems.append(Problem(child_path, problem, where))
            return
        if isinstance(below, int):
            # The list as a whole is now what this override made it: a problem with it is
            # reported here.
            doc.marks[child_path] = where
        node, path = child, child_path
    last = parts[-1]
    full = join(path, last)
    node[last] = value_doc.data
    stale = [m for m in doc.marks if m == full or m.startswith((full + ".", full + "["))]
    for m in stale:
        del doc.marks[m]
    doc.marks[full] = where
    for sub in value_doc.marks:
        if sub:
            doc.marks[full + sub if sub.startswith("[") else join(full, sub)] = where
    doc.key_marks[full] = where


def _cannot_descend(value: Any, below: Part, key: str) -> str | None:
    """Why `below` (a key or an index) cannot be set inside `value`, or None."""
    if isinstance(below, str):
        if not isinstance(value, dict):
            return (
                f"is {yaml_repr(value)}, not a mapping, so --set {key} cannot set a key inside it"
            )
        return None
    if not isinstance(value, list):
        return f"is {yaml_repr(value)}, not a list, so --set {key} cannot set index {below} in it"
    if not value:
        return f"is an empty list, so --set {key} cannot set index {below} in it"
    if below >= len(value):
        n = len(value)
        return (
            f"has {n} entr{'y' if n == 1 else 'ies'} (indices 0 to {n - 1}), so --set {key} "
            f"cannot set index {below}"
        )
    return None


def _family_default(doc: Document, path: str) -> tuple[bool, Any]:
    """Whether `path` is `model.<argument>` of a known family with a default, and a copy of it."""
    from archinspect.families import FAMILIES

    model = doc.data.get("model") if isinstance(doc.data, dict) else None
    head, _, name = path.partition(".")
    if head != "model" or not name or "." in name or "[" in name or not isinstance(model, dict):
        return False, None
    family_name = model.get("family")
    family = FAMILIES.get(family_name) if isinstance(family_name, str) else None
    arg = family.arg(name) if family is not None else None
    if arg is None or arg.required:
        return False, None
    return True, copy.deepcopy(arg.default)
