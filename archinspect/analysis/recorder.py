"""Record every submodule call of a forward pass, abstractly, for any Equinox module.

Inside a traced forward pass each module instance of the tree is mapped to its path; the
`__call__` of every module class in the tree is wrapped, once, for the duration of the trace.
Each call of a module of the tree runs inside `jax.named_scope(path)` and notifies a list of
taps: before the call (path, module, arguments) and after it (the same, and the output, which
a tap may replace). The named scopes end up in the jaxpr's equations
(`eqn.source_info.name_stack`), which lets jaxpr-level analyses attribute an operation to the
module that issued it.

Taps in this package: `ShapeTap` records a `Call` row (path, type, shapes) per call, read by the
layer table, FLOPs and memory; the structural receptive field's mark tap wraps outputs in a
mark. A tap that only looks at outputs (activation statistics) returns them unchanged.

A wrapper whose submodules exist only during its call (a Flax NNX model, merged inside its
Equinox wrapper: `archinspect.build.flax`) asks for the `active()` recording and `graft`s them
at their attribute paths below its own, so they are recorded like the tree's modules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

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
    # of the array arguments: a module inside an integer-input model (token ids embedded, then
    # convolved) takes floats, and is costed with them
    input_dtypes: tuple[str, ...] = ()
    # (args, kwargs) as the module was called, arrays as ShapeDtypeStructs and everything else
    # as given: enough to lower the call again on its own (per-layer FLOPs).
    arguments: tuple[tuple[Any, ...], dict[str, Any]] = dataclasses.field(
        default=((), {}), compare=False, repr=False
    )
    # How many times this one traced call runs: the product of the sizes of the `jax.vmap`s it
    # is mapped over (1 outside vmap). Its shapes are those of one application, as the module
    # sees them; counts, FLOPs and activation bytes multiply by it.
    repeat: int = 1


def abstract_arguments(args: Any, kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with every array (a tracer, too) replaced by its shape and dtype."""

    def struct(x: Any) -> Any:
        return jax.ShapeDtypeStruct(x.shape, x.dtype) if is_array_like(x) else x

    return jax.tree_util.tree_map(struct, (tuple(args), dict(kwargs)), is_leaf=is_array_like)


@dataclasses.dataclass(frozen=True)
class Event:
    """A call of a module of the tree, as the taps see it."""

    path: str  # "" for the root
    module: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    order: int  # when the call started, counted from 0 over the recording
    depth: int
    repeat: int = 1  # see `Call.repeat`


class Tap(Protocol):
    """Notified around every recorded call, in the order the taps were given."""

    def before(self, event: Event) -> None: ...

    def after(self, event: Event, out: Any) -> Any:
        """The call's output as the caller will see it (return `out` to leave it alone)."""
        ...


def _shapes(tree: Any) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if is_array_like(x)]
    shapes = tuple(tuple(int(d) for d in x.shape) for x in leaves)
    return shapes, tuple(str(x.dtype) for x in leaves)


def _mapped(tree: Any) -> int:
    """The product of the `jax.vmap` sizes the arrays of `tree` are mapped over (the largest
    over its leaves): a call under vmap is traced once and applied that many times."""
    from jax._src.interpreters.batching import BatchTracer  # no public home

    most = 1
    for leaf in jax.tree_util.tree_leaves(tree):
        size = 1
        while isinstance(leaf, BatchTracer):
            if isinstance(leaf.batch_dim, int):
                size *= int(leaf.val.shape[leaf.batch_dim])
            leaf = leaf.val
        most = max(most, size)
    return most


def _signature(module: Any) -> Any:
    """A module's class, static fields and array shapes: what a copy rebuilt from its leaves
    keeps (`Recording.rebuilt`)."""
    leaves, treedef = jax.tree_util.tree_flatten(module)
    shapes = tuple(
        (tuple(int(d) for d in x.shape), str(x.dtype)) if is_array_like(x) else type(x).__name__
        for x in leaves
    )
    try:
        hash(treedef)
    except TypeError:  # a static field that cannot be hashed: known by identity only
        return (id(module),)
    return (treedef, shapes)


