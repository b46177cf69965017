"""The argument names a spec's model takes, and the one message for a misspelt one.

`sweep --param`, `solve --param` and `--set model.NAME=...` all name a model argument; a
built-in family declares its arguments, a `target:` has them in its constructor's signature
(unknown when it takes `**kwargs`). Each command words a misspelt name the same way, with a
"did you mean", and exits 2.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from archinspect.errors import Problem, SpecError
from archinspect.spec.messages import did_you_mean
from archinspect.spec.model import Spec

# Passed by archinspect itself, never by the spec.
_SUPPLIED = ("self", "key", "rngs")


def callable_arguments(make: Callable[..., Any]) -> list[str] | None:
    """The keyword arguments `make` accepts, or None when any name goes (`**kwargs`, or no
    signature to read)."""
    # A class's own __init__ (a metaclass __call__, as Flax's, hides it from signature(cls)).
    function = getattr(make, "__init__") if isinstance(make, type) else make  # noqa: B009
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    usable = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in usable and p.name not in _SUPPLIED]


def model_arguments(spec: Spec, trusted: Iterable[str] = ()) -> list[str] | None:
    """The names under `model:` that the spec's model takes (None: any name may be right)."""
    if spec.target is None:
        from archinspect.families import FAMILIES

        return [a.name for a in FAMILIES[spec.family].all_args]
    from archinspect.build.target import load_target

    return callable_arguments(load_target(spec.target, trusted, spec.source))


def owner(spec: Spec) -> str:
    return spec.target or spec.family


def no_argument(spec: Spec, name: str, candidates: Sequence[str], listing: str) -> str:
    """ "<model> has no argument 'X'; did you mean 'Y'? (<listing>)": the one wording."""
    return (
        f"{owner(spec)} has no argument {name!r}{did_you_mean(name, list(candidates))} ({listing})"
    )


def check_target_arguments(spec: Spec, make: Callable[..., Any]) -> None:
    """Every key under a target's `model:` is an argument of its constructor: a misspelt one
    (in the file or a --set) is a located spec problem, before anything is built."""
    names = callable_arguments(make)
    if names is None:
        return
    listing = f"it takes: {', '.join(names)}"
    problems = [
        Problem(
            f"model.{key}",
            f"is passed by archinspect itself, not by the spec ({listing})"
            if key in _SUPPLIED
            else no_argument(spec, key, names, listing),
            spec.marks.get(f"model.{key}"),
        )
        for key in spec.args
        if key not in names
    ]
    if problems:
        raise SpecError(spec.source, problems)
