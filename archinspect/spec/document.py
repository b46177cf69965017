"""Safe YAML -> plain Python values, remembering where every key and value was written.

PyYAML's loaders silently keep the last of two duplicate keys and lose positions; here the
node graph is walked by hand so that duplicates, foreign tags and merge keys become located
problems instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from archinspect.errors import Location, Problem

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}


@dataclass
class Document:
    """A parsed spec file: its data, and the position of every value and key by dotted path."""

    source: str
    data: Any
    marks: dict[str, Location] = field(default_factory=dict)
    key_marks: dict[str, Location] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def where(self, path: str) -> Location | None:
        """Position of the value at `path`, else of its nearest located ancestor."""
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return None
            path = parent_path(path)

    def where_key(self, path: str) -> Location | None:
        return self.key_marks.get(path) or self.where(path)


def join(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def parent_path(path: str) -> str:
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]


def parse_document(text: str, source: str) -> Document:
    doc = Document(source=source, data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _loc(source, mark) if mark is not None else Location(source)
        reason = (exc.problem or exc.context or "invalid YAML").strip()
        doc.problems.append(Problem("", f"invalid YAML: {reason}", loc))
        return doc
    except yaml.YAMLError as exc:  # e.g. a reader error on bad bytes
        doc.problems.append(Problem("", f"invalid YAML: {exc}", Location(source)))
        return doc
    if node is None:
        return doc
    doc.data = _convert(node, "", doc)
    return doc


def _loc(source: str, mark: Any) -> Location:
    return Location(source, mark.line + 1, mark.column + 1)


def _convert(node: yaml.Node, path: str, doc: Document) -> Any:
    doc.marks[path] = _loc(doc.source, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        if node.tag != _CORE + "map":
            doc.problems.append(_tag_problem(node, path, doc))
            return None
        out: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key_loc = _loc(doc.source, key_node.start_mark)
            if key_node.tag == _CORE + "merge":
                doc.problems.append(
                    Problem(
                        path, "YAML merge keys (<<) are not supported; write the keys out", key_loc
                    )
                )
                continue
            key = _convert(key_node, join(path, "<key>"), doc)
            doc.marks.pop(join(path, "<key>"), None)
            if not isinstance(key, str):
                doc.problems.append(Problem(path, f"keys must be strings, got {key!r}", key_loc))
                continue
            child = join(path, key)
            if key in first_seen:
                doc.problems.append(
                    Problem(
                        child,
                        f"duplicate key {key!r} (first defined at line {first_seen[key].line}); "
                        "each key may appear once",
                        key_loc,
                    )
                )
                continue
            first_seen[key] = key_loc
            doc.key_marks[child] = key_loc
            out[key] = _convert(value_node, child, doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _CORE + "seq":
            doc.problems.append(_tag_problem(node, path, doc))
            return None
        return [_convert(item, join(path, i), doc) for i, item in enumerate(node.value)]
    if node.tag not in _SCALAR_TAGS:
        doc.problems.append(_tag_problem(node, path, doc))
        return None
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _tag_problem(node: yaml.Node, path: str, doc: Document) -> Problem:
    return Problem(
        path,
        f"YAML tag {node.tag!r} is not allowed; archinspect reads plain (safe) YAML only",
        _loc(doc.source, node.start_mark),
    )