def _below(parent: str, child: str) -> bool:
    return parent == "" or child.startswith(parent + ".") or child.startswith(parent + "[")


def _depth(path: str) -> int:
    if not path:
        return 0
    return path.count(".") + path.count("[") + (0 if path.startswith("[") else 1)


def _has_call(cls: type) -> bool:
    return any("__call__" in c.__dict__ for c in cls.__mro__ if c not in (object, eqx.Module))


class ShapeTap:
    """Appends a `Call` to `calls` when a call returns (children before their parents)."""

    def __init__(self, calls: list[Call]):
        self.calls = calls

    def before(self, event: Event) -> None:
        pass

    def after(self, event: Event, out: Any) -> Any:
        in_shapes, in_dtypes = _shapes((event.args, event.kwargs))
        out_shapes, out_dtypes = _shapes(out)
        self.calls.append(
            Call(
                event.path,
                type(event.module).__name__,
                event.order,
                event.depth,
                in_shapes,
                out_shapes,
                out_dtypes,
                in_dtypes,
                abstract_arguments(event.args, event.kwargs),
                event.repeat,
            )
        )
        return out


class Recording:
    """The recording in progress: which objects are modules of the tree (by id, with their
    paths), and how a call of one notifies the taps. `graft` adds modules that exist only while
    the forward pass runs (a Flax NNX module merged inside its Equinox wrapper's call)."""

    def __init__(self, taps: Sequence[Tap], leaves: set[int] | None = None):
        self.taps = list(taps)
        # ids of the leaf modules whose calls are shared (`recording(share_leaves=True)`)
        self.leaves = leaves
        self.made = 0  # calls recorded so far
        self.guards: dict[Callable, Callable] = {}
        self.paths: dict[int, str] = {}
        self.counter = itertools.count()
        self.stack: list[str] = []  # paths of the calls in progress, innermost last
        self.signatures: dict[Any, list[str]] = {}  # see `rebuilt`

    def call(self, original: Callable, module: Any, args: Any, kwargs: Any) -> Any:
        path = self.paths.get(id(module))
        if path is None:
            path = self.rebuilt(module)
        if path is None:  # a module built during the call: not part of the tree
            return original(module, *args, **kwargs)
        event = Event(
            path,
            module,
            args,
            kwargs,
            next(self.counter),
            _depth(path),
            _mapped((args, kwargs)),
        )
        self.made += 1
        for tap in self.taps:
            tap.before(event)
        self.stack.append(path)
        try:
            with jax.named_scope(path or type(module).__name__):
                if self.leaves is not None and id(module) in self.leaves:
                    from archinspect.analysis.shared_calls import shared_leaf

                    out = shared_leaf(original, module, args, kwargs, self.guard(original))
                else:
                    out = original(module, *args, **kwargs)
        finally:
            self.stack.pop()
        for tap in self.taps:
            out = tap.after(event, out)
        return out

    def guard(self, original: Callable) -> Callable:
        """`original` that raises `NestedCall` where it records a call (one function per
        original for the recording: the shared traces are keyed by it)."""
        held = self.guards.get(original)
        if held is None:
            from archinspect.analysis.shared_calls import NestedCall

            def held(module: Any, *args: Any, **kwargs: Any) -> Any:
                before = self.made
                out = original(module, *args, **kwargs)
                if self.made != before:
                    raise NestedCall(type(module).__name__)
                return out

            self.guards[original] = held
        return held

    def index(self, path: str, node: Any) -> None:
        """Know `node` at `path` by identity, and by its signature (see `rebuilt`)."""
        self.paths.setdefault(id(node), path)
        self.signatures.setdefault(_signature(node), []).append(path)

    def rebuilt(self, module: Any) -> str | None:
        """The path of a module of the tree that `module` is a copy of, if that is certain.

        `jax.jit`, `eqx.filter_jit` and `eqx.filter_vmap` hand a function a module rebuilt from
        its leaves (new tracers, a new object): the same class, the same static fields and the
        same array shapes as the tree's node. It is that node when exactly one node of the tree
        has that signature, or exactly one among those below the innermost call in progress
        (the caller that handed it over); otherwise it is not recorded (never a guess).
        """
        if not isinstance(module, eqx.Module):
            return None
        found = self.signatures.get(_signature(module), [])
        if len(found) > 1 and self.stack:
            parent = self.stack[-1]
            found = [p for p in found if p != parent and _below(parent, p)]
        return found[0] if len(found) == 1 else None

    @contextlib.contextmanager
    def graft(self, nodes: Iterable[tuple[str, Any]]) -> Iterator[None]:
        """While active, calls of these (path, module) pairs are recorded too; their classes'
        `__call__` is patched like the tree's (and restored on exit)."""
        added = []
        classes: list[type] = []
        for path, node in nodes:
            if id(node) not in self.paths:
                self.index(path, node)
                added.append(id(node))
            if type(node) not in classes and callable(node):
                classes.append(type(node))
        try:
            with _patched(classes, self):
                yield
        finally:
            for key in added:
                self.paths.pop(key, None)


