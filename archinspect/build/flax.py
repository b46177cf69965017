"""Flax NNX models as Equinox modules (README, "Flax NNX models").

`wrap_flax` splits an `nnx.Module` (`nnx.split(model, nnx.Param, ...)`) into what every
analysis here understands: an Equinox module whose array leaves are the `nnx.Param` values,
arranged in a tree that mirrors the NNX module tree (so the count table's rows are
`blocks[0].conv1` with the NNX class names), with the graph definition static and every other
variable (batch statistics, RNG keys and counters, ...) kept in an opaque container: traced like
the weights, but never counted as parameters (a running mean is not trained), reported apart.

Its `__call__` takes what every analysis passes, one channels-first sample `(C, *spatial)`,
moves the channels to the model's layout (channels last is the Flax default), adds a leading
batch axis of 1 when the model is called on batches (the Flax convention), merges the graph
with the values (`nnx.merge`) and calls it; the output goes back the same way. The model is put
in evaluation mode first (dropout off, batch norms on their running statistics), as inference
and every figure here assume.

flax is imported only when a Flax model is wrapped or built; `is_flax_module` never imports it.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from archinspect.errors import ArchinspectError

LAYOUTS = ("channels_first", "channels_last")
MISSING_FLAX = (
    "Flax NNX models need flax, which is not installed; install the extra: "
    "pip install 'archinspect[flax]'"
)


def is_flax_module(obj: Any) -> bool:
    """Whether `obj` is a Flax NNX module (False, without importing flax, when flax has not been
    imported: then nothing can be one)."""
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(obj, nnx.Module)


def import_nnx() -> Any:
    """`flax.nnx`, or an error naming the extra to install."""
    try:
        from flax import nnx
    except ImportError as exc:
        raise ArchinspectError(f"error: {MISSING_FLAX} ({exc})") from exc
    return nnx


# ----------------------------------------------------------------------------- the tree


class FlaxNode(eqx.Module):
    """A node of the mirrored NNX module tree: its fields are the module's attributes that hold
    parameters (arrays, or further nodes); one subclass per NNX class and attribute set, named
    after the NNX class."""


class _Opaque:
    """Leaves that are traced with the model but are not module attributes to count: the NNX
    variables that are not parameters. `params.module_rows` does not look inside it."""

    def __init__(self, leaves: tuple[Any, ...]):
        self.leaves = leaves

    def __repr__(self) -> str:
        return f"<{len(self.leaves)} state arrays>"


jax.tree_util.register_pytree_node(
    _Opaque, lambda o: (o.leaves, None), lambda _, leaves: _Opaque(tuple(leaves))
)

_NODE_CLASSES: dict[tuple[str, tuple[str, ...], type], type] = {}


def _node_class(name: str, fields: tuple[str, ...], base: type = FlaxNode) -> type:
    key = (name, fields, base)
    if key not in _NODE_CLASSES:
        namespace = {"__annotations__": dict.fromkeys(fields, "Any"), "__module__": __name__}
        _NODE_CLASSES[key] = type(name, (base,), namespace)
    return _NODE_CLASSES[key]


Path = tuple[Any, ...]


def path_text(path: Path) -> str:
    """('blocks', 0, 'conv1') -> 'blocks[0].conv1', as module paths are written here."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mirror(prefix: Path, leaves: dict[Path, Any], types: dict[Path, str]) -> Any:
    """The params below `prefix` as nodes (a list for integer keys, as nnx.List has)."""
    keys: list[Any] = []
    for path in leaves:
        if (
            len(path) > len(prefix)
            and path[: len(prefix)] == prefix
            and path[len(prefix)] not in keys
        ):
            keys.append(path[len(prefix)])
    children = {
        k: leaves[prefix + (k,)]
        if prefix + (k,) in leaves
        else _mirror(prefix + (k,), leaves, types)
        for k in keys
    }
    if keys and all(isinstance(k, int) for k in keys) and sorted(keys) == list(range(len(keys))):
        return [children[k] for k in range(len(keys))]
    if not all(isinstance(k, str) and k.isidentifier() and not k.startswith("_") for k in keys):
        return {k: children[k] for k in keys}
    cls = _node_class(types.get(prefix, "dict"), tuple(keys))
    return cls(**children)


