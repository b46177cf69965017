"""Record every submodule call of a forward pass, abstractly, for any Equinox module.

Inside a traced forward pass each module instance of the tree is mapped to its path; the
`__call__` of every module class in the tree is wrapped for the duration of the trace so that
each call records its path, input and output shapes, and runs inside `jax.named_scope(path)`.
The named scopes end up in the jaxpr's equations (`eqn.source_info.name_stack`), which lets
jaxpr-level analyses attribute an operation to the module that issued it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import equinox as eqx
import jax

from archinspect.analysis.params import is_array_like, module_tree


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of a module during the forward pass, in call order."""

    path: str  # "" for the root
    type: str
    order: int  # when the call started: sorting by it puts parents before children
    depth: int
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    output_dtypes: tuple[str, ...]


def _shapes(tree: Any) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if is_array_like(x)]
    shapes = tuple(tuple(int(d) for d in x.shape) for x in leaves)
    return shapes, tuple(str(x.dtype) for x in leaves)


def _depth(path: str) -> int:
    if not path:
        return 0
    return path.count(".") + path.count("[") + (0 if path.startswith("[") else 1)


def _has_call(cls: type) -> bool:
    return any("__call__" in c.__dict__ for c in cls.__mro__ if c not in (object, eqx.Module))


@contextlib.contextmanager
def recording(model: Any, calls: list[Call]) -> Iterator[None]:
    """While active, every call of a module of `model`'s tree appends a Call to `calls`."""
    paths: dict[int, str] = {}
    classes: list[type] = []
    for path, node in module_tree(model):
        if isinstance(node, eqx.Module):
            paths.setdefault(id(node), path)
            if type(node) not in classes and _has_call(type(node)):
                classes.append(type(node))
    # Capture every original before patching any, so a subclass never wraps a wrapper.
    counter = itertools.count()
    originals = {cls: (cls.__dict__.get("__call__"), cls.__call__) for cls in classes}

    def wrap(original: Callable) -> Callable:
        @functools.wraps(original)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            path = paths.get(id(self))
            if path is None:  # a module built during the call: not part of the tree
                return original(self, *args, **kwargs)
            in_shapes, _ = _shapes((args, kwargs))
            order = next(counter)
            with jax.named_scope(path or type(self).__name__):
                out = original(self, *args, **kwargs)
            out_shapes, out_dtypes = _shapes(out)
            calls.append(
                Call(
                    path,
                    type(self).__name__,
                    order,
                    _depth(path),
                    in_shapes,
                    out_shapes,
                    out_dtypes,
                )
            )
            return out

        return call

    try:
        for cls, (_, resolved) in originals.items():
            type.__setattr__(cls, "__call__", wrap(resolved))
        yield
    finally:
        for cls, (own, _) in originals.items():
            if own is None:
                type.__delattr__(cls, "__call__")
            else:
                type.__setattr__(cls, "__call__", own)


def traced_calls(model: Any, x: Any) -> tuple[Any, list[Call]]:
    """Output struct and the calls, in completion order, of `model(x)` evaluated abstractly."""
    calls: list[Call] = []

    def forward(m: Any, v: Any) -> Any:
        with recording(m, calls):
            return m(v)

    out = eqx.filter_eval_shape(forward, model, x)
    return out, calls
