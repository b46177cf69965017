"""`--set dotted.key=value` overrides, typed by YAML rules and located as '--set ...'."""

from __future__ import annotations

from typing import Any

from archinspect.errors import Location, Problem, UsageError
from archinspect.spec.document import Document, join, parse_document


def apply_overrides(doc: Document, overrides: list[str]) -> None:
    """Write each override into the document in place; later overrides win."""
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise UsageError(
                f"error: --set expects KEY=VALUE with a dotted key, e.g. "
                f"--set model.hidden_channels=32; got {item!r}"
            )
        where = Location(f"--set {item}")
        value_doc = parse_document(text, f"--set {item}")
        if value_doc.problems:
            doc.problems.extend(Problem(key, p.message, where) for p in value_doc.problems)
            continue
        if doc.data is None:
            doc.data = {}
        if not isinstance(doc.data, dict):
            return  # the top-level problem is reported by validation
        parts = key.split(".")
        node: Any = doc.data
        path = ""
        blocked = False
        for part in parts[:-1]:
            path = join(path, part)
            if part not in node or node[part] is None:
                node[part] = {}
                doc.marks[path] = where
            if not isinstance(node[part], dict):
                doc.problems.append(
                    Problem(
                        path,
                        f"--set {key}: {path} is not a mapping, cannot set a key inside it",
                        where,
                    )
                )
                blocked = True
                break
            node = node[part]
        if blocked:
            continue
        full = join(path, parts[-1])
        node[parts[-1]] = value_doc.data
        for sub in [
            m
            for m in doc.marks
            if m == full or m.startswith(full + ".") or m.startswith(full + "[")
        ]:
            del doc.marks[sub]
        for sub in value_doc.marks:
            if not sub:
                doc.marks[full] = where
            elif sub.startswith("["):
                doc.marks[full + sub] = where
            else:
                doc.marks[join(full, sub)] = where
        doc.key_marks[full] = where
