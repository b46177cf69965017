"""Typed argument kinds: each knows its check, its type name and its JSON Schema.

One declaration (`Arg(name, kind, default, help)`) feeds validation, `archinspect families` and
the JSON Schema. Flat kinds return one message for a bad value; nested kinds (`LayerList`)
return every problem below them, each with its path inside the value, so a spec still gets all
its problems at once, each at its own line and column.

Kept free of JAX (and of any heavy import) so that `--help`, `families`, `schema` and spec
validation stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archinspect.spec.messages import did_you_mean, one_of, yaml_repr

ACTIVATIONS: tuple[str, ...] = (
    "relu",
    "relu6",
    "leaky_relu",
    "gelu",
    "gelu_exact",
    "tanh",
    "silu",
    "swish",
    "elu",
    "celu",
    "selu",
    "sigmoid",
    "softplus",
    "identity",
)


@dataclass(frozen=True)
class Issue:
    """A problem inside a value: `where` is the path below the argument (keys and indices),
    empty for the value itself; `at_key` places it at the key rather than at the value."""

    where: tuple[str | int, ...]
    message: str
    at_key: bool = False


class Kind:
    """How values of one argument are checked, named and described."""

    def type_name(self) -> str:
        raise NotImplementedError

    def check(self, value: Any) -> str | None:
        """An error message for a bad value, or None when it is fine."""
        raise NotImplementedError

    def issues(self, value: Any) -> list[Issue]:
        """Every problem of the value, located inside it (flat kinds: the value itself)."""
        message = self.check(value)
        return [] if message is None else [Issue((), message)]

    def json_schema(self) -> dict:
        raise NotImplementedError

    def normalized(self, value: Any) -> Any:
        """The checked value as the builder receives it (a fresh list for lists)."""
        return list(value) if isinstance(value, list) else value


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class Int(Kind):
    """An integer >= minimum, or one of a few allowed integers."""

    minimum: int = 1
    choices: tuple[int, ...] = ()

    def type_name(self) -> str:
        return "int" if not self.choices else " | ".join(str(c) for c in self.choices)

    def check(self, value: Any) -> str | None:
        if self.choices:
            if isinstance(value, bool) or value not in self.choices:
                allowed = ", ".join(str(c) for c in self.choices[:-1]) + f" or {self.choices[-1]}"
                return f"must be {allowed}, got {yaml_repr(value)}"
            return None
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(
            self.minimum, f"an integer >= {self.minimum}"
        )
        if isinstance(value, bool):
            return f"must be {what}, got {yaml_repr(value)} (a boolean)"
        if not isinstance(value, int) or value < self.minimum:
            return f"must be {what}, got {yaml_repr(value)}"
        return None

    def json_schema(self) -> dict:
        if self.choices:
            return {"type": "integer", "enum": list(self.choices)}
        return {"type": "integer", "minimum": self.minimum}


@dataclass(frozen=True)
class Bool(Kind):
    def type_name(self) -> str:
        return "bool"

    def check(self, value: Any) -> str | None:
        if not isinstance(value, bool):
            return f"must be true or false, got {yaml_repr(value)}"
        return None

    def json_schema(self) -> dict:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few strings."""

    choices: tuple[str, ...]

    def type_name(self) -> str:
        return " | ".join(self.choices)

    def check(self, value: Any) -> str | None:
        if value not in self.choices:
            return f"must be one of {one_of(self.choices)}, got {yaml_repr(value)}" + did_you_mean(
                value, self.choices
            )
        return None

    def json_schema(self) -> dict:
        return {"type": "string", "enum": list(self.choices)}


@dataclass(frozen=True)
class Activation(Kind):
    """A nonlinearity by name (see `ACTIVATIONS`)."""

    def type_name(self) -> str:
        return "activation"

    def check(self, value: Any) -> str | None:
        if value not in ACTIVATIONS:
            return (
                f"unknown activation {yaml_repr(value)}"
                + did_you_mean(value, ACTIVATIONS)
                + f" (one of: {one_of(ACTIVATIONS)})"
            )
        return None

    def json_schema(self) -> dict:
        return {"type": "string", "enum": list(ACTIVATIONS)}


@dataclass(frozen=True)
class IntList(Kind):
    """A non-empty list of positive integers; with `optional`, null too."""

    optional: bool = False

    def type_name(self) -> str:
        return "list[int] | null" if self.optional else "list[int]"

    def check(self, value: Any) -> str | None:
        if value is None and self.optional:
            return None
        if not isinstance(value, list) or not value:
            what = "a non-empty list of positive integers"
            if self.optional:
                what += " or null"
            return f"must be {what}, got {yaml_repr(value)}"
        if not all(_positive_int(v) for v in value):
            return f"must be a list of positive integers, got {yaml_repr(value)}"
        return None

    def json_schema(self) -> dict:
        arr = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}
        if self.optional:
            return {"oneOf": [arr, {"type": "null"}]}
        return arr


