"""Method B: the receptive field measured with gradients of a copy that cannot hide a path.

Gradients of the real network are the `receptivefield` package's approach, and they lie: a dead
ReLU or a saturated tanh has zero slope, so a cell the output does depend on gets a zero
gradient, and weights of both signs can cancel. Here the gradient (float64) is taken of a copy
in which

- every weight and bias is strictly positive (uniform in [0.5, 1.5] / sqrt(fan-in), so that
  products along deep paths stay far from float64's overflow and underflow),
- every activation is the identity, and every normalization keeps no statistics (its output is
  its input: a positive affine map), which records it as a global coupling,

so the copy is linear and every path from an input cell to an output cell contributes a
positive product of weights: a gradient entry is nonzero exactly where a path exists. Two
certificates guard the copy: it is linear (checked on random inputs: no activation or norm was
missed) and its gradients have no negative entry on a finite stencil (no subtraction, so no
cancellation is possible). Either failing is an error, never a silent answer.

The measured output cells are one full period of positions in the middle of the domain (the
period is taken as the product of all strides, a multiple of the true one). A measurement is
accepted when every measured dependency stays at least one period away from both ends of the
axis, so no boundary rule (padding, wrapping, mirroring) reached it; otherwise the axis doubles.
A dependency on the whole axis, on an axis longer than any finite stencil can be (a bound from
the windows in the traced computation), is global: infinite if the model accepts a longer axis
(an FFT), the number of points if it does not (a dense layer over space).

Memory: in 2-D and 3-D, a model whose family declares it separable (`Family.separable`, which
also covers pdequinox's classes of the same architecture) is measured one axis at a time, on
inputs that are long along that axis and short along the others. That is exact for the
convolutional families: each is a composition of box-window convolutions, pointwise maps,
channel concatenations and residual sums. A box window's dependency relation is a product of
per-axis relations, a composition of products is a product, and every branch reaches at least
one cell along every axis, so the projection of an output cell's dependencies onto one axis is
the same union of per-axis stencils whatever the other axes' sizes and boundaries. Any other
module is measured on the full n-D input, one period of positions per axis, in batches.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from archinspect.analysis.params import is_array_like
from archinspect.errors import ArchinspectError, UnsupportedOperation
from archinspect.report import GlobalSource, Pair, RFResult

MAX_CELLS = 1 << 22  # per channel; a larger domain would mean an RF far beyond any real model
BATCH = 16  # cotangents per backward pass

# ----------------------------------------------------------------------------- the positive copy


def _identity(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def _known_activations() -> list[Any]:
    import jax
    import jax.numpy as jnp

    from archinspect.activations import _BY_NAME

    names = (
        "relu relu6 leaky_relu gelu silu swish elu celu selu sigmoid softplus hard_tanh "
        "log_sigmoid soft_sign hard_sigmoid hard_silu hard_swish mish sparse_plus squareplus"
    ).split()
    found = [getattr(jax.nn, n) for n in names if hasattr(jax.nn, n)]
    return found + [jnp.tanh] + list(_BY_NAME.values())


def _norm_types() -> tuple[type, ...]:
    import equinox as eqx

    return (eqx.nn.GroupNorm, eqx.nn.LayerNorm, eqx.nn.RMSNorm)


_CUT_NORM: Any = None


def _cut_norm() -> Any:
    global _CUT_NORM
    if _CUT_NORM is None:
        import equinox as eqx

        class CutNorm(eqx.Module):
            """A normalization without statistics: x -> 1.0 * x (a positive affine map)."""

            def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
                return x

        _CUT_NORM = CutNorm
    return _CUT_NORM()


def _join(path: str, name: str) -> str:
    if name.startswith("["):
        return path + name
    return f"{path}.{name}" if path else name


def positive_linear_copy(model: Any, seed: int = 0) -> tuple[Any, list[GlobalSource]]:
    """The copy described in the module docstring, and the norms it cut (float64 arrays)."""
    import equinox as eqx
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    norms = _norm_types()
    activations = _known_activations()
    cut: list[GlobalSource] = []
    activation_names: set[str] = set()
    from archinspect.activations import _BY_NAME

    activation_names.update(_BY_NAME)

    def is_activation(name: str, value: Any) -> bool:
        if isinstance(value, eqx.Module) or is_array_like(value) or not callable(value):
            return False
        return "activation" in name or any(value is f for f in activations)

    def convert(node: Any, name: str, path: str) -> Any:
        if isinstance(node, norms):
            cut.append(GlobalSource(path, type(node).__name__, "normalization"))
            return _cut_norm()
        if is_array_like(node):
            dtype = np.dtype(node.dtype)
            if dtype.kind in "fc" or dtype.name == "bfloat16":
                # A path product that underflowed to 0 would hide a dependency: 1/sqrt(fan-in)
                # keeps every product near 1 (complex weights get a positive real part only).
                fan = math.prod(node.shape[1:]) if len(node.shape) >= 2 else 1
                values = rng.uniform(0.5, 1.5, node.shape) / math.sqrt(fan)
                kind = jnp.complex128 if dtype.kind == "c" else jnp.float64
                return jnp.asarray(values, kind)
            # Integer arrays (indices, masks) are kept; abstract ones become zeros.
            return jnp.asarray(
                np.asarray(node) if hasattr(node, "__array__") else np.zeros(node.shape, dtype)
            )
        if isinstance(node, str) and "activation" in name and node in activation_names:
            return "identity"
        if is_activation(name, node):
            return _identity
        if isinstance(node, eqx.Module):
            new = object.__new__(type(node))
            for f in dataclasses.fields(node):
                if not hasattr(node, f.name):
                    continue
                value = convert(getattr(node, f.name), f.name, _join(path, f.name))
                object.__setattr__(new, f.name, value)
            return new
        if isinstance(node, list):
            return [convert(v, name, _join(path, f"[{i}]")) for i, v in enumerate(node)]
        if isinstance(node, tuple) and not hasattr(node, "_fields"):
            return tuple(convert(v, name, _join(path, f"[{i}]")) for i, v in enumerate(node))
        if isinstance(node, dict):
            return {k: convert(v, name, _join(path, f"[{k!r}]")) for k, v in node.items()}
        return node

    import jax

    with jax.enable_x64(True):
        return convert(model, "", ""), cut


# ----------------------------------------------------------------------------- measurement


def _grid_bounds(model: Any, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """Per axis a multiple of the network's period, and a bound on any finite stencil's width.

    A grid's spacing along an axis is the product of the strides on its chain, so the period
    divides the product P of all strides along that axis (a slice's strides, which are not tied
    to an axis here, multiply every axis). A window of effective size k on a grid of spacing
    g <= P widens a stencil by at most (k - 1) * g input cells, and a concatenation shifts cells
    by at most the length of the pieces it moves, so no finite stencil is wider than max(P)
    times the sum of those. (Scatters and gathers that shift cells are not counted: a model
    built on them may have a finite stencil reported as global; the structural method, and
    `--method both`, do not rely on this bound.)
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from jax import lax

    from archinspect.analysis.receptive_field.rules import walk

    d = len(shape) - 1
    closed = eqx.filter_make_jaxpr(lambda m, x: m(x))(
        model, jax.ShapeDtypeStruct(shape, jnp.float64)
    )[0]
    periods = [1] * d
    widening = 0
    pools = (
        lax.reduce_window_p,
        lax.reduce_window_sum_p,
        lax.reduce_window_max_p,
        lax.reduce_window_min_p,
    )

    def visit(eqn: Any) -> None:
        nonlocal widening
        prim = eqn.primitive
        if prim is lax.conv_general_dilated_p:
            strides = eqn.params["window_strides"]
            for i in range(min(d, len(strides))):
                periods[i] *= strides[i]
            rhs = eqn.invars[1].aval.shape
            spec = eqn.params["dimension_numbers"].rhs_spec
            widening += max(
                (rhs[spec[2 + i]] - 1) * r for i, r in enumerate(eqn.params["rhs_dilation"])
            )
        elif prim is lax.concatenate_p:
            # Pieces moved next to others (rolls, wrapped padding) shift cells by at most
            # their length: all but the largest piece along the joined axis.
            k = eqn.params["dimension"]
            lengths = sorted(v.aval.shape[k] for v in eqn.invars)
            widening += sum(lengths[:-1])
        elif prim is lax.slice_p and eqn.params["strides"]:
            for i in range(d):
                periods[i] *= math.prod(eqn.params["strides"])
        elif prim in pools:
            for i in range(d):
                periods[i] *= math.prod(eqn.params["window_strides"])
            widening += max(eqn.params["window_dimensions"]) - 1

    walk(closed.jaxpr, visit)
    return tuple(periods), max(periods) * widening


