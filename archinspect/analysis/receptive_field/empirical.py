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
Every measurement's footprint (the float64 weights, values per cotangent, compiled programs:
archinspect.analysis.footprint) is read off an abstract copy and refused above --max-memory
before anything of that size is allocated; the first one before any weight is drawn.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from archinspect.analysis.jaxprs import walk
from archinspect.analysis.params import is_array_like
from archinspect.errors import ArchinspectError, UnsupportedOperation
from archinspect.limits import MEMORY_LIMIT  # the default of --max-memory
from archinspect.report import GlobalSource, Pair, RFResult, exact

if TYPE_CHECKING:
    from archinspect.analysis.footprint import Footprint

MAX_CELLS = 1 << 22  # per channel; a larger domain would mean an RF far beyond any real model
BATCH = 16  # cotangents per backward pass

# ----------------------------------------------------------------------------- the positive copy


def _identity(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def _known_activations() -> list[Any]:
    import jax
    import jax.numpy as jnp

    from archinspect.activations import _BY_NAME, _PLAIN

    names = (
        "relu relu6 leaky_relu gelu silu swish elu celu selu sigmoid softplus hard_tanh "
        "log_sigmoid soft_sign hard_sigmoid hard_silu hard_swish mish sparse_plus squareplus"
    ).split()
    found = [getattr(jax.nn, n) for n in names if hasattr(jax.nn, n)]
    return found + [jnp.tanh] + list(_BY_NAME.values()) + list(_PLAIN.values())


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


def positive_linear_copy(
    model: Any, seed: int = 0, *, abstract: bool = False
) -> tuple[Any, list[GlobalSource]]:
    """The copy described in the module docstring, and the norms it cut (float64 arrays; with
    `abstract`, ShapeDtypeStructs of them: the copy's programs and memory, nothing allocated)."""
    import equinox as eqx
    import jax
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
            if abstract:
                floating = dtype.kind in "fc" or dtype.name == "bfloat16"
                kept = (jnp.complex128 if dtype.kind == "c" else jnp.float64) if floating else dtype
                return jax.ShapeDtypeStruct(tuple(node.shape), kept)
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

    with jax.enable_x64(True):
        return convert(model, "", ""), cut


# ----------------------------------------------------------------------------- the program


class _Traces:
    """The copy's program per input shape, traced once within one measurement (the period,
    the bounds, the callbacks and the memory estimate all read it)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.programs: dict[tuple[int, ...], Any] = {}

    def get(self, model: Any, shape: tuple[int, ...]) -> Any:
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        if model is not self.model:
            self.model, self.programs = model, {}
        if shape not in self.programs:
            self.programs[shape] = eqx.filter_make_jaxpr(lambda m, x: m(x))(
                model, jax.ShapeDtypeStruct(shape, jnp.float64)
            )[0]
        return self.programs[shape]


_TRACES = threading.local()


def _trace(model: Any, shape: tuple[int, ...]) -> Any:
    traces = getattr(_TRACES, "traces", None)
    if traces is None:
        traces = _TRACES.traces = _Traces()
    return traces.get(model, tuple(shape))


def _grid_bounds(model: Any, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """Per axis a multiple of the period of the strided layers, and a bound on any finite
    stencil's width.

    A grid's spacing along an axis is the product of the strides on its chain, so the period
    of strided convolutions and pools divides the product P of all strides along that axis (a
    slice's or pool's strides, not tied to an axis here, multiply every axis by their lcm). A
    window of effective size k on a grid of spacing g <= P widens a stencil by at most
    (k - 1) * g input cells, and a concatenation shifts cells by at most the length of the
    pieces it moves, so no finite stencil is wider than max(P) times the sum of those.
    (Reshapes, scatters and gathers that move cells are not counted: the period is verified
    by measurement, see `_measure_at`, and the bound only decides when a whole-axis
    dependency is global and when an input is large enough that nothing can alias.)
    """
    from jax import lax

    d = len(shape) - 1
    closed = _trace(model, shape)
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
        # A slice's or pool's strides are not tied to spatial axes here (a pool's window spans
        # the channel axis too, a vmapped one more): their lcm is a multiple of the stride along
        # any one axis (their product, 4 for a 2x2 pool, would square VGG's period to 1024).
        elif prim is lax.slice_p and eqn.params["strides"]:
            for i in range(d):
                periods[i] *= math.lcm(*eqn.params["strides"])
        elif prim in pools:
            for i in range(d):
                periods[i] *= math.lcm(*eqn.params["window_strides"])
            widening += max(eqn.params["window_dimensions"]) - 1

    walk(closed.jaxpr, visit)
    return tuple(periods), max(periods) * widening


def _moves_cells(model: Any, shape: tuple[int, ...]) -> bool:
    """Whether the program moves cells by operations `_grid_bounds` does not bound."""
    from jax import lax

    moving = {
        lax.gather_p,
        lax.scatter_p,
        lax.scatter_add_p,
        lax.scatter_mul_p,
        lax.scatter_min_p,
        lax.scatter_max_p,
        lax.dynamic_slice_p,
        lax.dynamic_update_slice_p,
        lax.dot_general_p,
    }
    found = False

    def visit(eqn: Any) -> None:
        nonlocal found
        found = found or eqn.primitive in moving

    walk(_trace(model, shape).jaxpr, visit)
    return found


def _has_fft(model: Any, shape: tuple[int, ...]) -> bool:
    from jax import lax

    found = False

    def visit(eqn: Any) -> None:
        nonlocal found
        found = found or eqn.primitive is lax.fft_p

    walk(_trace(model, shape).jaxpr, visit)
    return found


def _shapes(model: Any, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    found: list[tuple[int, ...]] = []
    walk(_trace(model, shape).jaxpr, lambda e: found.extend(v.aval.shape for v in e.outvars))
    return found


def _grid_ratios(model: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per axis the lcm of n / m over the intermediate sizes m that follow the axis (those that
    double when the axis doubles: a reshape's sub-axis, a pooled grid), for m dividing n.

    A layout that moves cells between grids of different spacings (pooling by a reshape, a
    pixel shuffle, a resize) repeats with the coarsest spacing; this is a candidate period
    read off the program's shapes (1 where the doubled input is refused or the program's
    shapes do not line up). The measurement verifies periodicity on its own evidence."""
    base = _shapes(model, shape)
    ratios = []
    for s in range(len(shape) - 1):
        n = shape[s + 1]
        bigger = tuple(2 * v if a == s + 1 else v for a, v in enumerate(shape))
        if not _accepts(model, bigger):
            ratios.append(1)
            continue
        other = _shapes(model, bigger)
        q = 1
        if len(other) == len(base):
            for a, b in zip(base, other, strict=True):
                if len(a) != len(b):
                    continue
                for m, m2 in zip(a, b, strict=True):
                    if m2 == 2 * m and 0 < m < n and n % m == 0:
                        q = math.lcm(q, n // m)
        ratios.append(q)
    return tuple(ratios)


def _footprint(model: Any, shape: tuple[int, ...], batch: int) -> Footprint:
    """What measuring on inputs of `shape` allocates (archinspect.analysis.footprint), read off
    the abstract copy: two float64 copies of the weights (the copy, XLA's temporaries in the
    compiled programs: flipped or transposed kernels), the forward pass's values once and
    once more per cotangent (at least the four inputs of `certify`), two float64 arrays of the
    largest weight while it is drawn, and the compiled programs of one input shape."""
    from archinspect.analysis.footprint import footprint

    return footprint(
        model,
        _trace(model, shape),
        weight_copies=2,
        passes=max(1 + batch, 4),
        draws=2,
        input_bytes=8 * math.prod(shape),
        float64=True,
    )


def _refuse_above(
    model: Any, shape: tuple[int, ...], batch: int, max_memory: int, why: str = ""
) -> None:
    """Refuse, before anything is allocated, a measurement on inputs of `shape` whose footprint
    is above --max-memory, or whose input is beyond MAX_CELLS per channel."""
    from archinspect.build.concrete import size_text

    cost = _footprint(model, shape, batch)
    need = cost.total
    if math.prod(shape[1:]) > MAX_CELLS or need > max_memory:
        passes = f"the forward pass and {batch} cotangents"
        raise ArchinspectError(
            f"error: receptive field (empirical): {why}measuring on an input of "
            f"{tuple(shape[1:])} cells needs about {size_text(need)} in float64 ({need:,} "
            f"bytes: {cost.describe(passes)}), beyond this method's limits ({MAX_CELLS:,} "
            f"cells; --max-memory {max_memory:,} bytes); lower the model's widths and depth "
            "or raise --max-memory, or use the structural method"
        )


# ----------------------------------------------------------------------------- measurement


@dataclasses.dataclass
class _Probe:
    position: tuple[int, ...]  # an output cell
    lo: list[int]  # per axis, first input cell with a nonzero gradient (-1: none)
    hi: list[int]
    whole: list[bool]  # every cell of the axis has a nonzero gradient
    negative: bool  # some entry is negative (only possible through a subtraction or an FFT)


class _Gradients:
    """Input-gradients of output cells of the linear copy, `batch` cotangents per pass.

    The gradients are those of `primal.primal_program`: the copy's forward program with
    `stop_gradient` made the identity and every custom derivative replaced by its primal
    function, so they describe what the forward pass computes, not what a derivative rule
    declares. Every pass has exactly `batch` cotangents (padded by repeats), so each input
    shape is compiled once. Small networks are compiled without XLA's optimisations: for them
    the compilation, not the run, is what takes time.
    """

    def __init__(self, model: Any, batch: int):
        import equinox as eqx
        import jax

        from archinspect.analysis.receptive_field.primal import primal_program

        self.model = model
        self.dynamic, self.static = eqx.partition(model, eqx.is_array)
        self.batch = batch
        self.weights = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(self.dynamic))
        self.compiled: dict[tuple, Any] = {}
        apply = primal_program(model, positive=True, linearise=True)

        def grads(dynamic: Any, x: Any, cts: Any) -> Any:
            _, vjp = jax.vjp(lambda v: apply(dynamic, v), x)
            return jax.vmap(lambda ct: vjp(ct)[0])(cts)

        def forward(dynamic: Any, xs: Any) -> Any:
            return jax.vmap(lambda v: apply(dynamic, v))(xs)

        self.fn = grads
        self.forward = forward

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        out = eqx.filter_eval_shape(self.model, jax.ShapeDtypeStruct(shape, jnp.float64))
        return tuple(out.shape)

    def _compile(self, key: tuple, fn: Any, *args: Any) -> Any:
        import jax

        if key not in self.compiled:
            # Only the programs of one input shape are kept: the input only grows, and the
            # memory estimate (`_footprint`) counts one shape's programs.
            self.compiled = {k: v for k, v in self.compiled.items() if k[1] == key[1]}
            small = self.weights * math.prod(args[0].shape[1:]) < 5e7
            options: dict[str, str | bool] = (
                {"xla_backend_optimization_level": "0"} if small else {}
            )
            try:
                lowered = jax.jit(fn).lower(self.dynamic, *args)
            except ValueError as exc:
                if "while_loop" not in str(exc):
                    raise
                raise UnsupportedOperation(
                    "error: receptive field (empirical): the model runs a lax.while_loop (or a "
                    "fori_loop whose bounds are not Python integers), which JAX cannot "
                    "differentiate in reverse mode; use the structural method"
                ) from exc
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
        values = np.asarray(fn(self.dynamic, xs))
        if not np.all(np.isfinite(values)):
            raise ArchinspectError(
                "error: receptive field (empirical): the positive copy's values overflow "
                "float64 (a constant near the largest float, e.g. a mask setting logits to the "
                "dtype's minimum, summed where the copy linearises a softmax); use the "
                "structural method"
            )
        f0, f1, f2, f12 = values
        expected = a * (f1 - f0) + b * (f2 - f0)
        scale = float(np.max(np.abs(expected))) or 1.0
        if not np.allclose(f12 - f0, expected, rtol=1e-9, atol=1e-12 * scale):
            raise UnsupportedOperation(
                "error: receptive field (empirical): the model stays nonlinear after its "
                "activations and norms are cut (an activation or normalization archinspect "
                "does not recognise); use the structural method"
            )

    def out_grid(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape, which must be the input's grid or a resampling of it by a whole
        factor per axis (output cell q then sits at input coordinate q * n / m); checked before
        anything runs."""
        out_shape = self.output_shape(shape)
        if (
            len(out_shape) != len(shape)
            or 0 in out_shape
            or any(n % m and m % n for n, m in zip(shape[1:], out_shape[1:], strict=True))
        ):
            # A grid shifted by an offset (VALID convolutions) has no position on the input's.
            raise UnsupportedOperation(
                f"error: receptive field (empirical): the output grid {out_shape[1:]} is not "
                f"the input grid {shape[1:]} nor a resampling of it by a whole factor; use the "
                "structural method"
            )
        return out_shape

    def __call__(self, x: np.ndarray, positions: list[tuple[int, ...]]) -> np.ndarray:
        """Gradients of the sum over output channels at each position (no cancellation)."""
        shape = tuple(x.shape)
        out_shape = self.out_grid(shape)
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
        self.out_grid(shape)
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
    period: int = 1  # in input cells
    row: int = 1  # the period in output cells


def _global(n: int, kind: str) -> _AxisResult:
    v: int | float = math.inf if kind == "inf" else n
    return _AxisResult((v, v), ((v, v), (v, v)), n, kind)


def _num(x: Fraction) -> int | Fraction:
    return exact(x)  # exact: an output cell between input cells reaches a fraction of a cell


MIN_WINDOW = 16  # output cells per line: periods up to 8 are seen twice even with no stride


@dataclasses.dataclass
class _Geometry:
    """What the program says before anything is measured."""

    periods: tuple[int, ...]  # per axis, the strided layers' period (input cells)
    ratios: tuple[int, ...]  # per axis, the grid ratios' lcm (see `_grid_ratios`)
    bound: int  # no finite stencil is wider (see `_grid_bounds`)
    # A family declared separable is a composition of strided box-window convolutions,
    # pointwise maps, concatenations and sums on the input's grid: its extents repeat with the
    # product of its strides, so one such period is measured and nothing else is assumed of it.
    known: bool = False
    unbounded: bool = False  # see `safe`

    def window(self, s: int) -> int:
        """Output cells measured in a row along axis s: two candidate periods at least (one
        when the period is known)."""
        if self.known:
            return self.unit(s)
        return max(2 * math.lcm(self.periods[s], self.ratios[s]), MIN_WINDOW)

    def safe(self, s: int) -> int | float:
        """From this many input cells on, no finite stencil can wrap along axis s (never, when
        the program moves cells by gathers, scatters, dynamic slices or dense products, which
        the bound does not count)."""
        if self.unbounded:
            return math.inf
        return 2 * (self.bound + self.window(s) * self.unit(s)) + 1

    def unit(self, s: int) -> int:
        """Input sizes along axis s are multiples of this (the model's own grids need it)."""
        return math.lcm(self.periods[s], self.ratios[s])


def _measure_at(
    grads: _Gradients,
    model: Any,
    shape: tuple[int, ...],
    axes: list[int],
    geometry: _Geometry,
    recheck: dict[int, int] | None = None,
) -> tuple[dict[int, _AxisResult], list[int]]:
    """Measure `axes` on inputs of `shape`: (results, axes whose input must grow).

    Along each measured axis a row of `window` consecutive output cells through the middle is
    measured (the other axes at their middle cell), and, when several axes repeat with a
    period above 1, one period of every axis's phases on top. An output cell q of an axis
    with n input and m output cells sits at input coordinate q * n / m and reaches
    q * n / m - lo cells back and hi - q * n / m forward. A measurement is accepted when every
    measured dependency stays at least one period away from both ends of the axis (no
    boundary rule reached it), and the extents along each row repeat with some period p, seen
    at least twice in the row; the position ranges are the minima and maxima over every
    measured cell, which cover all phases. Extents that do not repeat within the row are no
    stencil (a flip, a position-dependent layout): refused, never averaged. A `recheck`
    (axis: period in output cells, verified on a smaller input) measures one such period.
    """
    d = len(shape) - 1
    sizes = shape[1:]
    out = grads.out_grid(shape)[1:]
    ratio = [Fraction(n, m) for n, m in zip(sizes, out, strict=True)]
    centre = [m // 2 for m in out]
    # A row that does not fit (a short axis) is measured as far as it fits: that may show a
    # global coupling; a stencil needs the whole row, so its axis grows.
    # A known period is `unit` input cells: unit / ratio output cells (one cell of a grid 32
    # times coarser, as VGG's last layers, not 32 of them, which would need 1024 input cells).
    wanted = {
        s: recheck[s]
        if recheck
        else max(1, math.ceil(geometry.unit(s) / ratio[s]))
        if geometry.known
        else geometry.window(s)
        for s in axes
    }
    window = {s: max(1, min(wanted[s], out[s] - 2)) for s in axes}
    first = {s: max(0, out[s] // 2 - window[s] // 2) for s in axes}
    short = [s for s in axes if window[s] < wanted[s]]
    rows: dict[int, list[tuple[int, ...]]] = {}
    for s in axes:
        rows[s] = [
            tuple(first[s] + k if t == s else centre[t] for t in range(d)) for k in range(window[s])
        ]
    positions = sorted({p for row in rows.values() for p in row})
    probes = {p.position: p for p in grads.probe(shape, positions)}

    def extents(p: _Probe, t: int) -> tuple[Fraction, Fraction] | None:
        if p.lo[t] < 0:
            return None
        at = p.position[t] * ratio[t]
        return (at - p.lo[t], p.hi[t] - at)

    results: dict[int, _AxisResult] = {}
    grow: list[int] = []
    for s in axes:
        n = sizes[s]
        margin = geometry.periods[s]
        found = [p for p in probes.values() if p.lo[s] >= 0]
        if found and all(p.whole[s] for p in found):
            if n > geometry.bound + 1:
                # No finite stencil is this wide: the whole axis is a global coupling.
                bigger = list(shape)
                bigger[s + 1] *= 2
                # Only a Fourier transform reaches infinitely far on an unbounded domain; any
                # other whole-axis dependency (attention, a cumulative sum) reads the whole
                # axis, like a dense layer over space (README, "Exact receptive fields").
                spectral = _has_fft(model, shape) and _accepts(model, tuple(bigger))
                kind = "inf" if spectral else "dense"
                results[s] = _global(n, kind)
            else:
                grow.append(s)
            continue
        if s in short or not all(p.lo[s] >= margin and p.hi[s] <= n - 1 - margin for p in found):
            grow.append(s)
    if grow:
        return results, grow
    if len(results) < len(axes) and any(p.negative for p in probes.values()):
        raise UnsupportedOperation(
            "error: receptive field (empirical): a path with a negative sign "
            "survives with positive weights (a subtraction in the model), so "
            "gradients could cancel; use the structural method"
        )
    periods: dict[int, int] = {}
    for s in axes:
        if s in results:
            continue
        if recheck or geometry.known:
            periods[s] = window[s]
            continue
        keys = [tuple(extents(probes[q], t) for t in range(d)) for q in rows[s]]
        period = next(
            (
                p
                for p in range(1, len(keys) // 2 + 1)
                if all(keys[k] == keys[k + p] for k in range(len(keys) - p))
            ),
            None,
        )
        if period is None:
            raise UnsupportedOperation(
                f"error: receptive field (empirical): along axis {s} the extent depends on the "
                f"output position and does not repeat within {len(keys)} cells (no stencil: a "
                "flip or a position-dependent layout); use the structural method"
            )
        periods[s] = period
    if sum(1 for p in periods.values() if p > 1) > 1:
        grid = [
            range(first[t], first[t] + periods[t]) if t in periods else [centre[t]]
            for t in range(d)
        ]
        extra = [
            tuple(int(i) for i in p)
            for p in np.stack(np.meshgrid(*grid, indexing="ij"), -1).reshape(-1, d)
        ]
        extra = [p for p in extra if p not in probes]
        if extra:
            probes.update({p.position: p for p in grads.probe(shape, extra)})
    for s, period in periods.items():
        # Reported in input cells (the output's period times its spacing), as the other
        # methods do; on a finer grid, the smallest whole number of input cells.
        spacing = period * ratio[s]
        in_cells = spacing.numerator
        ext = [e for e in (extents(p, s) for p in probes.values()) if e is not None]
        back = [e[0] for e in ext] or [Fraction(0)]
        fwd = [e[1] for e in ext] or [Fraction(0)]
        results[s] = _AxisResult(
            (_num(max(back)), _num(max(fwd))),
            ((_num(min(back)), _num(max(back))), (_num(min(fwd)), _num(max(fwd)))),
            sizes[s],
            "stencil",
            in_cells,
            period,
        )
    return results, []


def _measure_axes(
    grads: _Gradients,
    model: Any,
    shape: tuple[int, ...],
    axes: list[int],
    geometry: _Geometry,
    max_memory: int = MEMORY_LIMIT,
) -> dict[int, _AxisResult]:
    """Grow the listed axes of `shape` until every one of them is measured cleanly.

    Aliasing: on a periodic (wrapped) boundary a dependency d cells away shows up at d mod n,
    anywhere on the axis, so the boundary check of `_measure_at` cannot see it. A stencil
    measured on n cells is accepted when no finite stencil can wrap (n is more than twice the
    bound of `_grid_bounds` plus the measured row: every offset then lands on a distinct cell
    and the boundary check sees any that reaches the ends), or when it is measured again,
    unchanged, on an input of n' = n + u cells (u the model's grid unit, gcd(n, n') = u): a
    dependency that shows at the same offset e on both sizes lies e plus a multiple of
    lcm(n, n') = n n' / u cells away — about n^2 / u, far beyond any input measured. A re-check
    that differs shows aliasing: the input then jumps to the size at which nothing can wrap.
    No input grows beyond `max_memory` (--max-memory; the footprint of `_footprint`: weights,
    values per cotangent, compiled programs): the method refuses instead, naming the size it
    would need. `model` is the abstract copy (its programs); `grads` holds the real one.
    """
    sizes = list(shape[1:])
    done: dict[int, _AxisResult] = {}
    previous: dict[int, _AxisResult] = {}
    why = ""  # why the input has grown to `sizes`
    while True:
        todo = [s for s in axes if s not in done]
        if not todo:
            return done
        current = (shape[0], *sizes)
        _refuse_above(model, current, grads.batch, max_memory, why)
        recheck = {s: previous[s].row for s in todo if s in previous}
        if recheck and len(recheck) < len(todo):
            # Axes re-checked and axes measured afresh are measured separately.
            todo = [s for s in todo if s in recheck]
        results, grow = _measure_at(grads, model, current, todo, geometry, recheck or None)
        wider: list[int] = []
        aliased: list[int] = []
        for s, r in results.items():
            if r.kind != "stencil" or sizes[s] >= geometry.safe(s):
                done[s] = r
                continue
            before = previous.pop(s, None)
            if before is not None and (before.pair, before.range) != (r.pair, r.range):
                aliased.append(s)
            elif before is not None:
                done[s] = dataclasses.replace(before, size=r.size)
            else:
                previous[s] = r
                wider.append(s)
        if not grow and not wider and not aliased:
            continue
        bigger = list(sizes)
        for s in grow:
            bigger[s] *= 2
        for s in wider:
            # The re-check size n' shares only the unit u with n: a wrapped dependency seen
            # unchanged on both sits a multiple of lcm(n, n') = n n' / u cells from where it shows.
            unit = geometry.unit(s)
            for k in (1, 3, 5, 7, None):
                bigger[s] = sizes[s] + k * unit if k else 2 * sizes[s]
                if k is None or (
                    math.gcd(sizes[s], bigger[s]) == unit and _accepts(model, (shape[0], *bigger))
                ):
                    break
        for s in aliased:
            unit = geometry.unit(s)
            safe = geometry.safe(s)
            bigger[s] = 2 * sizes[s]
            if safe != math.inf:
                bigger[s] = max(bigger[s], -(-int(safe) // unit) * unit)
        s = (aliased + grow + wider)[0]
        why = (
            f"at {tuple(sizes)} cells the measured extent changed with the input size "
            "(aliasing through a periodic boundary); "
            if s in aliased
            else f"at {tuple(sizes)} cells the boundary still reached the measured cells; "
            if s in grow
            else f"the result on {tuple(sizes)} cells needs a re-check for aliasing; "
        )
        if not _accepts(model, (shape[0], *bigger)):
            raise ArchinspectError(
                f"error: receptive field (empirical): {why}the model refuses the next input, "
                f"{tuple(bigger)} cells; use the structural method"
            )
        sizes = bigger


def empirical_receptive_field(
    model: Any,
    input_shape: tuple[int, ...],
    *,
    start: tuple[int, ...] | None = None,
    separable: bool | None = None,
    max_memory: int = MEMORY_LIMIT,
) -> RFResult:
    """Receptive field measured on the positive linear copy (see the module docstring).

    `start` (spatial sizes) is where the search for a large enough input begins, e.g. from
    another method's estimate; it saves compilations and never changes the result, because a
    measurement is accepted on its own evidence only. `separable=True` measures one axis at a
    time, for models whose separability is known (a family declares it: see the module
    docstring); otherwise (None or False) all axes are measured together.
    """
    try:
        return _empirical(model, input_shape, start, separable, max_memory)
    finally:
        _TRACES.traces = None  # the traces hold the copy's arrays


def _empirical(
    model: Any,
    input_shape: tuple[int, ...],
    start: tuple[int, ...] | None,
    separable: bool | None,
    max_memory: int = MEMORY_LIMIT,
) -> RFResult:
    import jax

    from archinspect.analysis.receptive_field.primal import refuse_callbacks

    d = len(input_shape) - 1
    requested = input_shape
    with jax.enable_x64(True):
        # Everything up to the measurement reads the abstract copy, so that the first
        # measurement's footprint is refused before any weight is drawn.
        shell, norms = positive_linear_copy(model, abstract=True)
        if not _accepts(shell, input_shape):
            raise ArchinspectError(
                f"error: receptive field (empirical): the model does not accept inputs of "
                f"shape {input_shape}"
            )
        refuse_callbacks(_trace(shell, input_shape).jaxpr)
        ratios = _grid_ratios(shell, input_shape)
        periods, bound = _grid_bounds(shell, input_shape)
        if start is not None:
            # Rounded up to the model's own grids (an odd size would misalign a resize).
            units = [math.lcm(p, q) for p, q in zip(periods, ratios, strict=True)]
            hinted = (
                input_shape[0],
                *(
                    max(a, -(-b // u) * u)
                    for a, b, u in zip(input_shape[1:], start, units, strict=True)
                ),
            )
            if hinted != input_shape and _accepts(shell, hinted):
                input_shape = hinted
                periods, bound = _grid_bounds(shell, input_shape)
        unbounded = _moves_cells(shell, input_shape)
        # (first input shape, axes, geometry, cotangents per pass) of each measurement
        plans: list[tuple[tuple[int, ...], list[int], _Geometry, int]] = []
        if d > 1 and separable:
            short = _short_size(shell, input_shape, max(periods))
            for s in range(d):
                geometry = _Geometry(periods, ratios, bound, known=True, unbounded=unbounded)
                shape = tuple(n if a in (0, s + 1) else short for a, n in enumerate(input_shape))
                plans.append((shape, [s], geometry, min(BATCH, geometry.window(s))))
        else:
            batch = min(
                BATCH,
                sum(
                    max(2 * math.lcm(p, q), MIN_WINDOW)
                    for p, q in zip(periods, ratios, strict=True)
                ),
            )
            geometry = _Geometry(periods, ratios, bound, unbounded=unbounded)
            plans.append((input_shape, list(range(d)), geometry, batch))
        for shape, _, _, batch in plans:
            _refuse_above(shell, shape, batch, max_memory)
        copy, _ = positive_linear_copy(model)
        results: dict[int, _AxisResult] = {}
        for shape, measured, geometry, batch in plans:
            grads = _Gradients(copy, batch)
            results.update(_measure_axes(grads, shell, shape, measured, geometry, max_memory))
    # A dense coupling reads the whole axis: the number of points of the input asked about
    # (the measurement may have grown the input to tell it from a wide stencil).
    axes = [
        dataclasses.replace(_global(requested[s + 1], "dense"), size=results[s].size)
        if results[s].kind == "dense"
        else results[s]
        for s in range(d)
    ]
    return RFResult(
        per_axis=tuple(a.pair for a in axes),
        position_range=tuple(a.range for a in axes),
        period=tuple(a.period for a in axes),
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