def _get(root: Any, path: Path) -> Any:
    node = root
    for part in path:
        node = node[part] if isinstance(node, list | dict) else getattr(node, part)
    return node


# ----------------------------------------------------------------------------- the wrapper


def _as_written(x: Any) -> Any:  # the marker: the model's activations are left as written
    return x


class FlaxModel(eqx.Module):
    """An NNX module as an Equinox module (see the module docstring). Fields other than those
    below are the NNX module's attributes that hold parameters; subclasses are named after the
    NNX class."""

    _graphdef: Any = eqx.field(static=True)
    _params_def: Any = eqx.field(static=True)  # the nnx.Param State's tree structure
    _param_paths: tuple[Path, ...] = eqx.field(static=True)  # in that structure's leaf order
    _state_def: Any = eqx.field(static=True)  # every other variable's State structure
    _state: _Opaque
    _state_kinds: tuple[str, ...] = eqx.field(static=True)  # variable type per state leaf
    # per state leaf, the key dtype of a PRNG key (held as its raw uint32 data: every analysis
    # reads leaves as plain arrays), else None
    _state_keys: tuple[Any, ...] = eqx.field(static=True)
    _module_paths: tuple[tuple[Path, str], ...] = eqx.field(static=True)
    # the field that holds the parameters when the root's attributes cannot be fields (an
    # nnx.List at the root, private attribute names); None: they are this module's fields
    _root: str | None = eqx.field(static=True)
    _layout: str = eqx.field(static=True)
    _batch_axis: bool = eqx.field(static=True)
    # What the model's activations become: the positive linear copy of the empirical receptive
    # field replaces every field named like an activation by the identity, which switches this
    # wrapper to calling the model with its activations (jax.nn's, as flax.nnx re-exports them)
    # replaced by the identity.
    _activation: Callable = eqx.field(static=True)

    def merged(self) -> Any:
        """The NNX module with this wrapper's values (inside a trace: traced values)."""
        nnx = import_nnx()
        root = self if self._root is None else getattr(self, self._root)
        values = [_get(root, path) for path in self._param_paths]
        params = jax.tree_util.tree_unflatten(self._params_def, values)
        leaves = list(self._state.leaves)
        if self._activation is not _as_written:
            leaves = [_linear_state(leaf) for leaf in leaves]
        leaves = [
            leaf if key is None else _wrap_key(leaf, key)
            for leaf, key in zip(leaves, self._state_keys, strict=True)
        ]
        state = jax.tree_util.tree_unflatten(self._state_def, leaves)
        model = nnx.merge(self._graphdef, params, state)
        if self._activation is not _as_written:
            _replace_stored_activations(model, self._activation)
        return model

    def __call__(self, x: Any) -> Any:
        from archinspect.analysis import recorder

        model = self.merged()
        if self._layout == "channels_last":
            x = jnp.moveaxis(x, 0, -1)
        if self._batch_axis:
            x = x[None]
        rec = recorder.active()
        with (
            contextlib.nullcontext()
            if rec is None
            else rec.graft(self._grafted(model, rec.stack[-1] if rec.stack else ""))
        ):
            with _activations(None if self._activation is _as_written else self._activation):
                out = model(x)

        def back(y: Any) -> Any:
            if not hasattr(y, "ndim"):
                return y
            if self._batch_axis and y.ndim >= 1:
                y = y[0]
            if self._layout == "channels_last" and y.ndim >= 2:
                y = jnp.moveaxis(y, -1, 0)
            return y

        return jax.tree_util.tree_map(back, out)

    def callable_at(self, path: str) -> Any:
        """The NNX submodule recorded at `path` as a wrapper taking its input as recorded (in
        the model's layout, with its batch axis); None for the root or an unknown path."""
        for sub, _ in self._module_paths:
            if path_text(sub) == path:
                nnx = import_nnx()
                module = nnx.eval_shape(lambda w, sub=sub: _get_module(w.merged(), sub), self)
                return wrap_flax(module, layout="channels_first", batch_axis=False)
        return None

    def _grafted(self, model: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for path, _ in self._module_paths:
            text = path_text(path)
            full = text if not prefix else prefix + (text if text.startswith("[") else "." + text)
            yield full, _get_module(model, path)


def _get_module(model: Any, path: Path) -> Any:
    node = model
    for part in path:
        node = node[part] if isinstance(part, int) else getattr(node, part)
    return node


def _key_data(leaf: Any) -> Any:
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return jax.eval_shape(jax.random.key_data, leaf)
    return jax.random.key_data(leaf)


def _wrap_key(data: Any, dtype: Any) -> Any:
    # A key dtype names its implementation (`key<fry>`: threefry); flax keeps the default one.
    impl = getattr(dtype, "_impl", None)
    if impl is None:
        return jax.random.wrap_key_data(data)
    return jax.random.wrap_key_data(data, impl=impl)


def _is_key(leaf: Any) -> bool:
    return jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _linear_state(leaf: Any) -> Any:
    """State in the positive linear copy: batch statistics of ones (a batch norm is then a
    positive affine map); abstract counters and key data made concrete."""
    dtype = leaf.dtype
    if jnp.issubdtype(dtype, jnp.floating):
        return jnp.ones(leaf.shape, jnp.float64)
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return jnp.zeros(leaf.shape, dtype)
    return leaf


def _known_activations() -> list[Any]:
    namespaces = [ns for ns in (jax.nn, jnp, sys.modules.get("flax.nnx")) if ns is not None]
    return [getattr(ns, n) for ns in namespaces for n in ACTIVATION_NAMES if hasattr(ns, n)]


def _replace_stored_activations(model: Any, replacement: Callable) -> None:
    """Activations held by the merged (fresh) module itself, as attributes or list entries
    (`self.act = nnx.relu`, `nnx.Sequential(conv, nnx.relu, ...)`), become `replacement`."""
    nnx = import_nnx()
    known = _known_activations()
    found = [
        tuple(path)
        for path, value in nnx.iter_graph(model)
        if path and any(value is f for f in known)
    ]
    for path in found:
        parent = _get_module(model, path[:-1])
        if isinstance(path[-1], int):
            parent[path[-1]] = replacement
        else:
            setattr(parent, path[-1], replacement)


ACTIVATION_NAMES = (
    "relu relu6 leaky_relu gelu silu swish elu celu selu sigmoid softplus hard_tanh "
    "log_sigmoid soft_sign hard_sigmoid hard_silu hard_swish mish sparse_plus squareplus tanh"
).split()


class _activations:
    """While active (with a replacement), the activations of jax.nn and flax.nnx, looked up as
    module attributes (`nnx.relu(x)`, `jax.nn.gelu(x)`), are the replacement."""

    def __init__(self, replacement: Callable | None):
        self.replacement = replacement
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> None:
        if self.replacement is None:
            return
        namespaces = [jax.nn, jnp, sys.modules.get("flax.nnx")]
        for ns in namespaces:
            if ns is None:
                continue
            for name in ACTIVATION_NAMES:
                if hasattr(ns, name):
                    self.saved.append((ns, name, getattr(ns, name)))
                    setattr(ns, name, self.replacement)

    def __exit__(self, *exc: Any) -> None:
        for ns, name, value in reversed(self.saved):
            setattr(ns, name, value)
        self.saved.clear()


def wrap_flax(model: Any, *, layout: str = "channels_last", batch_axis: bool = True) -> Any:
    """An Equinox module that runs the NNX `model` (abstract or concrete).

    **Arguments:**

    - `model`: an `nnx.Module`, e.g. built under `nnx.eval_shape` (no weight memory).
    - `layout`: where the model wants the channels: `"channels_last"` (the Flax default) or
      `"channels_first"`.
    - `batch_axis`: whether the model is called with a leading batch axis (the Flax
      convention; the wrapper adds one of size 1).

    **Returns:**

    An `eqx.Module` taking one channels-first sample `(C, *spatial)`, whose array leaves are
    exactly the values of `nnx.state(model, nnx.Param)`.
    """
    if layout not in LAYOUTS:
        raise ArchinspectError(f"error: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    nnx = import_nnx()
    if not isinstance(model, nnx.Module):
        raise ArchinspectError(
            f"error: wrap_flax needs a flax.nnx.Module, got a {type(model).__name__}"
        )
    model.eval()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    flat = list(nnx.to_flat_state(params))
    values, params_def = jax.tree_util.tree_flatten(params)
    if len(values) != len(flat) or any(
        v is not leaf for (_, var), leaf in zip(flat, values, strict=False) for v in [_raw(var)]
    ):
        raise ArchinspectError(
            "error: cannot map the nnx.Param state onto its paths (an unexpected flax version)"
        )
    paths = tuple(tuple(path) for path, _ in flat)
    types: dict[Path, str] = {}
    modules: list[tuple[Path, str]] = []
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Module) or type(node).__name__ in ("List", "Dict"):
            types[tuple(path)] = type(node).__name__
        if isinstance(node, nnx.Module) and path:
            modules.append((tuple(path), type(node).__name__))
    # iter_graph visits children before parents; calls and rows read parents first.
    modules.sort(key=lambda item: paths_order(item[0], paths))
    tree = _mirror((), dict(zip(paths, values, strict=True)), types)
    root: str | None = None
    if isinstance(tree, FlaxNode):
        children = {f: getattr(tree, f) for f in tree.__dataclass_fields__}
    elif paths:
        root, children = "params", {"params": tree}
    else:
        children = {}  # a model with no parameters at all
    cls = _node_class(type(model).__name__, tuple(children), FlaxModel)
    state_leaves, state_def = jax.tree_util.tree_flatten(rest)
    keys = tuple(leaf.dtype if _is_key(leaf) else None for leaf in state_leaves)
    state_leaves = [_key_data(leaf) if _is_key(leaf) else leaf for leaf in state_leaves]
    kinds = tuple(type(var).__name__ for _, var in nnx.to_flat_state(rest))
    return cls(
        _graphdef=graphdef,
        _params_def=params_def,
        _param_paths=paths,
        _state_def=state_def,
        _state=_Opaque(tuple(state_leaves)),
        _state_keys=keys,
        _state_kinds=kinds if len(kinds) == len(state_leaves) else ("state",) * len(state_leaves),
        _module_paths=tuple(modules),
        _root=root,
        _layout=layout,
        _batch_axis=batch_axis,
        _activation=_as_written,
        **children,
    )


def build_flax(spec: Any, make: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """A spec's Flax `target:` built abstractly (`nnx.eval_shape`, `rngs=nnx.Rngs(0)`) and
    wrapped in the spec's layout (channels last and a batch axis unless it says otherwise)."""
    from archinspect.build import user_errors
    from archinspect.errors import BuildError

    nnx = import_nnx()
    try:
        model = nnx.eval_shape(lambda: make(**kwargs, rngs=nnx.Rngs(0)))
    except ArchinspectError:
        raise
    except user_errors(spec) as exc:
        raise BuildError(
            f"error: {spec.source}: cannot build {spec.target} with these arguments: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(model, nnx.Module):
        raise BuildError(
            f"error: {spec.source}: model.target {spec.target!r} takes `rngs=` but returned a "
            f"{type(model).__name__}, not a Flax NNX module (flax.nnx.Module)"
        )
    layout = spec.input.layout or "channels_last"
    batch_axis = True if spec.input.batch_axis is None else spec.input.batch_axis
    return wrap_flax(model, layout=layout, batch_axis=batch_axis)


def paths_order(path: Path, params: tuple[Path, ...]) -> tuple:
    """Pre-order by first appearance in the parameter paths (modules without any last)."""
    for i, p in enumerate(params):
        if p[: len(path)] == path:
            return (i, len(path))
    return (len(params), len(path))


def _raw(var: Any) -> Any:
    return jax.tree_util.tree_leaves(var)[0] if jax.tree_util.tree_leaves(var) else None


def state_notes(model: Any) -> tuple[str, ...]:
    """For a wrapped Flax model, the NNX variables that are state, not parameters (one note)."""
    if not isinstance(model, FlaxModel) or not model._state.leaves:
        return ()
    by_kind: dict[str, list[int]] = {}
    leaves = zip(model._state_kinds, model._state.leaves, model._state_keys, strict=True)
    for kind, leaf, key in leaves:
        entry = by_kind.setdefault(kind, [0, 0])
        entry[0] += 1
        # a key counts as one value (its raw data is a few words)
        entry[1] += math.prod(int(d) for d in leaf.shape[: -1 if key is not None else None])
    parts = [
        f"{kind} {values:,} value{'s' if values != 1 else ''} in {arrays} "
        f"arra{'ys' if arrays != 1 else 'y'}"
        for kind, (arrays, values) in sorted(by_kind.items())
    ]
    return ("state, not parameters (nnx variables other than nnx.Param): " + "; ".join(parts),)
