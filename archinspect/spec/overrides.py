"""`--set dotted.key=value` overrides, typed by YAML rules and located as '--set ...'."""

from __future__ import annotations

from typing import Any

from archinspect.arguments import yaml_repr
from archinspect.errors import Location, Problem, UsageError
from archinspect.spec.document import Document, join, parse_document


def _split(item: str) -> tuple[str, str]:
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(
            "error: --set expects KEY=VALUE with a dotted key, e.g. "
            f"--set model.hidden_channels=32; got {item!r}"
        )
    return key, text


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
    for item, key, text in parsed:
        where = Location(f"--set {item}")
        value_doc = parse_document(text, f"--set {item}")
        if value_doc.problems:
            doc.problems.extend(Problem(key, p.message, where) for p in value_doc.problems)
            continue
        parts = key.split(".")
        node: Any = doc.data
        path = ""
        for part in parts[:-1]:
            path = join(path, part)
            if node.get(part) is None:
                node[part] = {}
                doc.marks[path] = where
            if not isinstance(node[part], dict):
                doc.problems.append(
                    Problem(
                        path,
                        f"is {yaml_repr(node[part])}, not a mapping, so --set {key} "
                        "cannot set a key inside it",
                        where,
                    )
                )
                break
            node = node[part]
        else:
            full = join(path, parts[-1])
            node[parts[-1]] = value_doc.data
            stale = [m for m in doc.marks if m == full or m.startswith((full + ".", full + "["))]
            for m in stale:
                del doc.marks[m]
            doc.marks[full] = where
            for sub in value_doc.marks:
                if sub:
                    doc.marks[full + sub if sub.startswith("[") else join(full, sub)] = where
            doc.key_marks[full] = where
