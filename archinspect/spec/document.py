"""Safe YAML -> plain Python values, remembering where every key and value was written.

PyYAML's loaders silently keep the last of two duplicate keys and lose positions; here the
node graph is walked by hand so that duplicates, foreign tags, merge keys, recursive aliases
and alias bombs become located problems instead.

Hostile sizes are refused before the work they would cost: the parser's events are counted
(nodes and nesting depth) while libyaml reads them, so a 20 MB file stops at its 100,001st
node; integers are bounded by their digits before they are converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from archinspect.errors import Location, Problem

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
# A spec is a few dozen values; a file, or aliases that expand, far beyond this are an attack,
# not a spec.
MAX_NODES = 100_000
# Mappings and lists nested deeper than this (a Sequential's residual blocks nest a few levels).
MAX_DEPTH = 64
# An integer is a size, a count or a limit: 30 digits (below 10^30) is more than any of them.
MAX_INT_DIGITS = 30

# libyaml's parser where PyYAML was built with it (the same events and marks, far faster);
# PyYAML's own parser words the errors, so a file libyaml refuses is read again by it.
_FAST_LOADER: type | None = getattr(yaml, "CSafeLoader", None)


class _Invalid:
    """Stands in for a value that already has a problem, so it is not reported twice."""

    def __repr__(self) -> str:
        return "<invalid>"


INVALID = _Invalid()


@dataclass
class Document:
    """A parsed spec file: its data, and the position of every value and key by dotted path."""

    source: str
    data: Any
    marks: dict[str, Location] = field(default_factory=dict)
    key_marks: dict[str, Location] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Mappings that lost a key to an earlier problem: "missing key" there would be a knock-on.
    incomplete: set[str] = field(default_factory=set)

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


def _yaml_error_problem(exc: yaml.YAMLError, text: str, source: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Problem(
            "",
            f"invalid YAML: unacceptable character {char!r} ({exc.reason})",
            Location(source, line, column),
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        loc = _loc(source, mark) if mark is not None else Location(source)
        problem = (exc.problem or "").strip()
        context = (exc.context or "").strip()
        if problem == "but found another document":
            return Problem(
                "",
                "invalid YAML: a spec is a single YAML document, found a second one (a '---' line)",
                loc,
            )
        message = f"invalid YAML: {problem or context or 'cannot parse'}"
        if context and problem and exc.context_mark is not None:
            where = _loc(source, exc.context_mark)
            message += f" ({context} at line {where.line}, col {where.column})"
        return Problem("", message, loc)
    return Problem("", f"invalid YAML: {exc}", Location(source))


class _TooBig(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def _check_size(text: str, source: str, loader: type) -> None:
    """Count the parser's events, raising _TooBig at the first node past MAX_NODES or the first
    collection nested past MAX_DEPTH: the work stops there, whatever the file's size."""
    nodes = depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise _TooBig(
                    Problem(
                        "",
                        f"the YAML has more than {MAX_NODES:,} keys and values; refusing to "
                        "read further (a spec has a few dozen)",
                        _loc(source, event.start_mark),
                    )
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _TooBig(
                        Problem(
                            "",
                            f"mappings and lists are nested more than {MAX_DEPTH} levels deep; "
                            "refusing to read further",
                            _loc(source, event.start_mark),
                        )
                    )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _compose(text: str, source: str, loader: type) -> yaml.Node | None:
    _check_size(text, source, loader)
    return yaml.compose(text, Loader=loader)


def _parse(text: str, source: str) -> yaml.Node | None:
    """The document's node graph, by libyaml when it can; a file libyaml refuses is read by
    PyYAML's parser, whose error messages (and positions) are the ones archinspect prints."""
    if _FAST_LOADER is not None:
        try:
            return _compose(text, source, _FAST_LOADER)
        except yaml.YAMLError:
            pass
    return _compose(text, source, yaml.SafeLoader)


def parse_document(text: str, source: str, within: str = "") -> Document:
    """`within`: the dotted path the text's value goes to (a `--set` value), "" for a file."""
    doc = Document(source=source, data=None)
    try:
        node = _parse(text, source)
    except yaml.YAMLError as exc:
        doc.problems.append(_yaml_error_problem(exc, text, source))
        return doc
    except _TooBig as exc:
        doc.problems.append(exc.problem)
        return doc
    if node is None:
        return doc
    walker = _Walker(doc, text, within)
    data = walker.convert(node, "")
    doc.data = None if data is INVALID else data
    return doc


def _loc(source: str, mark: Any) -> Location:
    return Location(source, mark.line + 1, mark.column + 1)


def _digits(text: str) -> int:
    """The digits of a YAML integer as written: no sign, base prefix, `_` or `:` separators."""
    text = text.lstrip("+-")
    if text[:2] in ("0x", "0o", "0b"):
        text = text[2:]
    return sum(ch not in "_:" for ch in text)


_YAML11_BOOLEANS = {"yes": "true", "on": "true", "y": "true", "no": "false", "off": "false"}
_YAML11_WORDS = ("yes", "no", "on", "off", "y", "n")


def yaml11_trap(node: yaml.ScalarNode, amount: bool = False) -> str | None:
    """Why a plain scalar means one thing to PyYAML (YAML 1.1) and another to a YAML 1.2 reader
    (yaml-language-server, most editors): the problem to report, or None.

    YAML 1.1 reads `yes`/`no`/`on`/`off` (and, by its spec, `y`/`n`) as booleans, `0755` as
    octal 493, `1:20` as 80 (base 60), `1_000` as 1000 and `0b101` as 5; YAML 1.2 reads them as
    strings or as the decimal 755. A spec that means different things to the tool and to the
    editor checking it is refused, with the unambiguous spelling. A budget `amount` may keep
    its `_` separators: read as a string, `1_000_000` is the same amount."""
    if node.style:  # quoted or block: a string in both
        return None
    value = node.value
    tag = node.tag[len(_CORE) :] if node.tag.startswith(_CORE) else ""
    if value.lower() in _YAML11_WORDS and (tag == "bool" or value in ("y", "Y", "n", "N")):
        meant = _YAML11_BOOLEANS.get(value.lower(), "false")
        return (
            f"{value} is a boolean only in YAML 1.1 (YAML 1.2 readers such as editors see the "
            f"string '{value}'); write {meant}, or '{value}' in quotes for the string"
        )
    if tag not in ("int", "float"):
        return None
    digits = value.lstrip("+-")
    number = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    if ":" in digits:
        return (
            f"{value} is the base-60 number {number} in YAML 1.1 and a string in YAML 1.2; "
            f"write {number}, or '{value}' in quotes for the string"
        )
    if "_" in digits and not amount:
        return (
            f"{value} is {number} in YAML 1.1 and a string in YAML 1.2 (no digit separators); "
            f"write {number}"
        )
    if tag == "int" and digits[:2].lower() == "0b":
        return (
            f"{value} is the binary number {number} in YAML 1.1 and a string in YAML 1.2; "
            f"write {number}"
        )
    if tag == "int" and len(digits) > 1 and digits[0] == "0" and digits[1:2].isdigit():
        return (
            f"{value} is the octal number {number} in YAML 1.1 but {int(digits, 10)} in YAML 1.2; "
            f"write {number}"
        )
    return None


def short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


class _Walker:
    def __init__(self, doc: Document, text: str, within: str = ""):
        self.doc = doc
        self.text = text
        self.within = within
        self.count = 0
        self.active: set[int] = set()  # nodes being converted: re-entering one is a cycle
        self.exploded = False

    def problem(self, path: str, message: str, node: yaml.Node) -> Any:
        self.doc.problems.append(Problem(path, message, _loc(self.doc.source, node.start_mark)))
        return INVALID

    def convert(self, node: yaml.Node, path: str, depth: int = 1) -> Any:
        # The file itself was counted while it was parsed; only aliases, which repeat a value
        # wherever they are written, can take these counts past the limits here.
        doc = self.doc
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            if not self.exploded:
                self.exploded = True
                what = (
                    f"to more than {MAX_NODES:,} values"
                    if self.count > MAX_NODES
                    else f"to more than {MAX_DEPTH} levels of nesting"
                )
                self.problem(
                    path, f"the YAML expands {what} through aliases; refusing to read it", node
                )
            return INVALID
        if id(node) in self.active:
            return self.problem(path, "recursive YAML alias (a value that contains itself)", node)
        doc.marks[path] = _loc(doc.source, node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _CORE + "int":
                digits = _digits(node.value)
                if digits > MAX_INT_DIGITS:
                    return self.problem(
                        path,
                        f"an integer of {digits:,} digits; at most {MAX_INT_DIGITS} digits "
                        "are allowed",
                        node,
                    )
            full = join(self.within, path) if self.within and path else self.within or path
            trap = yaml11_trap(node, amount=full.startswith("budget."))
            if trap is not None:
                return self.problem(path, trap, node)
            if node.tag not in _SCALAR_TAGS:
                return self._tag(node, path)
            return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, depth)
            if node.tag != _CORE + "seq":
                return self._tag(node, path)
            items = [
                self.convert(item, join(path, i), depth + 1) for i, item in enumerate(node.value)
            ]
            return INVALID if any(item is INVALID for item in items) else items
        finally:
            self.active.discard(id(node))

    def _written_tag(self, node: yaml.Node) -> bool:
        """Whether the tag was written in the file (`!!timestamp x`), not resolved from a plain
        value (`2024-01-01`)."""
        mark = node.start_mark
        lines = self.text.splitlines()
        return mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "!"

    def _tag(self, node: yaml.Node, path: str) -> Any:
        if isinstance(node, yaml.ScalarNode) and not node.style and not self._written_tag(node):
            # YAML 1.1 reads some plain values as types a spec never takes.
            what = {"timestamp": "a date", "value": "the special value key"}.get(
                node.tag[len(_CORE) :], f"a {short_tag(node.tag)} value"
            )
            return self.problem(
                path,
                f"{node.value} is {what} in YAML; write it in quotes ('{node.value}') if it is "
                "meant as a string",
                node,
            )
        return self.problem(
            path,
            f"YAML tag {short_tag(node.tag)!r} is not allowed; archinspect reads plain (safe) "
            "YAML only",
            node,
        )

    def _mapping(self, node: yaml.MappingNode, path: str, depth: int) -> Any:
        doc = self.doc
        if node.tag != _CORE + "map":
            return self._tag(node, path)
        out: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key_loc = _loc(doc.source, key_node.start_mark)
            if key_node.tag == _CORE + "merge":
                self.problem(
                    path, "YAML merge keys (<<) are not supported; write the keys out", key_node
                )
                doc.incomplete.add(path)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _CORE + "str":
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                self.problem(path, f"keys must be strings, got {shown}", key_node)
                doc.incomplete.add(path)
                continue
            key = key_node.value
            child = join(path, key)
            if key in first_seen:
                self.problem(
                    child,
                    f"duplicate key {key!r} (first defined at line {first_seen[key].line}); "
                    "each key may appear once",
                    key_node,
                )
                continue
            first_seen[key] = key_loc
            doc.key_marks[child] = key_loc
            value = self.convert(value_node, child, depth + 1)
            if value is INVALID:
                doc.incomplete.add(path)
                continue
            out[key] = value
        return out