_ACTIVE: list[Recording] = []
# Each recording runs in a context of its own value: `jax.jit` / `eqx.filter_jit` inside the
# forward pass then trace anew instead of serving a trace cached outside the recording (whose
# module calls would go unseen and unmarked).
_CONTEXT = jax.make_user_context(None)
_RECORDINGS = itertools.count()


def active() -> Recording | None:
    """The innermost recording in progress, if any (for wrappers that graft modules)."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def _patched(classes: Sequence[type], rec: Recording) -> Iterator[None]:
    with calls_through(classes, rec.call):
        yield


@contextlib.contextmanager
def calls_through(
    classes: Sequence[type], through: Callable[[Callable, Any, tuple, dict], Any]
) -> Iterator[None]:
    """While active, `cls.__call__(self, *args, **kwargs)` of each class runs as
    `through(original, self, args, kwargs)`; the classes are restored on exit, even on an
    error (the recorder here, the shared traces of `shared_calls`)."""
    # Capture every original before patching any, so a subclass never wraps a wrapper.
    originals = {cls: (cls.__dict__.get("__call__"), cls.__call__) for cls in classes}

    def wrap(original: Callable) -> Callable:
        @functools.wraps(original)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            return through(original, self, args, kwargs)

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


@contextlib.contextmanager
def recording(model: Any, taps: Sequence[Tap], share_leaves: bool = False) -> Iterator[None]:
    """While active, every call of a module of `model`'s tree notifies `taps` (in order).

    `share_leaves`: the body of a call of a module with no module below it is traced once per
    signature (`shared_calls.shared_leaf`: one call equation per call, the recorder's scope and
    taps around it); raises `shared_calls.NestedCall` where such a body records a call after
    all, and the caller traces again without it."""
    leaves = None
    if share_leaves:
        from archinspect.analysis.shared_calls import leaf_modules

        leaves = leaf_modules(model)
    rec = Recording(taps, leaves)
    classes: list[type] = []
    for path, node in module_tree(model):
        if isinstance(node, eqx.Module):
            rec.index(path, node)
            if type(node) not in classes and _has_call(type(node)):
                classes.append(type(node))
    _ACTIVE.append(rec)
    try:
        with _patched(classes, rec), _CONTEXT(next(_RECORDINGS)):
            yield
    finally:
        _ACTIVE.remove(rec)


def traced_calls(model: Any, x: Any) -> tuple[Any, list[Call]]:
    """Output struct and the calls, in completion order, of `model(x)` evaluated abstractly."""
    calls: list[Call] = []

    def forward(m: Any, v: Any) -> Any:
        with recording(m, [ShapeTap(calls)]):
            return m(v)

    out = eqx.filter_eval_shape(forward, model, x)
    return out, calls
