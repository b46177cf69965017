"""Numerical equivariance of a model under C4 or D4, and the usual causes of failure.

For every group element g (archinspect/groups.py), the input's last two axes are transformed by
L_g (mirror left-right if g is mirrored, then rotate), the model runs on it, and the output is
compared with L_g applied to the model's output on the untransformed input, its orientations
permuted: orientation h of the expected output is orientation g^-1 h of the output. Without an
orientation axis the output is compared with L_g of itself (invariance up to the rotation of
space), and an output with fewer than three axes (no spatial axes) with itself.

Failures have few causes, and these are detected from the traced program and the module tree:
- asymmetric padding: an even effective kernel with SAME padding pads one cell more after than
  before, so the rotation centre moves by half a cell;
- input parity: with a stride, SAME padding depends on the input size, and some sizes pad
  asymmetrically;
- a stride that does not divide the padded input minus the kernel: the last window stops short
  of the far edge, so the sampled grid is not symmetric;
- circular padding of an even kernel, which wraps one cell more after than before;
- plain layers: a module holding a matrix or a plain filter (not a group convolution) mixes
  orientations or looks in one direction.
Each is named with the module's path, read from the recorder's named scopes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from archinspect import groups
from archinspect.analysis.params import is_array_like, module_tree
from archinspect.report import Cause, ElementError

if TYPE_CHECKING:
    from archinspect.analysis.footprint import Footprint

WINDOWED = ("conv_general_dilated", "reduce_window_max", "reduce_window_sum", "reduce_window")


def transform(x: np.ndarray, g: int) -> np.ndarray:
    """L_g on the last two axes (the same convention as the group convolutions' banks)."""
    turns, mirrored = groups.split(g)
    if mirrored:
        x = x[..., :, ::-1]
    return np.rot90(x, turns, axes=(-2, -1))


def expected(
    y: np.ndarray, g: int, group: str, axis: int | None, packed: bool, spatial: bool
) -> np.ndarray:
    """g acting on an output: orientations permuted (h <- g^-1 h), then space transformed."""
    if axis is not None:
        s = groups.order(group)
        perm = list(groups.permutation(g, group))
        if packed:
            shape = y.shape
            split = (*shape[:axis], shape[axis] // s, s, *shape[axis + 1 :])
            y = np.take(y.reshape(split), perm, axis=axis + 1).reshape(shape)
        else:
            y = np.take(y, perm, axis=axis)
    return transform(y, g) if spatial else y


def output_layout(
    output_shape: tuple[int, ...], group: str, axis: int | None
) -> tuple[int | None, bool, bool]:
    """(orientation axis normalised, packed, spatial) for an output shape; raises ValueError
    with the reason when the axis cannot hold the group's orientations."""
    s = groups.order(group)
    spatial = len(output_shape) >= 3
    if spatial and output_shape[-1] != output_shape[-2]:
        raise ValueError(
            f"the output's spatial axes {output_shape[-2]}×{output_shape[-1]} are not square, "
            "so rotating them is undefined"
        )
    if axis is None:
        return None, False, spatial
    n = len(output_shape)
    if not -n <= axis < n:
        raise ValueError(f"--orientation-axis {axis} is out of range for output {output_shape}")
    axis %= n
    if spatial and axis >= n - 2:
        raise ValueError(f"--orientation-axis {axis} is a spatial axis of output {output_shape}")
    size = output_shape[axis]
    if size % s:
        raise ValueError(
            f"axis {axis} of output {output_shape} has {size} entries, not a multiple of the "
            f"{s} orientations of {group}"
        )
    return axis, size != s, spatial


def errors(
    model: Any, x: Any, group: str, axis: int | None, packed: bool, spatial: bool, tolerance: float
) -> tuple[tuple[ElementError, ...], tuple[int, ...]]:
    """Run the model on x and on every transformed x (one vmapped program); the error of each
    element against the transformed output, absolute and relative to max |model(x)|."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    s = groups.order(group)
    xs = jnp.asarray(np.stack([x] + [transform(x, g) for g in range(s)]))
    ys = np.asarray(eqx.filter_jit(lambda m, v: jax.vmap(m)(v))(model, xs), dtype=np.float64)
    y, moved = ys[0], ys[1:]
    scale = float(np.max(np.abs(y))) if y.size else 0.0
    out = []
    for g in range(s):
        diff = moved[g] - expected(y, g, group, axis, packed, spatial)
        absolute = float(np.max(np.abs(diff))) if diff.size else 0.0
        relative = absolute / scale if scale > 0 else absolute
        out.append(
            ElementError(
                g,
                groups.label(g),
                groups.describe(g),
                absolute,
                relative,
                bool(relative <= tolerance),
            )
        )
    return tuple(out), tuple(int(d) for d in y.shape)


def estimate(model: Any, input_shape: tuple[int, ...], dtype: str, order: int) -> Footprint:
    """What `errors` allocates, on the abstract model (archinspect.analysis.footprint): two
    copies of the weights (the drawn ones, XLA's temporaries), S + 1 vmapped forward passes'
    inputs and module outputs, plus as much again twice on the host (the stacked inputs, the
    outputs in float64, the expected outputs and differences), and three float64 arrays of
    the largest weight while it is drawn (a complex one counts double)."""
    from archinspect.analysis.footprint import footprint, forward_program

    closed, per_pass = forward_program(model, input_shape, dtype)
    return footprint(
        model, closed, weight_copies=2, passes=3 * (order + 1), draws=3, values=per_pass
    )


def causes(model: Any, input_shape: tuple[int, ...], dtype: str) -> tuple[Cause, ...]:
    """Every detected cause, in program order: windows' padding and strides on the two rotated
    axes (from the traced program, attributed to modules), then plain layers (module tree)."""
    return tuple(_window_causes(model, input_shape, dtype) + _module_causes(model))


def _window_causes(model: Any, input_shape: tuple[int, ...], dtype: str) -> list[Cause]:
    import jax

    from archinspect.analysis.jaxprs import walk
    from archinspect.analysis.recorder import recording

    def forward(m: Any, v: Any) -> Any:
        with recording(m, []):
            return m(v)

    closed = jax.make_jaxpr(forward)(model, jax.ShapeDtypeStruct(input_shape, np.dtype(dtype)))
    found: list[Cause] = []
    seen: set[tuple[str, str]] = set()

    modules = {path for path, _ in module_tree(model)}

    def visit(eqn: Any) -> None:
        if eqn.primitive.name not in WINDOWED:
            return
        for cause in _window_cause(eqn, _path(eqn, modules)):
            if (cause.kind, cause.path) not in seen:
                seen.add((cause.kind, cause.path))
                found.append(cause)

    walk(closed.jaxpr, visit)
    return found


def _path(eqn: Any, modules: set[str]) -> str:
    """The innermost module of the tree whose scope (the recorder's named scopes) holds the
    equation; other scopes (a library's own) are skipped."""
    parts = str(eqn.source_info.name_stack).split("/")
    inner = [p for p in parts if p in modules and p]
    return inner[-1] if inner else ""


def _window_cause(eqn: Any, path: str) -> list[Cause]:
    """Padding and stride of one conv or reduce_window on the last two (rotated) axes."""
    p = eqn.params
    shape = eqn.invars[0].aval.shape
    if eqn.primitive.name == "conv_general_dilated":
        dn = p["dimension_numbers"]
        lhs_spatial = list(dn.lhs_spec[2:])
        rhs_spatial = list(dn.rhs_spec[2:])
        kernel_shape = eqn.invars[1].aval.shape
        sizes = [shape[a] for a in lhs_spatial]
        kernels = [kernel_shape[a] for a in rhs_spatial]
        dilation = list(p["rhs_dilation"])
        strides = list(p["window_strides"])
        pads = list(p["padding"])
        what = "conv"
    else:
        sizes = list(shape)
        kernels = list(p["window_dimensions"])
        dilation = list(p.get("window_dilation", (1,) * len(shape)))
        strides = list(p["window_strides"])
        pads = list(p["padding"])
        what = "pooling window"
    where = path or "<root>"
    out: list[Cause] = []
    for n, k, d, s, (lo, hi) in list(zip(sizes, kernels, dilation, strides, pads, strict=True))[
        -2:
    ]:
        k_eff = (k - 1) * d + 1
        if lo != hi and s == 1 and k_eff % 2 == 0:
            out.append(
                Cause(
                    "even_kernel_same",
                    path,
                    f"{where}: the {what}'s effective kernel {k_eff} is even, so SAME padding "
                    f"is asymmetric ({lo} before, {hi} after) and moves the rotation centre by "
                    "half a cell; use an odd kernel, or VALID padding",
                )
            )
            break
        if lo != hi:
            out.append(
                Cause(
                    "input_parity",
                    path,
                    f"{where}: on {n} cells the {what} (kernel {k_eff}, stride {s}) pads "
                    f"asymmetrically ({lo} before, {hi} after): this input size's parity moves "
                    "the rotation centre; choose a size for which the padding is symmetric",
                )
            )
            break
        span = n + lo + hi - k_eff
        if s > 1 and span >= 0 and span % s:
            out.append(
                Cause(
                    "stride",
                    path,
                    f"{where}: the {what}'s stride {s} does not divide {n} + {lo} + {hi} - "
                    f"{k_eff} = {span} cells, so its last window stops short of the far edge and "
                    "the sampled grid is not symmetric; choose an input size for which it does",
                )
            )
            break
    return out


def _module_causes(model: Any) -> list[Cause]:
    """Group convolutions whose circular padding is asymmetric (an even kernel: the pad is not
    in the conv's own padding, so the program does not show it), and modules holding a matrix
    or filter of their own that is not a group convolution's."""
    out = []
    for path, node in module_tree(model):
        if hasattr(node, "filter_bank") and hasattr(node, "group"):
            k = getattr(node, "kernel_size", 1)
            if getattr(node, "padding", None) == "CIRCULAR" and isinstance(k, int) and k % 2 == 0:
                out.append(
                    Cause(
                        "even_kernel_circular",
                        path,
                        f"{path or '<root>'}: kernel {k} is even, so CIRCULAR padding wraps "
                        f"{(k - 1) // 2} cell before and {k // 2} after, which moves the "
                        "rotation centre by half a cell; use an odd kernel",
                    )
                )
            continue
        own = (
            [
                v
                for k, v in vars(node).items()
                if is_array_like(v) and len(v.shape) >= 2 and not k.startswith("_")
            ]
            if hasattr(node, "__dict__")
            else []
        )
        if own:
            kind = type(node).__name__
            out.append(
                Cause(
                    "plain_layer",
                    path,
                    f"{path or '<root>'} ({kind}) is not a group convolution: a plain filter or "
                    "matrix mixes orientations and looks in fixed directions",
                )
            )
    return out
