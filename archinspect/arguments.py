"""Typed arguments of a family: one declaration feeds validation, `families` and the JSON Schema.

Kept free of JAX (and of any heavy import) so that `--help`, `families`, `schema` and
spec validation stay fast.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

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

BOUNDARY_MODES: tuple[str, ...] = ("periodic", "dirichlet", "neumann")


def yaml_repr(value: Any) -> str:
    """Show a value the way the user wrote it in YAML, so messages quote it recognisably."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_repr(v)}" for k, v in value.items()) + "}"
    return str(value)


def did_you_mean(word: str, allowed: list[str] | tuple[str, ...]) -> str:
    """A '; did you mean X?' suffix, or '' when nothing is close.

    Tries a case-insensitive exact match, then close spellings, then names that contain the
    word (so 'UNet' suggests both UNets).
    """
    if not isinstance(word, str) or not word:
        return ""
    lowered = {a.lower(): a for a in allowed}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    containing = [a for a in allowed if len(word) >= 3 and word.lower() in a.lower()]
    if 0 < len(containing) <= 3:
        return "; did you mean " + " or ".join(repr(a) for a in containing) + "?"
    # Names that start or end like the word ('UNet2' -> 'ClassicUNet', 'ModernUNet').
    w = word.lower()
    ends = [
        a
        for a in allowed
        if len(w) >= 3
        and max(
            difflib.SequenceMatcher(None, w, a.lower()[-len(w) :]).ratio(),
            difflib.SequenceMatcher(None, w, a.lower()[: len(w)]).ratio(),
        )
        >= 0.75
    ]
    if 0 < len(ends) <= 3:
        return "; did you mean " + " or ".join(repr(a) for a in ends) + "?"
    return ""


def one_of(allowed: list[str] | tuple[str, ...]) -> str:
    return ", ".join(repr(a) for a in allowed)


@dataclass(frozen=True)
class Arg:
    """One keyword argument of a family.

    kind is one of: int, bool, choice, activation, int_list, optional_int_list.
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    required: bool = False
    minimum: int = 1
    choices: tuple[Any, ...] = field(default_factory=tuple)

    def type_name(self) -> str:
        if self.kind == "int":
            return "int" if not self.choices else " | ".join(str(c) for c in self.choices)
        if self.kind == "choice":
            return " | ".join(self.choices)
        if self.kind == "activation":
            return "activation"
        if self.kind == "int_list":
            return "list[int]"
        if self.kind == "optional_int_list":
            return "list[int] | null"
        return self.kind

    def check(self, value: Any) -> str | None:
        """Return an error message for a bad value, or None when it is fine."""
        if self.kind == "int":
            return _check_int(value, self.minimum, self.choices)
        if self.kind == "bool":
            if not isinstance(value, bool):
                return f"must be true or false, got {yaml_repr(value)}"
            return None
        if self.kind == "choice":
            if value not in self.choices:
                return (
                    f"must be one of {one_of(self.choices)}, got {yaml_repr(value)}"
                    + did_you_mean(value, self.choices)
                )
            return None
        if self.kind == "activation":
            if value not in ACTIVATIONS:
                return (
                    f"unknown activation {yaml_repr(value)}"
                    + did_you_mean(value, ACTIVATIONS)
                    + f" (one of: {one_of(ACTIVATIONS)})"
                )
            return None
        if self.kind in ("int_list", "optional_int_list"):
            if value is None and self.kind == "optional_int_list":
                return None
            if not isinstance(value, list) or not value:
                what = "a non-empty list of positive integers"
                if self.kind == "optional_int_list":
                    what += " or null"
                return f"must be {what}, got {yaml_repr(value)}"
            for v in value:
                if _check_int(v, 1, ()) is not None:
                    return f"must be a list of positive integers, got {yaml_repr(value)}"
            return None
        raise AssertionError(f"unknown argument kind {self.kind!r}")

    def json_schema(self) -> dict:
        if self.kind == "int":
            if self.choices:
                return {"type": "integer", "enum": list(self.choices), "description": self.help}
            return {"type": "integer", "minimum": self.minimum, "description": self.help}
        if self.kind == "bool":
            return {"type": "boolean", "description": self.help}
        if self.kind == "choice":
            return {"type": "string", "enum": list(self.choices), "description": self.help}
        if self.kind == "activation":
            return {"type": "string", "enum": list(ACTIVATIONS), "description": self.help}
        items = {"type": "integer", "minimum": 1}
        arr = {"type": "array", "items": items, "minItems": 1}
        if self.kind == "optional_int_list":
            return {"oneOf": [arr, {"type": "null"}], "description": self.help}
        return {**arr, "description": self.help}


def _check_int(value: Any, minimum: int, choices: tuple) -> str | None:
    if choices:
        if isinstance(value, bool) or value not in choices:
            allowed = ", ".join(str(c) for c in choices[:-1]) + f" or {choices[-1]}"
            return f"must be {allowed}, got {yaml_repr(value)}"
        return None
    what = {0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}"
    )
    if isinstance(value, bool):
        return f"must be {what}, got {yaml_repr(value)} (a boolean)"
    if not isinstance(value, int) or value < minimum:
        return f"must be {what}, got {yaml_repr(value)}"
    return None
