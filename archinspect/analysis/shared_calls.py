"""Trace each distinct submodule call of a forward pass once (`shared_calls`).

A deep model calls the same kind of layer thousands of times; tracing every call anew makes
the trace of the forward pass cost a few milliseconds per layer (README "Performance"). While
`shared_calls(model)` is active, each call of a submodule of the tree runs as `jax.jit` of its
class's `__call__`, with the module's and the arguments' arrays as the jit's inputs and
everything else (static fields, Python values) as its static key. A call with the same class,
static fields, non-array arguments and array shapes/dtypes as an earlier one reuses that call's
traced body: the program gets one call equation per call, each with that call's own arrays as
inputs, so which arrays the program reads is unchanged (JAX's dead-code elimination follows
into each call equation), only the Python work per repeated layer goes.

`jax.jit` is semantically transparent, but a call cannot always go through it: a static part
that cannot be hashed, an output that is not a tree of arrays (a Python number, a string), or
a body that needs a concrete array value. Such a call runs as it is, unchanged (never a guess).
The recorder (archinspect.analysis.recorder) needs each call's Python to run and is never
combined with this: only analyses that look at the program alone use it (`read_leaves`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import equinox as eqx
import jax

from archinspect.analysis.params import module_tree
from archinspect.analysis.recorder import calls_through


class _Unshareable(Exception):
    """The call cannot be shared through `jax.jit` (it is then run as it is)."""


def _is_dynamic(x: Any) -> bool:
    # JAX arrays and tracers only: a numpy array stays concrete, as the plain call sees it.
    return isinstance(x, jax.Array)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run(original: Callable, structure: tuple[Any, ...], arrays: list[Any]) -> Any:
    treedef, statics, where = structure
    leaves = list(statics)
    for i, a in zip(where, arrays, strict=True):
        leaves[i] = a
    module, args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
    out = original(module, *args, **kwargs)
    if not all(_is_dynamic(x) for x in jax.tree_util.tree_leaves(out)):
        raise _Unshareable("an output that is not an array")
    return out


def _keyed(fn: Callable, leaves: list[Any], treedef: Any) -> tuple[tuple, list[Any]] | None:
    """`_run`'s static key for a call's flattened (module, args, kwargs), and the arrays it
    passes as inputs; None when a static part cannot be hashed (the call then runs as it is)."""
    where = tuple(i for i, x in enumerate(leaves) if _is_dynamic(x))
    structure = (treedef, tuple(None if _is_dynamic(x) else x for x in leaves), where)
    try:
        hash((fn, structure))
    except TypeError:
        return None
    return structure, [leaves[i] for i in where]


def _shared(original: Callable, module: Any, args: Any, kwargs: Any) -> Any:
    keyed = _keyed(original, *jax.tree_util.tree_flatten((module, args, kwargs)))
    if keyed is None:
        return original(module, *args, **kwargs)
    try:
        return _run(original, *keyed)
    except Exception:
        # An unshareable call, or one that fails: run as it is (a failure then raises as it
        # would without sharing; a failed trace leaves nothing behind in the program).
        return original(module, *args, **kwargs)


def _has_call(cls: type) -> bool:
    return any("__call__" in c.__dict__ for c in cls.__mro__ if c not in (object, eqx.Module))


@contextlib.contextmanager
def shared_calls(model: Any) -> Iterator[None]:
    """While active, calls of the submodules of `model`'s tree (not the root: it is called
    once) go through `jax.jit` of their class's `__call__`, one trace per distinct call."""
    classes: list[type] = []
    for path, node in module_tree(model):
        cls = type(node)
        if path and isinstance(node, eqx.Module) and cls not in classes and _has_call(cls):
            classes.append(cls)
    with calls_through(classes, _shared):
        yield


# ----------------------------------------------------------------------------- recorded leaves


class NestedCall(Exception):
    """A shared leaf call recorded a module call inside its body: the recording that shares
    leaves must be traced again without sharing (`recorder.recording(..., share_leaves=True)`)."""


# Where a class's `__call__` is known to compute from its arguments and fields alone. A
# user's class may read Python state at call time (a global its parent sets, a counter):
# sharing its body would give every call the first call's program, a wrong field.
PURE_CALLS: tuple[str, ...] = (
    "equinox.",
    "pdequinox.",
    "archinspect.layers.",
    "archinspect.models.",
    "archinspect.build.",
)


def leaf_modules(model: Any) -> set[int]:
    """Ids of the submodules of `model`'s tree (not the root) with no module below them, of a
    class from a library in `PURE_CALLS`: a call of one records no other call, so its body may
    be traced once for every call with the same signature while the recorder still sees (and
    marks) the call itself."""
    paths: dict[str, Any] = {}
    above: set[str] = set()
    for path, node in module_tree(model):
        if isinstance(node, eqx.Module):
            paths[path] = node
            above.update(path[:i] for i, c in enumerate(path) if c in ".[")
    return {
        id(node)
        for path, node in paths.items()
        if path and path not in above and type(node).__module__.startswith(PURE_CALLS)
    }


def _direct(x: Any) -> bool:
    """An array traced directly into the jaxpr (not under vmap or jvp, where `jax.jit` would
    be transformed as a whole instead of traced as the call is), or a concrete array."""
    from jax._src.interpreters.partial_eval import DynamicJaxprTracer  # no public home

    return not isinstance(x, jax.core.Tracer) or isinstance(x, DynamicJaxprTracer)


def shared_leaf(original: Callable, module: Any, args: Any, kwargs: Any, guarded: Callable) -> Any:
    """`original(module, *args, **kwargs)` through `jax.jit` as `_shared` runs it, for a call
    of a leaf module (`leaf_modules`) that the recorder records: `guarded` is `original` that
    raises `NestedCall` where the body records a call (never swallowed, unlike other
    failures). A call under a transformation, or with a module among its arguments, runs as
    it is."""
    leaves, treedef = jax.tree_util.tree_flatten(
        (module, args, kwargs), is_leaf=lambda x: isinstance(x, eqx.Module) and x is not module
    )
    if not all(_direct(x) for x in leaves) or any(isinstance(x, eqx.Module) for x in leaves):
        return original(module, *args, **kwargs)
    keyed = _keyed(guarded, leaves, treedef)
    if keyed is None:
        return original(module, *args, **kwargs)
    try:
        return _run(guarded, *keyed)
    except NestedCall:
        raise
    except Exception:
        return original(module, *args, **kwargs)
