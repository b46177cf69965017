"""A model called as it is called (README "forward:"), seen by every analysis as `model(x)`.

Every analysis here calls `model(x)`: the recorder, both receptive-field methods, the compiled
programs, the read-leaves trace. A model that wants a PRNG key, inference mode, a state or
fixed keyword arguments is wrapped once, at build time, in a module whose `__call__(x)` calls
it that way; nothing downstream needs to know.

The wrapper must not change what the reports show: its class is named after the model's class
and its fields are the model's own fields (same names, same static ones), so module paths and
the count table are the user's. Each call rebuilds the model from those fields, as Equinox's
own unflattening does, and calls it: `model(x, state, key=..., **kwargs)`, keeping the first
output when there is a state. A state built by `eqx.nn.make_with_state` (its `StateIndex`
inits replaced by a sentinel) is put back into the `StateIndex` leaves it came from, so it is
counted where a directly built model holds it (as state, `archinspect.analysis.params`), and
`eqx.nn.State(model)` rebuilds it inside each call.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax

from archinspect.errors import ArchinspectError, Location, Problem, SpecError

SWITCHES = ("key", "inference", "state")
_PREFIX = "_archinspect_"  # the wrapper's own (static) fields: no model field is named so


class Forward(eqx.Module):
    """Base of the wrappers; a subclass per model class carries its fields (`forward_class`)."""

    _archinspect_cls: type = eqx.field(static=True)
    _archinspect_key: bool = eqx.field(static=True)
    _archinspect_state: bool = eqx.field(static=True)
    _archinspect_kwargs: tuple[tuple[str, Any], ...] = eqx.field(static=True)

    def inner(self) -> Any:
        """The wrapped model, rebuilt from this wrapper's fields."""
        cls = self._archinspect_cls
        model: Any = object.__new__(cls)
        for f in dataclasses.fields(cls):
            object.__setattr__(model, f.name, getattr(self, f.name))
        return model

    def __call__(self, x: Any) -> Any:
        model = self.inner()
        kwargs = dict(self._archinspect_kwargs)
        if self._archinspect_key:
            # A constant: it does not depend on x, so it adds nothing to any receptive field.
            kwargs["key"] = jax.random.PRNGKey(0)
        if self._archinspect_state:
            out = model(x, eqx.nn.State(model), **kwargs)
            return out[0]  # (output, new state): the state is not an output of the network
        return model(x, **kwargs)


_CLASSES: dict[type, type] = {}


def forward_class(cls: type) -> type:
    """The wrapper class for models of `cls`: named after it, with its fields."""
    if cls not in _CLASSES:
        fields = dataclasses.fields(cls)
        namespace: dict[str, Any] = {
            "__annotations__": {f.name: "Any" for f in fields},
            "__module__": __name__,
            "__qualname__": cls.__qualname__,
        }
        for f in fields:
            if f.metadata.get("static", False):
                namespace[f.name] = eqx.field(static=True)
        _CLASSES[cls] = type(cls.__name__, (Forward,), namespace)
    return _CLASSES[cls]


def fold_state(model: Any, state: Any) -> Any:
    """`model` with each `StateIndex` holding its value from `state` (an `eqx.nn.State`)."""
    is_index = lambda x: isinstance(x, eqx.nn.StateIndex)  # noqa: E731
    leaves, treedef = jax.tree_util.tree_flatten(model, is_leaf=is_index)
    out = []
    for leaf in leaves:
        if is_index(leaf):
            index = object.__new__(eqx.nn.StateIndex)
            object.__setattr__(index, "marker", leaf.marker)
            object.__setattr__(index, "init", state.get(leaf))
            leaf = index
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)


def _held_apart(model: Any) -> bool:
    """Some `StateIndex` of `model` holds no value: make_with_state moved it to a State."""
    is_index = lambda x: isinstance(x, eqx.nn.StateIndex)  # noqa: E731
    leaves = jax.tree_util.tree_leaves(model, is_leaf=is_index)
    return any(is_index(x) and not jax.tree_util.tree_leaves(x.init) for x in leaves)