@dataclasses.dataclass
class _Probe:
    position: tuple[int, ...]
    lo: list[int]  # per axis, first input cell with a nonzero gradient (-1: none)
    hi: list[int]
    whole: list[bool]  # every cell of the axis has a nonzero gradient
    negative: bool  # some entry is negative (only possible through a subtraction or an FFT)


class _Gradients:
    """Input-gradients of output cells of the linear copy, `batch` cotangents per pass.

    Every pass has exactly `batch` cotangents (padded by repeats), so each input shape is
    compiled once. Small networks are compiled without XLA's optimisations: for them the
    compilation, not the run, is what takes time.
    """

    def __init__(self, model: Any, batch: int):
        import equinox as eqx
        import jax

        self.dynamic, self.static = eqx.partition(model, eqx.is_array)
        self.batch = batch
        self.weights = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(self.dynamic))
        self.compiled: dict[tuple, Any] = {}

        def grads(dynamic: Any, x: Any, cts: Any) -> Any:
            _, vjp = jax.vjp(eqx.combine(dynamic, self.static), x)
            return jax.vmap(lambda ct: vjp(ct)[0])(cts)

        def forward(dynamic: Any, xs: Any) -> Any:
            return jax.vmap(eqx.combine(dynamic, self.static))(xs)

        self.fn = grads
        self.forward = forward

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        model = eqx.combine(self.dynamic, self.static)
        out = eqx.filter_eval_shape(model, jax.ShapeDtypeStruct(shape, jnp.float64))
        return tuple(out.shape)

    def _compile(self, key: tuple, fn: Any, *args: Any) -> Any:
        import jax

        if key not in self.compiled:
            small = self.weights * math.prod(args[0].shape[1:]) < 5e7
            options: dict[str, str | bool] = (
                {"xla_backend_optimization_level": "0"} if small else {}
            )
            lowered = jax.jit(fn).lower(self.dynamic, *args)
            self.compiled[key] = lowered.compile(compiler_options=options)
        return self.compiled[key]

    def _compiled(self, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Any:
        cts = np.zeros((self.batch,) + out_shape)
        return self._compile(("vjp", shape), self.fn, np.zeros(shape), cts)

    def certify(self, shape: tuple[int, ...]) -> None:
        """The copy is linear: f(a x1 + b x2) - f(0) = a (f(x1) - f(0)) + b (f(x2) - f(0)) for
        random inputs, so no activation or norm survived (its gradient is then the same at
        every input, and the gradients below are those of the copy's one linear map)."""
        rng = np.random.default_rng(2)
        x1, x2 = rng.normal(size=shape), rng.normal(size=shape)
        a, b = 0.7, -1.3
        xs = np.stack([np.zeros(shape), x1, x2, a * x1 + b * x2])
        fn = self._compile(("forward", shape), self.forward, xs)
        f0, f1, f2, f12 = np.asarray(fn(self.dynamic, xs))
        expected = a * (f1 - f0) + b * (f2 - f0)
        scale = float(np.max(np.abs(expected))) or 1.0
        if not np.allclose(f12 - f0, expected, rtol=1e-9, atol=1e-12 * scale):
            raise UnsupportedOperation(
                "error: receptive field (empirical): the model stays nonlinear after its "
                "activations and norms are cut (an activation or normalization archinspect "
                "does not recognise); use the structural method"
            )

    def same_grid(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape, which must be on the input's grid (checked before anything runs:
        a stack that shrinks may leave no output cell at all on a short probe input)."""
        out_shape = self.output_shape(shape)
        if out_shape[1:] != shape[1:]:
            raise UnsupportedOperation(
                f"error: receptive field (empirical): the output grid {out_shape[1:]} is not "
                f"the input grid {shape[1:]}; use the structural method"
            )
        return out_shape

    def __call__(self, x: np.ndarray, positions: list[tuple[int, ...]]) -> np.ndarray:
        """Gradients of the sum over output channels at each position (no cancellation)."""
        shape = tuple(x.shape)
        out_shape = self.same_grid(shape)
        fn = self._compiled(shape, out_shape)
        grads = []
        for start in range(0, len(positions), self.batch):
            chunk = positions[start : start + self.batch]
            chunk = chunk + [chunk[-1]] * (self.batch - len(chunk))
            cts = np.zeros((self.batch,) + out_shape)
            for k, pos in enumerate(chunk):
                cts[(k, slice(None)) + pos] = 1.0
            grads.append(np.asarray(fn(self.dynamic, x, cts)))
        return np.concatenate(grads)[: len(positions)]

    def probe(self, shape: tuple[int, ...], positions: list[tuple[int, ...]]) -> list[_Probe]:
        """Supports of the gradients at `positions`, on a copy certified linear."""
        self.same_grid(shape)
        self.certify(shape)
        g = self(np.zeros(shape), positions)
        if not np.all(np.isfinite(g)):
            raise ArchinspectError(
                "error: receptive field (empirical): the gradients of the positive copy "
                "overflow float64 (the network is too deep for this method)"
            )
        return [_support(pos, gi) for pos, gi in zip(positions, g, strict=True)]


def _support(position: tuple[int, ...], grad: np.ndarray) -> _Probe:
    nonzero = grad != 0
    d = grad.ndim - 1
    lo, hi, whole = [], [], []
    for s in range(d):
        other = tuple(a for a in range(grad.ndim) if a != s + 1)
        along = np.any(nonzero, axis=other)
        cells = np.nonzero(along)[0]
        lo.append(int(cells[0]) if cells.size else -1)
        hi.append(int(cells[-1]) if cells.size else -1)
        whole.append(bool(along.all()))
    negative = float(np.min(grad)) < -1e-12 * (float(np.max(np.abs(grad))) or 1.0)
    return _Probe(position, lo, hi, whole, negative)


def _accepts(model: Any, shape: tuple[int, ...]) -> bool:
    """Whether the (float64) copy runs on inputs of this shape."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    try:
        eqx.filter_eval_shape(model, jax.ShapeDtypeStruct(shape, jnp.float64))
    except (ValueError, TypeError):
        return False
    return True


@dataclasses.dataclass
class _AxisResult:
    pair: Pair
    range: tuple[Pair, Pair]
    size: int
    kind: str  # "stencil" | "inf" | "dense"


def _global(n: int, kind: str) -> _AxisResult:
    v: int | float = math.inf if kind == "inf" else n
    return _AxisResult((v, v), ((v, v), (v, v)), n, kind)


def _measure_axes(
    grads: _Gradients,
    model: Any,
    shape: tuple[int, ...],
    axes: list[int],
    periods: tuple[int, ...],
    bound: int,
) -> dict[int, _AxisResult]:
    """Grow the listed axes of `shape` until every one of them is measured cleanly."""
    sizes = list(shape[1:])
    done: dict[int, _AxisResult] = {}
    while True:
        todo = [s for s in axes if s not in done]
        if not todo:
            return done
        current = (shape[0], *sizes)
        centre = [(n // 2) // p * p for n, p in zip(sizes, periods, strict=True)]
        grow = [s for s in todo if centre[s] + periods[s] > sizes[s]]
        if not grow:
            ranges = [
                range(centre[s], centre[s] + periods[s]) if s in todo else [centre[s]]
                for s in range(len(sizes))
            ]
            grid = np.stack(np.meshgrid(*ranges, indexing="ij"), -1).reshape(-1, len(sizes))
            positions = [tuple(int(i) for i in p) for p in grid]
            probes = grads.probe(current, positions)
            for s in todo:
                n, period = sizes[s], periods[s]
                found = [p for p in probes if p.lo[s] >= 0]
                if found and all(p.whole[s] for p in found):
                    if n > bound + 1:
                        # No finite stencil is this wide: the whole axis is a global coupling.
                        bigger = list(current)
                        bigger[s + 1] *= 2
                        kind = "inf" if _accepts(model, tuple(bigger)) else "dense"
                        done[s] = _global(n, kind)
                    else:
                        grow.append(s)
                    continue
                if not all(p.lo[s] >= period and p.hi[s] <= n - 1 - period for p in found):
                    grow.append(s)
                    continue
                if any(p.negative for p in probes):
                    raise UnsupportedOperation(
                        "error: receptive field (empirical): a path with a negative sign "
                        "survives with positive weights (a subtraction in the model), so "
                        "gradients could cancel; use the structural method"
                    )
                back = [p.position[s] - p.lo[s] for p in found] or [0]
                fwd = [p.hi[s] - p.position[s] for p in found] or [0]
                done[s] = _AxisResult(
                    (max(back), max(fwd)),
                    ((min(back), max(back)), (min(fwd), max(fwd))),
                    n,
                    "stencil",
                )
        if not grow:
            continue
        bigger = list(sizes)
        for s in grow:
            bigger[s] *= 2
        if math.prod(bigger) > MAX_CELLS or not _accepts(model, (shape[0], *bigger)):
            raise ArchinspectError(
                f"error: receptive field (empirical): at {tuple(sizes)} cells the boundary "
                "still reaches the measured cells, and a larger input is refused or too large"
            )
        sizes = bigger


def empirical_receptive_field(
    model: Any,
    input_shape: tuple[int, ...],
    *,
    start: tuple[int, ...] | None = None,
    separable: bool | None = None,
) -> RFResult:
    """Receptive field measured on the positive linear copy (see the module docstring).

    `start` (spatial sizes) is where the search for a large enough input begins, e.g. from
    another method's estimate; it saves compilations and never changes the result, because a
    measurement is accepted on its own evidence only. `separable=True` measures one axis at a
    time, for models whose separability is known (a family declares it: see the module
    docstring); otherwise (None or False) all axes are measured together.
    """
    import jax

    d = len(input_shape) - 1
    with jax.enable_x64(True):
        copy, norms = positive_linear_copy(model)
        if not _accepts(copy, input_shape):
            raise ArchinspectError(
                f"error: receptive field (empirical): the model does not accept inputs of "
                f"shape {input_shape}"
            )
        if start is not None:
            hinted = (
                input_shape[0],
                *(max(a, b) for a, b in zip(input_shape[1:], start, strict=True)),
            )
            if _accepts(copy, hinted):
                input_shape = hinted
        periods, bound = _grid_bounds(copy, input_shape)
        results: dict[int, _AxisResult] = {}
        if d > 1 and separable:
            short = _short_size(copy, input_shape, max(periods))
            for s in range(d):
                grads = _Gradients(copy, periods[s])
                shape = tuple(n if a in (0, s + 1) else short for a, n in enumerate(input_shape))
                results.update(_measure_axes(grads, copy, shape, [s], periods, bound))
        else:
            grads = _Gradients(copy, min(BATCH, math.prod(periods)))
            results = _measure_axes(grads, copy, input_shape, list(range(d)), periods, bound)
    axes = [results[s] for s in range(d)]
    return RFResult(
        per_axis=tuple(a.pair for a in axes),
        position_range=tuple(a.range for a in axes),
        period=periods,
        global_=bool(norms) or any(a.kind != "stencil" for a in axes),
        global_via=tuple(norms),
        method="empirical",
        analysed_shape=(input_shape[0], *(a.size for a in axes)),
    )


def _short_size(model: Any, input_shape: tuple[int, ...], period: int) -> int:
    """The smallest multiple of the period (and at least 4 cells) the model accepts along the
    axes not being measured; at most the spec's own size."""
    n = period * max(1, math.ceil(4 / period))
    limit = max(input_shape[1:])
    while n < limit:
        if _accepts(model, (input_shape[0],) + (n,) * (len(input_shape) - 1)):
            return n
        n *= 2
    return limit