def OptionalIntList() -> IntList:  # noqa: N802 (reads like the other kinds)
    return IntList(optional=True)


@dataclass(frozen=True)
class Rate(Kind):
    """A number in [0, 1) (a dropout rate)."""

    def type_name(self) -> str:
        return "float"

    def check(self, value: Any) -> str | None:
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1:
            return None
        return f"must be a number in [0, 1), got {yaml_repr(value)}"

    def json_schema(self) -> dict:
        return {"type": "number", "minimum": 0, "exclusiveMaximum": 1}


@dataclass(frozen=True)
class OptionalInt(Kind):
    """A positive integer, or null (worked out from other arguments)."""

    def type_name(self) -> str:
        return "int | null"

    def check(self, value: Any) -> str | None:
        if value is None or _positive_int(value):
            return None
        return f"must be a positive integer or null, got {yaml_repr(value)}"

    def json_schema(self) -> dict:
        return {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}


@dataclass(frozen=True)
class PerAxis(Kind):
    """An integer >= minimum for every spatial axis, or a list of them, one per axis (its
    length is checked against num_spatial_dims where the stack is walked)."""

    minimum: int = 1

    def type_name(self) -> str:
        return "int | list[int]"

    def check(self, value: Any) -> str | None:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(
            self.minimum, f"an integer >= {self.minimum}"
        )

        def ok(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= self.minimum

        if ok(value) or (isinstance(value, list) and value and all(ok(v) for v in value)):
            return None
        return f"must be {what} or a list of them (one per spatial axis), got {yaml_repr(value)}"

    def json_schema(self) -> dict:
        one = {"type": "integer", "minimum": self.minimum}
        return {"oneOf": [one, {"type": "array", "items": one, "minItems": 1}]}


@dataclass(frozen=True)
class Padding(Kind):
    """A padding name, a non-negative int (both sides of every axis), or one [low, high] pair
    of non-negative ints per axis."""

    names: tuple[str, ...]

    def type_name(self) -> str:
        return " | ".join(self.names) + " | int | list[[int, int]]"

    def check(self, value: Any) -> str | None:
        def nonneg(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= 0

        if isinstance(value, str):
            if value in self.names:
                return None
            return (
                f"unknown padding {yaml_repr(value)}{did_you_mean(value, self.names)} "
                f"(one of: {', '.join(self.names)}, an int or one [low, high] pair per axis)"
            )
        if nonneg(value):
            return None
        if (
            isinstance(value, list)
            and value
            and all(
                isinstance(p, list) and len(p) == 2 and all(nonneg(x) for x in p) for p in value
            )
        ):
            return None
        return (
            f"must be one of {', '.join(self.names)}, a non-negative int or one [low, high] pair "
            f"of non-negative ints per axis, got {yaml_repr(value)}"
        )

    def json_schema(self) -> dict:
        pair = {
            "type": "array",
            "items": {"type": "integer", "minimum": 0},
            "minItems": 2,
            "maxItems": 2,
        }
        return {
            "oneOf": [
                {"type": "string", "enum": list(self.names)},
                {"type": "integer", "minimum": 0},
                {"type": "array", "items": pair, "minItems": 1},
            ]
        }


@dataclass(frozen=True)
class Arg:
    """One keyword argument: its kind, default and meaning, and the values a sweep over it
    takes when none are given (`sweep`, None when there is no natural range)."""

    name: str
    kind: Kind
    default: Any = None
    help: str = ""
    required: bool = False
    sweep: tuple[Any, ...] | None = None

    def type_name(self) -> str:
        return self.kind.type_name()

    def check(self, value: Any) -> str | None:
        return self.kind.check(value)

    def issues(self, value: Any) -> list[Issue]:
        return self.kind.issues(value)

    def json_schema(self) -> dict:
        return {**self.kind.json_schema(), "description": self.help}


@dataclass(frozen=True)
class Layer:
    """One layer type of a `LayerList`: its name and its own typed arguments."""

    name: str
    args: tuple[Arg, ...] = ()
    help: str = ""
    nested: bool = False  # the value is itself a list of layers of the same LayerList

    def defaults(self) -> dict[str, Any]:
        return {a.name: a.default for a in self.args if not a.required}


_LAYER_FORM = "a layer name or a one-key mapping {layer: {argument: value}}"


@dataclass(frozen=True)
class LayerList(Kind):
    """A list of layers, each a bare name (`relu`) or a one-key mapping of a layer name to its
    arguments (`conv: {kernel_size: 5}`), checked against that layer's own argument kinds.

    The builder receives every item as `{name: {argument: value}}` with defaults filled in.
    """

    layers: tuple[Layer, ...]
    by_name: Mapping[str, Layer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {layer.name: layer for layer in self.layers})

    def type_name(self) -> str:
        names = [layer.name for layer in self.layers]
        if len(names) > 4:  # a long list of kinds would crush the arguments table
            names = [*names[:3], f"... {len(names) - 3} more"]
        return "list[" + " | ".join(names) + "]"

    def check(self, value: Any) -> str | None:
        found = self.issues(value)
        return found[0].message if found else None

    def _split(self, item: Any) -> tuple[str, Any] | None:
        if isinstance(item, str):
            return item, None
        if isinstance(item, dict) and len(item) == 1:
            return next(iter(item.items()))
        return None

    def issues(self, value: Any) -> list[Issue]:
        if not isinstance(value, list) or not value:
            return [
                Issue(
                    (),
                    f"must be a non-empty list of layers, each {_LAYER_FORM}, "
                    f"got {yaml_repr(value)}",
                )
            ]
        out: list[Issue] = []
        names = tuple(self.by_name)
        for i, item in enumerate(value):
            split = self._split(item)
            if split is None:
                if isinstance(item, dict):
                    message = (
                        f"must map exactly one layer name to its arguments, got {len(item)} "
                        f"keys: {yaml_repr(item)}"
                    )
                else:
                    message = f"must be {_LAYER_FORM}, got {yaml_repr(item)}"
                out.append(Issue((i,), message))
                continue
            name, given = split
            bare = isinstance(item, str)
            where: tuple[str | int, ...] = (i,) if bare else (i, name)
            layer = self.by_name.get(name)
            if layer is None:
                out.append(
                    Issue(
                        where,
                        f"unknown layer {yaml_repr(name)}{did_you_mean(name, names)} "
                        f"(one of: {', '.join(names)})",
                        at_key=not bare,
                    )
                )
                continue
            if layer.nested:
                for sub in self.issues(given):
                    out.append(Issue((*where, *sub.where), sub.message, sub.at_key))
                continue
            if given is None:
                given = {}
            if not isinstance(given, dict):
                out.append(
                    Issue(where, f"must be a mapping of {name}'s arguments, got {yaml_repr(given)}")
                )
                continue
            allowed = tuple(a.name for a in layer.args)
            for key in given:
                if key not in allowed:
                    out.append(
                        Issue(
                            (*where, key),
                            f"unknown key {key!r}{did_you_mean(key, allowed)} "
                            + (
                                f"(allowed: {', '.join(allowed)})"
                                if allowed
                                else f"({name} takes no arguments)"
                            ),
                            at_key=True,
                        )
                    )
            for arg in layer.args:
                if arg.name not in given:
                    if arg.required:
                        out.append(Issue(where, f"missing required key {arg.name!r} ({arg.help})"))
                    continue
                for sub in arg.issues(given[arg.name]):
                    out.append(Issue((*where, arg.name, *sub.where), sub.message, sub.at_key))
        return out

    def normalized(self, value: Any) -> Any:
        out = []
        for item in value:
            name, given = self._split(item) or ("", None)
            layer = self.by_name[name]
            if layer.nested:
                out.append({name: self.normalized(given)})
                continue
            args = {**layer.defaults(), **(given or {})}
            out.append({name: {a.name: a.kind.normalized(args[a.name]) for a in layer.args}})
        return out

    def json_schema(self) -> dict:
        forms: list[dict] = []
        bare = [
            layer.name
            for layer in self.layers
            if not layer.nested and not any(a.required for a in layer.args)
        ]
        if bare:
            forms.append({"enum": bare})
        for layer in self.layers:
            if layer.nested:
                # a list of layers of this same list (the schema does not recurse into it)
                body = {"type": "array", "minItems": 1, "description": layer.help}
                forms.append(
                    {
                        "type": "object",
                        "properties": {layer.name: body},
                        "required": [layer.name],
                        "additionalProperties": False,
                    }
                )
                continue
            props = {}
            for a in layer.args:
                schema = a.json_schema()
                props[a.name] = schema if a.required else {**schema, "default": a.default}
            inner: dict[str, Any] = {
                "type": "object",
                "properties": props,
                "additionalProperties": False,
            }
            required = [a.name for a in layer.args if a.required]
            if required:
                inner["required"] = required
            else:
                inner = {"oneOf": [inner, {"type": "null"}]}
            forms.append(
                {
                    "type": "object",
                    "properties": {layer.name: {**inner, "description": layer.help}},
                    "required": [layer.name],
                    "additionalProperties": False,
                }
            )
        return {"type": "array", "minItems": 1, "items": {"oneOf": forms}}