def _takes(function: Any, name: str) -> bool | None:
    """Whether `function` takes a keyword `name` (True with **kwargs); None: unknown."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def wrap(
    model: Any,
    options: Mapping[str, Any],
    source: str,
    state: Any = None,
    marks: Mapping[str, Location] | None = None,
) -> Any:
    """`model` called with the `forward:` options; `state`: the `eqx.nn.State` from
    `make_with_state` (or the API's `state=`). No options: `model` itself. A keyword argument
    that `__call__` does not take is a spec problem at `forward.NAME` (located by `marks`):
    found here, where the model's class is known, not when the call fails deep in a trace."""
    kwargs = {k: v for k, v in options.items() if k not in SWITCHES}
    if not any(options.get(k) for k in SWITCHES) and not kwargs and state is None:
        return model
    if not isinstance(model, eqx.Module):
        raise ArchinspectError(
            f"error: {source}: forward options need an Equinox module, got {type(model).__name__}"
        )
    params = _call_parameters(type(model).__call__)
    with_state = bool(options.get("state")) or state is not None
    if params is not None and with_state:  # the state is passed by position, not by name
        params = (params[0][1:], params[1])
    problems = []
    for name in [*kwargs, *(["key"] if options.get("key") else [])]:
        if params is not None and name not in params[0] and not params[1]:
            from archinspect.spec.messages import did_you_mean

            takes = ", ".join(params[0]) or "nothing but the input"
            problems.append(
                Problem(
                    f"forward.{name}",
                    f"{type(model).__name__}.__call__ takes no argument {name!r}"
                    f"{did_you_mean(name, params[0])} (it takes: {takes})",
                    (marks or {}).get(f"forward.{name}"),
                )
            )
    if problems:
        raise SpecError(source, problems)
    if options.get("inference"):
        model = eqx.nn.inference_mode(model)
    if state is not None:
        model = fold_state(model, state)
    elif with_state and _held_apart(model):
        raise ArchinspectError(
            f"error: {source}: the model was built with eqx.nn.make_with_state, so its state "
            "is held apart: pass it (state=)"
        )
    cls = forward_class(type(model))
    wrapper: Any = object.__new__(cls)
    for f in dataclasses.fields(type(model)):
        object.__setattr__(wrapper, f.name, getattr(model, f.name))
    object.__setattr__(wrapper, "_archinspect_cls", type(model))
    object.__setattr__(wrapper, "_archinspect_key", bool(options.get("key")))
    object.__setattr__(wrapper, "_archinspect_state", with_state)
    object.__setattr__(wrapper, "_archinspect_kwargs", tuple(sorted(_frozen(kwargs).items())))
    return wrapper


def _call_parameters(call: Any) -> tuple[list[str], bool] | None:
    """The names `__call__` takes after `self` and the input, and whether it takes **kwargs."""
    try:
        parameters = list(inspect.signature(call).parameters.values())[2:]
    except (TypeError, ValueError):
        return None
    names = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return names, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _frozen(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Lists as tuples: the wrapper's fields are static, hence hashable."""

    def plain(v: Any) -> Any:
        return tuple(plain(x) for x in v) if isinstance(v, list | tuple) else v

    return {k: plain(v) for k, v in kwargs.items()}


def takes_key(make: Any) -> bool:
    """Whether a constructor takes `key=` (or **kwargs): `eqx.nn.LayerNorm`, pools, `Dropout`
    take none, and passing one is a TypeError. Unknown signatures get the key, as before."""
    # A class's own __init__ (a metaclass __call__ hides it from signature(cls)).
    function = getattr(make, "__init__") if isinstance(make, type) else make  # noqa: B009
    return _takes(function, "key") is not False
