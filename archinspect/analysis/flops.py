"""FLOPs: XLA's cost analysis. A multiply-add counts as 2 FLOPs, as XLA counts it.

Per layer, each distinct (module structure, call arguments) is lowered once — lowered, not
compiled — with the arguments it was actually called with (extra arrays, keys, flags) and
analysed on its own; identical layers share the figure, so the cost grows with the number of
distinct layers, not with the number of rows; the figures are also kept for the rest of the
process (`_SHARED`), so the specs of a `check`, the rows of a sweep and the two sides of a diff
lower a layer they share once. The whole forward pass, one sample, is lowered
the same way for the root row: every figure of the layer table is the same kind of analysis
(the unoptimised program), so a module's figure includes its submodules' and the root's is
never below a part. The compiled program's figure (`FlopsReport.forward`) is another kind:
XLA's optimisations (constant folding, algebraic simplification, fusion that duplicates
elementwise work, library calls for convolutions on GPU) move it either way.
"""

from __future__ import annotations

from typing import Any

import jax

from archinspect.analysis import xla_cache
from archinspect.analysis.flops_analytic import Traced
from archinspect.analysis.params import is_array_like, module_tree
from archinspect.analysis.programs import module_program, xla_flops
from archinspect.analysis.recorder import Call


def _static_key(x: Any) -> Any:
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return ("value", type(x).__name__, x)


# Per-layer figures shared across calls of `per_layer_flops` in this process, by signature,
# backend and x64 mode. Only signatures made of shapes, dtypes and hashable values go in: one
# that names an unhashable value by its id() is valid only while that value lives (an id is
# reused after garbage collection), so it stays in the call's own cache.
_SHARED: dict[tuple, int | str] = {}
_SHARED_MAX = 4096


def _shareable(key: tuple) -> bool:
    return not any(isinstance(k, tuple) and k[:1] == ("id",) for k in key[1])


def _process_key(key: tuple) -> tuple:
    """The signature plus what else the lowered program depends on: the default device (the
    platform `on_platform` chose) and whether 64-bit types are enabled."""
    import numpy as np

    config: Any = jax.config  # its flags are attributes made at run time
    device = config.jax_default_device
    platform = device.platform if device is not None else jax.default_backend()
    return (key, platform, jax.dtypes.canonicalize_dtype(np.float64) == np.float64)


def clear_shared_cache() -> None:
    """Forget the shared per-layer figures (tests compare cached and uncached runs)."""
    _SHARED.clear()


def _signature(module: Any, arguments: Any) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten((module, arguments), is_leaf=is_array_like)
    shapes = tuple(
        (tuple(leaf.shape), str(leaf.dtype)) if is_array_like(leaf) else _static_key(leaf)
        for leaf in leaves
    )
    return (treedef, shapes)


def whole_flops(traced: Traced) -> int | None:
    """XLA's figure for the unoptimised program of one traced sample, `model(x)` (lowered
    from the jaxpr already traced for the analytic count: not traced again)."""
    if traced.program is None:
        return None
    from jax.extend.core import jaxpr_as_fun

    lowered = jax.jit(jaxpr_as_fun(traced.program)).lower(*traced.arguments)
    return xla_cache.current().lowered_flops(lowered)


def _lowered_flops(module: Any, arguments: Any, cache: bool = True) -> int | str:
    """XLA's figure for one call lowered alone, or why it could not be lowered alone; with
    `cache`, a figure kept by archinspect.analysis.xla_cache is reused."""
    try:
        lowered = module_program(module, arguments)
        if not cache:
            return xla_flops(lowered.cost_analysis())
        return xla_cache.current().lowered_flops(lowered)
    except Exception as e:  # the call could not be repeated on its own: say why
        first = (str(e).strip().splitlines() or [""])[0]
        return f"lowering it alone failed: {type(e).__name__}: {first}"


def per_layer_flops(
    model: Any, calls: list[Call], *, cache: bool = True
) -> tuple[dict[str, int], dict[str, str]]:
    """XLA's per-sample FLOPs of every called module, summed over its calls, by path; and the
    paths that could not be measured, with the reason (a cell left blank says why).

    Each call is lowered with the arguments it was called with (a shared module may see
    several shapes), times the elements it is mapped over under `jax.vmap` (`Call.repeat`).
    The root is not here: `whole_flops` is its figure. `cache=False` lowers every call afresh
    (no figure reused, none kept): the reference the caches are tested against.
    """
    modules = dict(module_tree(model))
    # A wrapper whose called modules are not the nodes of its tree (a Flax NNX model: its
    # tree mirrors the parameters) gives a callable module per path itself.
    callable_at = getattr(model, "callable_at", None)
    if callable_at is not None:
        modules = {call.path: callable_at(call.path) for call in calls}
    local: dict[tuple, int | str] = {}
    out: dict[str, int] = {}
    unmeasured: dict[str, str] = {}
    for call in calls:
        if call.path == "" or call.path in unmeasured:
            continue
        module = modules.get(call.path)
        if module is None:
            unmeasured[call.path] = "not a node of the model's tree: no module to lower alone"
            continue
        if not cache:
            figure = _lowered_flops(module, call.arguments, cache=False)
        else:
            key = _signature(module, call.arguments)
            shared = _process_key(key) if _shareable(key) else None
            if key not in local and shared is not None and shared in _SHARED:
                local[key] = _SHARED[shared]
            if key not in local:
                local[key] = _lowered_flops(module, call.arguments)
                if shared is not None and len(_SHARED) < _SHARED_MAX:
                    _SHARED[shared] = local[key]
            figure = local[key]
        if isinstance(figure, str):
            unmeasured[call.path] = figure
            out.pop(call.path, None)
        else:
            out[call.path] = out.get(call.path, 0) + figure * call.repeat
    return out, unmeasured
