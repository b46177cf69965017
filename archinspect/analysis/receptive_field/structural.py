"""Method A: the receptive field from a dependency analysis of the traced forward pass.

The model is traced to a jaxpr (abstractly: no weight is allocated) with every module call in a
named scope and its outputs marked; `rules` then propagates per-element dependency hulls
through every equation, one exact rule per primitive, and refuses primitives it has no rule for.

Boundaries: an output cell is measured only if nothing it depends on passed through a boundary
rule (padding, wrapped or mirrored cells), so the stencil is that of the unbounded domain, the
same for periodic, Dirichlet and Neumann boundaries. The analysed input starts at the requested
size, or at START_AXIS cells per axis if that is smaller (the field of the unbounded domain
does not depend on the size, and neither should the cost), and grows along an axis until the
untainted output cells cover every phase of the network's period there (the lcm of the
down-sampling factors of all its grids): the result is then exact, not an extrapolation.
Where a model refuses a larger input (an MLP over a fixed number of points) and no cell is
free of the boundary, the analysis says so instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
from jax.extend.core import Literal  # (the rules below import JAX anyway)

from archinspect.analysis.receptive_field.constants import evaluate
from archinspect.analysis.receptive_field.reach import reach
from archinspect.analysis.receptive_field.rules import (
    MARK,
    RULES,
    Context,
    Tag,
    Val,
    empty,
    input_val,
    unknown,
)
from archinspect.analysis.receptive_field.rules.calls import feeds_callbacks_only
from archinspect.analysis.receptive_field.rules.registry import SUPPORT_RULES
from archinspect.analysis.receptive_field.rules.tables import COORD, inert, materialise
from archinspect.errors import ArchinspectError, UnsupportedOperation
from archinspect.limits import MEMORY_LIMIT
from archinspect.report import GlobalSource, Pair, RFResult, exact

if TYPE_CHECKING:
    from archinspect.analysis.recorder import Event

# Never analyse more than this many cells per channel: a receptive field this large is a bug.
MAX_CELLS = 1 << 30
MAX_AXIS = 1 << 16
SETTLE = 256
# The analysis starts from at most this many cells per axis (a power of two: it keeps every
# power-of-two down-sampling factor whole) and grows from there as it needs.
START_AXIS = 256
# Growing the input only so that deep layers' fields are measured stops earlier (a per-layer
# column is a convenience; the network's own field may grow up to MAX_CELLS).
MAX_LAYER_CELLS = 1 << 22


class _NotConcrete(Exception):
    pass


class TablesTooLarge(ArchinspectError):
    """The structural method would need more memory than allowed at the requested input (the
    spec's commands name the input in the message)."""


# ----------------------------------------------------------------------------- tracing


class MarkTap:
    """A recorder tap: wraps each recorded call's array outputs in a mark with the call's path,
    so that the interpreter sees every module's output value (its layer field)."""

    def before(self, event: Event) -> None:
        pass

    def after(self, event: Event, out: Any) -> Any:
        import jax

        return jax.tree_util.tree_map(
            lambda v: MARK.bind(v, path=event.path) if isinstance(v, jax.Array) else v, out
        )


def trace(model: Any, input_shape: tuple[int, ...], share: bool = True) -> tuple[Any, list]:
    """The closed jaxpr of model(x) (inputs: the model's arrays, then x) and its calls;
    `share`: the body of a leaf module's call is traced once per signature (False: every call
    anew, the reference the tests compare it with)."""
    import equinox as eqx
    import jax

    from archinspect.analysis.params import is_array_like
    from archinspect.analysis.recorder import ShapeTap, recording
    from archinspect.analysis.shared_calls import NestedCall

    dynamic, static = eqx.partition(model, is_array_like)
    calls: list = []

    def forward(dyn: Any, x: Any, share: bool) -> Any:
        m = eqx.combine(dyn, static)
        with recording(m, [ShapeTap(calls), MarkTap()], share_leaves=share):
            return m(x)

    x = _input(dynamic, input_shape)
    # The calls of leaf modules (a conv, a norm) are traced once per signature: one call
    # equation each, interpreted call by call as before (README, "The receptive field of deep
    # models"); where a leaf records a call after all, everything is traced again as it is.
    try:
        closed = jax.make_jaxpr(functools.partial(forward, share=share))(dynamic, x)
    except NestedCall:
        calls.clear()
        closed = jax.make_jaxpr(functools.partial(forward, share=False))(dynamic, x)
    return closed, calls


def _input(dynamic: Any, input_shape: tuple[int, ...]) -> Any:
    """The abstract input: the model's floating dtype (its convolutions require one dtype);
    jnp.issubdtype knows bfloat16, whose NumPy kind is not "f"."""
    import jax
    import jax.numpy as jnp

    floats = [
        leaf.dtype
        for leaf in jax.tree_util.tree_leaves(dynamic)
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    return jax.ShapeDtypeStruct(input_shape, floats[0] if floats else jnp.float32)


def check_input(model: Any, input_shape: tuple[int, ...]) -> None:
    """Evaluate the model's output shape on the requested input, abstractly: the analysis may
    start on another size (smaller, or where a hint says), and a model that fails on the
    spec's own input has no receptive field to report; its error propagates as the forward
    pass's."""
    import equinox as eqx

    from archinspect.analysis.params import is_array_like

    dynamic, _ = eqx.partition(model, is_array_like)
    eqx.filter_eval_shape(model, _input(dynamic, input_shape))


# ----------------------------------------------------------------------------- interpretation


@dataclass
class _Plan:
    """What the interpreter reads off a jaxpr before running it: the equations to skip, each
    equation's name stack, and the values no later equation reads (tables can be large: each
    is dropped after its last use)."""

    skip: set[int]
    stacks: list[tuple[str, ...]]
    dead: list[list[Any]]  # per equation, the values it reads for the last time

    @classmethod
    def of(cls, jaxpr: Any) -> _Plan:
        last_use: dict[Any, int] = {}
        for i, eqn in enumerate(jaxpr.eqns):
            for atom in eqn.invars:
                if not isinstance(atom, Literal):
                    last_use[atom] = i
        for atom in jaxpr.outvars:
            if not isinstance(atom, Literal):
                last_use[atom] = len(jaxpr.eqns)
        dead: list[list[Any]] = [[] for _ in jaxpr.eqns]
        for atom, i in last_use.items():
            if i < len(jaxpr.eqns):
                dead[i].append(atom)
        stacks = [
            tuple(c for c in str(eqn.source_info.name_stack).split("/") if c) for eqn in jaxpr.eqns
        ]
        return cls(feeds_callbacks_only(jaxpr), stacks, dead)


def _blank_rules() -> frozenset[Any]:
    """The rules that only compute tables and tags from their operands' (no module call, mark,
    loop, callback or indexing by concrete values): given operands that depend on nothing and
    whose axes lie along no input axis, each returns values that depend on nothing either and
    records nothing (global sources, windows' reach and grid slopes all need an operand that
    depends on the input or lies along it), so the interpreter returns those directly; a weight's
    reshapes, broadcasts and arithmetic are a third of a UNet's equations."""
    from jax import lax

    from archinspect.analysis.receptive_field.rules import (
        cumulative,
        elementwise,
        fft,
        movement,
        reductions,
        tile,
        windowed,
    )

    modules = {
        m.__name__ for m in (cumulative, elementwise, fft, movement, reductions, tile, windowed)
    }
    found = {fn for fn in RULES.values() if fn.__module__ in modules}
    return frozenset(found - {RULES[lax.dynamic_slice_p]})


BLANK_RULES = _blank_rules()


def _blank(v: Val) -> bool:
    return all(t is None for t in v.tags) and inert(v)  # (the tags are cheaper to read)


@dataclass
class _Env:
    vals: dict[Any, Val] = field(default_factory=dict)
    producers: dict[Any, tuple[Any, int]] = field(default_factory=dict)
    consts: dict[Any, Any] = field(default_factory=dict)
    links: dict[Any, tuple[_Env, Any]] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)


class Interpreter:
    """Runs the rules over a jaxpr and collects global sources, grid slopes and marked calls
    (surveyed on an input of `sizes` cells; with no sizes, marks are not kept; with `wanted`,
    only the calls at those module paths)."""

    def __init__(
        self,
        d: int,
        calls: list,
        sizes: tuple[int, ...] | None = None,
        wanted: frozenset[str] | None = None,
    ):
        self.d = d
        self.sizes = sizes
        self.wanted = wanted
        self.scopes: dict[str, str] = {}
        self.types: dict[str, str] = {}
        for call in calls:
            self.scopes.setdefault(call.path or call.type, call.path)
            self.types.setdefault(call.path, call.type)
        self.globals: list[GlobalSource] = []
        self.slopes: dict[int, set[Fraction]] = {s: {Fraction(1)} for s in range(d)}
        self.tags: dict[int, Tag] = {}  # every tag whose slope is in `slopes`, by id
        self.marks: dict[str, list[Survey]] = {}
        self.reach: list[float] = [0.0] * d
        self.pooled: list[Val] = []  # operands of global poolings (see `measure_network`)
        # Per jaxpr (a deep network calls the same few thousands of times): its `_Plan`.
        self.plans: dict[int, tuple[Any, _Plan]] = {}

    def plan(self, jaxpr: Any) -> _Plan:
        held = self.plans.get(id(jaxpr))
        if held is None or held[0] is not jaxpr:
            held = (jaxpr, _Plan.of(jaxpr))
            self.plans[id(jaxpr)] = held
        return held[1]

    def module(self, stack: tuple[str, ...]) -> tuple[str, str]:
        for comp in reversed(stack):
            if comp in self.scopes:
                path = self.scopes[comp]
                return path, self.types[path]
        return "", self.types.get("", "?")

    def record(self, stack: tuple[str, ...], kind: str) -> None:
        path, typ = self.module(stack)
        source = GlobalSource(path, typ, kind)
        if source not in self.globals:
            self.globals.append(source)

    def run(
        self,
        jaxpr: Any,
        consts: list[Any],
        ins: list[Val],
        prefix: tuple[str, ...],
        parent: tuple[_Env, list[Any]] | None = None,
    ) -> list[Val]:
        env = _Env()
        for var, value in zip(jaxpr.constvars, consts, strict=True):
            env.vals[var] = empty(np.shape(value), self.d)
            env.consts[var] = value
        for i, (var, val) in enumerate(zip(jaxpr.invars, ins, strict=True)):
            env.vals[var] = val
            if parent is not None:
                env.links[var] = (parent[0], parent[1][i])
        plan = self.plan(jaxpr)
        for index, eqn in enumerate(jaxpr.eqns):
            if index in plan.skip:
                continue  # only debug prints read it: no value of the forward pass does
            stack = prefix + plan.stacks[index]
            vals = [self._val(env, atom) for atom in eqn.invars]
            fn = RULES.get(eqn.primitive)
            keep = fn in SUPPORT_RULES
            if not keep:
                vals = [materialise(v) for v in vals]
            ctx = self._context(env, eqn, stack, keep)
            if fn is None and not all(inert(v) for v in vals):
                raise unknown(eqn, ctx)
            if (
                fn is None
                or all(math.prod(v.aval.shape) == 0 for v in eqn.outvars)
                or (fn in BLANK_RULES and all(_blank(v) for v in vals))
            ):
                # No rule is needed where nothing read depends on the input (jnp.tile of a weight):
                # neither does anything returned (it stays evaluable as a constant, like every
                # value computed from constants). Zero-size arrays (jnp.pad builds some) hold no
                # element to depend on anything. A rule that only computes tables gives
                # operands that depend on nothing and lie along no axis the same (BLANK_RULES).
                outs = [empty(tuple(v.aval.shape), self.d) for v in eqn.outvars]
            else:
                outs = fn(eqn, vals, ctx)
            for i, (var, out) in enumerate(zip(eqn.outvars, outs, strict=True)):
                env.vals[var] = out
                env.producers[var] = (eqn, i)
                for tag in out.tags:
                    if tag is None or id(tag) in self.tags:
                        continue  # a tag passed on unchanged (most are): its slope is in
                    self.tags[id(tag)] = tag  # (kept: its id is not reused while it is here)
                    if tag.mapped and tag.slope:
                        for s in tag.axes:
                            self.slopes[s].add(abs(tag.slope) * tag.period)
            del vals
            for atom in plan.dead[index]:
                env.vals.pop(atom, None)
        return [self._val(env, atom) for atom in jaxpr.outvars]

    def _context(self, env: _Env, eqn: Any, stack: tuple[str, ...], keep: bool = False) -> Context:
        def call(
            sub: tuple[Any, list[Any]],
            ins: list[Val],
            prefix: tuple[str, ...],
            linked: bool = True,
        ) -> list[Val]:
            # linked: the sub-jaxpr's inputs are the equation's last operands (their concrete
            # values are theirs); a loop body's are not (its carries change at every step).
            jaxpr, consts = sub
            atoms = list(eqn.invars[len(eqn.invars) - len(ins) :])
            outs = self.run(jaxpr, consts, ins, prefix, (env, atoms) if linked else None)
            return outs if keep else [materialise(v) for v in outs]

        def concrete(i: int) -> np.ndarray:
            try:
                return np.asarray(self._concrete(env, eqn.invars[i]))
            except _NotConcrete:
                path, typ = self.module(stack)
                where = f"{path} ({typ})" if path else f"the root module ({typ})"
                raise UnsupportedOperation(
                    f"error: receptive field: '{eqn.primitive.name}' in {where} uses indices "
                    "computed from the data; only indexing fixed at trace time is analysed"
                ) from None

        def mark(path: str, val: Val) -> None:
            if self.sizes is not None and (self.wanted is None or path in self.wanted):
                self.marks.setdefault(path, []).append(survey(val, self.sizes))

        return Context(
            d=self.d,
            module=lambda: self.module(stack),
            concrete=concrete,
            record_global=lambda kind: self.record(stack, kind),
            mark=mark,
            call=call,
            prefix=stack,
            widen=self._widen,
            pool=self.pooled.append,
        )

    def _widen(self, axes: frozenset[int], cells: float) -> None:
        for s in axes:
            self.reach[s] += cells

    def _val(self, env: _Env, atom: Any) -> Val:
        if isinstance(atom, Literal):
            return empty(np.shape(atom.val), self.d)
        return env.vals[atom]

    def _concrete(self, env: _Env, atom: Any) -> Any:
        """The value of an index computed from constants only (iota, literals, arithmetic)."""
        if isinstance(atom, Literal):
            return atom.val
        if atom in env.cache:
            return env.cache[atom]
        if atom in env.consts:
            value = env.consts[atom]
        elif atom in env.links:
            parent, outer = env.links[atom]
            value = self._concrete(parent, outer)
        elif atom in env.producers:
            eqn, i = env.producers[atom]
            args = [self._concrete(env, a) for a in eqn.invars]
            # NumPy where it is exact (no XLA compile), else the primitive itself.
            found = evaluate(eqn, args)
            if found is not None:
                value = found[i]
            else:
                outs = eqn.primitive.bind(*args, **eqn.params)
                value = outs[i] if eqn.primitive.multiple_results else outs
        else:
            raise _NotConcrete
        env.cache[atom] = value
        return value


# ----------------------------------------------------------------------------- measurement


@dataclass
class Analysis:
    output: Val
    globals: list[GlobalSource]
    periods: tuple[int, ...]
    marks: dict[str, list[Survey]]  # per module call (only where layers were asked for)
    sizes: tuple[int, ...]
    reach: list[float]  # per axis, the sum of every window's reach in input cells
    pooled: list[Val] = field(default_factory=list)  # operands of global poolings
    channels: int = 1


# Which module outputs an analysis surveys: none (False), every one (True), or those at the
# given module paths (the rows a report shows: `count` folds deeper ones away).
Layers = bool | Collection[str]


def analyse(model: Any, input_shape: tuple[int, ...], layers: Layers = False) -> Analysis:
    """Trace and interpret once, at exactly `input_shape`."""
    closed, calls = trace(model, input_shape)
    return _interpreted((closed, calls, input_shape), layers)


def _interpreted(traced: tuple[Any, list, tuple[int, ...]], layers: Layers) -> Analysis:
    """`interpret` called as its network-only callers always have (tests spy on it)."""
    closed, calls, shape = traced
    if layers is False:
        return interpret(*traced)
    return interpret(closed, calls, shape, layers=layers)


def interpret(
    closed: Any, calls: list, input_shape: tuple[int, ...], layers: Layers = False
) -> Analysis:
    """Interpret a traced model (`trace`) whose input has `input_shape`; `layers`: survey every
    module call's output too (per-layer fields), or the calls at the module paths it holds;
    False: only the network's output is kept."""
    d = len(input_shape) - 1
    wanted = None if isinstance(layers, bool) else frozenset(layers)
    sizes = tuple(input_shape[1:]) if layers is True or wanted is not None else None
    interp = Interpreter(d, calls, sizes, wanted)
    jaxpr = closed.jaxpr
    ins = [empty(tuple(v.aval.shape), d) for v in jaxpr.invars[:-1]]
    ins.append(input_val(input_shape, d))
    outs = interp.run(jaxpr, list(closed.consts), ins, ())
    if len(outs) != 1:
        raise UnsupportedOperation(
            f"error: receptive field: the model returns {len(outs)} arrays; "
            "archinspect analyses models with one output array"
        )
    periods = tuple(math.lcm(*(slope.numerator for slope in interp.slopes[s])) for s in range(d))
    return Analysis(
        outs[0],
        interp.globals,
        periods,
        interp.marks,
        tuple(input_shape[1:]),
        interp.reach,
        interp.pooled,
        input_shape[0],
    )


@dataclass
class Measured:
    per_axis: list[Pair | None]  # None: the axis cannot be related to the input's
    ranges: list[tuple[Pair, Pair] | None]
    grow: set[int]  # spatial axes along which too few cells are free of boundary effects
    escaped: list[bool]  # per axis: some cell is free of boundary effects
    # per axis, why its cells are not in input order (a flip, a permutation), if they are not
    reasons: list[str | None] = field(default_factory=list)
    # per axis: the value depends on nothing along it and no array axis runs along it (a
    # global pooling took the axis away)
    gone: list[bool] = field(default_factory=list)
    # axes whose layout was refused on an input where most cells are boundary cells
    unsettled: set[int] = field(default_factory=set)


def _axis_of(v: Val, s: int) -> tuple[int, Tag] | None:
    for a, tag in enumerate(v.tags):
        if tag is not None and tag.mapped and s in tag.axes:
            return a, tag
    return None


def _alignment(n: int, n_in: int, tag: Tag) -> Fraction | None:
    """Cells of an axis are identified with input cells by index when the sizes are in an
    integer ratio (same size: cell q is input cell q; a grid 4x coarser: cell q is input cell
    4q), as a user reads a same-padded, causal or strided network. Otherwise (a VALID conv
    shrank the axis) a cell sits at the centre of its window, as the tag's map says."""
    if tag.slope is None or tag.slope <= 0:
        return None
    if n_in % n == 0 or n % n_in == 0:
        return Fraction(n_in, n)
    return None


def _extents(
    lo: np.ndarray,
    hi: np.ndarray,
    sel: np.ndarray,
    a: int,
    n: int,
    slope: Fraction,
    offset: Fraction,
) -> tuple[Pair, tuple[Pair, Pair]]:
    """(max back, max fwd) and their ranges over the selected cells, exactly: cell q sits at
    slope * q + offset and depends on input cells lo..hi (whole numbers), so with D the common
    denominator every extent times D is a whole number, exact in float64."""
    den = math.lcm(slope.denominator, offset.denominator)
    shp = [1] * sel.ndim
    shp[a] = n
    at = (np.arange(n, dtype=np.float64) * float(slope * den) + float(offset * den)).reshape(shp)
    lo64, hi64 = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    back, fwd, sel = np.broadcast_arrays(at - den * lo64, den * hi64 - at, sel)

    def x(v: float) -> int | Fraction:
        # Every extent times D is whole; the four reported ones are checked (checking every
        # cell's was a fifth of the survey of a deep network's layer).
        assert v == round(v), "cells not whole"
        return exact(Fraction(int(v), den))

    # Reduced where selected (no copy of the selected cells: a deep network's are many).
    def top(a: np.ndarray) -> float:
        return float(np.max(a, where=sel, initial=-np.inf))

    def bottom(a: np.ndarray) -> float:
        return float(np.min(a, where=sel, initial=np.inf))

    b_max, f_max = x(top(back)), x(top(fwd))
    return (b_max, f_max), ((x(bottom(back)), b_max), (x(bottom(fwd)), f_max))


@dataclass
class _Cells:
    """A boolean table of measured cells, kept small for a survey that outlives its value:
    reduced to the array axes that carry a phase (all `_uncovered` reads), then stored as runs
    along its one varying axis (a stencil network's interior is one run) or as packed bits."""

    shape: tuple[int, ...]
    runs: np.ndarray | None  # (starts, stops) along the one varying axis; None: `bits`
    bits: np.ndarray | None = None

    @classmethod
    def of(cls, sel: np.ndarray, keep: set[int]) -> _Cells:
        drop = tuple(a for a in range(sel.ndim) if a not in keep and sel.shape[a] != 1)
        cells = np.any(sel, axis=drop, keepdims=True) if drop else np.asarray(sel)
        flat = cells.reshape(-1)
        if sum(n != 1 for n in cells.shape) > 1:
            return cls(cells.shape, None, np.packbits(flat))
        edges = np.diff(flat.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        return cls(cells.shape, np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)]))

    def uncovered(self, phases: dict[int, tuple[int, int]], shape: tuple[int, ...]) -> set[int]:
        """`_uncovered` of the table, read off the runs where there are runs (a table that
        varies along one axis meets every phase q there iff its cells' positions modulo q do)."""
        if self.runs is None or any(q <= 0 or shape[a] < q for a, q in phases.values()):
            return _uncovered(self.array(), phases, shape)
        if self.runs.shape[1] == 0:
            return set(phases)
        varying = {s: (a, q) for s, (a, q) in phases.items() if self.shape[a] != 1}
        if not varying:
            return set()
        if len({a for a, _ in varying.values()}) > 1 or len(varying) > 1:
            return _uncovered(self.array(), phases, shape)
        ((s, (_, q)),) = varying.items()
        starts, stops = self.runs
        if int(np.max(stops - starts)) >= q:
            return set()
        seen = np.concatenate([np.arange(b, e) % q for b, e in zip(starts, stops, strict=True)])
        return set() if len(np.unique(seen)) == q else {s}

    def array(self) -> np.ndarray:
        n = math.prod(self.shape)
        if self.runs is None:
            assert self.bits is not None
            return np.unpackbits(self.bits, count=n).astype(bool).reshape(self.shape)
        step = np.zeros(n + 1, np.int64)
        np.add.at(step, self.runs[0], 1)
        np.add.at(step, self.runs[1], -1)
        return (np.cumsum(step[:n]) > 0).reshape(self.shape)


@dataclass
class Survey:
    """What `measure` finds in a value before the network's period is known: everything but
    whether the measured cells cover every phase (`finish`). Module outputs are surveyed as the
    interpreter meets them, so that their tables are freed after their last use: the per-layer
    fields of a deep network cost the memory of its live values, not of every layer's."""

    measured: Measured  # its `grow` left empty
    shape: tuple[int, ...]
    slopes: dict[int, tuple[int, Fraction]]  # spatial axis -> (array axis, |slope|)
    selected: list[_Cells]


def measure(v: Val, sizes: tuple[int, ...], periods: tuple[int, ...]) -> Measured:
    """Extents of every element of v that no boundary rule touched, per input spatial axis.

    The result is exact when, for every axis, those elements cover every combination of phases
    (positions modulo the period) of the axes with a finite stencil; `grow` names the axes to
    enlarge otherwise. Tables are used as they broadcast, never expanded to every cell.
    """
    return finish(survey(v, sizes), periods)


def survey(v: Val, sizes: tuple[int, ...]) -> Survey:
    """`measure` up to the network's period (which only the whole forward pass knows)."""
    v = materialise(v)
    d = len(sizes)
    per_axis: list[Pair | None] = [None] * d
    ranges: list[tuple[Pair, Pair] | None] = [None] * d
    reasons: list[str | None] = [None] * d
    gone = [False] * d
    unsettled: set[int] = set()
    slopes: dict[int, tuple[int, Fraction]] = {}  # spatial axis -> (array axis, |slope|)
    selected: dict[int, np.ndarray] = {}
    for s in range(d):
        lo, hi = v.lo[s], v.hi[s]
        has = lo <= hi
        if np.any(v.dense[s] & has):
            n = sizes[s]
            per_axis[s], ranges[s] = (n, n), ((n, n), (n, n))
            continue
        if np.any(np.isinf(lo) & has) or np.any(np.isinf(hi) & has):
            inf = (math.inf, math.inf)
            per_axis[s], ranges[s] = inf, (inf, inf)
            continue
        found = _axis_of(v, s)
        if not np.any(has):
            per_axis[s], ranges[s] = (0, 0), ((0, 0), (0, 0))
            gone[s] = found is None
            continue
        if found is None:
            tag = next((t for t in v.tags if t is not None and s in t.axes and t.why), None)
            reasons[s] = tag.why if tag is not None else None
            if tag is not None and tag.settle:
                unsettled.add(s)
            continue
        a, tag = found
        slope = _alignment(v.shape[a], sizes[s], tag)
        offset = Fraction(0)
        if slope is None:
            assert tag.slope is not None and tag.offset is not None
            slope, offset = tag.slope, tag.offset
        if slope == 0:
            # Every cell of the axis sits at one input position (a value broadcast along it).
            continue
        slopes[s] = (a, abs(slope))
        shp = [1] * v.ndim
        shp[a] = v.shape[a]
        sel = ~v.taint[s] & has
        sel = np.broadcast_to(sel, np.broadcast_shapes(sel.shape, lo.shape, hi.shape, tuple(shp)))
        selected[s] = sel
        if slope < 0 and np.any(sel):
            # Output cell q must sit at input coordinate q * n_in / n_out (README, "Exact
            # receptive fields"); reversed cells have their dependency move with q instead.
            # (Where every cell is still a boundary cell, the input grows first.)
            reasons[s] = tag.why or "cells in reverse order"
            continue
        if np.any(sel):
            per_axis[s], ranges[s] = _extents(lo, hi, sel, a, v.shape[a], slope, offset)
    escaped = [bool(np.any(selected[s])) if s in selected else True for s in range(d)]
    keep = {a for a, _ in slopes.values()}
    return Survey(
        Measured(per_axis, ranges, set(), escaped, reasons, gone, unsettled),
        v.shape,
        slopes,
        [_Cells.of(sel, keep) for sel in selected.values()],
    )


def finish(found: Survey, periods: tuple[int, ...]) -> Measured:
    """A survey measured against the network's period: which axes must grow."""
    phases: dict[int, tuple[int, int]] = {}  # spatial axis -> (array axis, positions/period)
    for s, (a, slope) in found.slopes.items():
        positions = Fraction(periods[s]) / slope
        phases[s] = (a, positions.numerator if positions.denominator == 1 else 0)
    grow: set[int] = set()
    for cells in found.selected:
        grow |= cells.uncovered(phases, found.shape)
    m = found.measured
    return Measured(
        list(m.per_axis),
        list(m.ranges),
        grow,
        list(m.escaped),
        list(m.reasons),
        list(m.gone),
        set(m.unsettled),
    )


def measure_network(result: Analysis) -> Measured:
    """The output's extents; along an axis a global pooling took away (a classifier's
    mean over space, then a head), the stencil up to the pooling: the extents of the pooled
    cells themselves, the widest over every global pooling (README, "Receptive fields across
    grids"), measured on interior cells like any output's."""
    m = measure(result.output, result.sizes, result.periods)
    axes = [s for s, gone in enumerate(m.gone) if gone]
    if not axes or not result.pooled:
        return m
    found: dict[int, list[tuple[Pair, tuple[Pair, Pair]]]] = {s: [] for s in axes}
    for val in result.pooled:
        p = measure(val, result.sizes, result.periods)
        for s in axes:
            m.grow |= p.grow & {s}
            m.escaped[s] = m.escaped[s] and p.escaped[s]
            pair, rng = p.per_axis[s], p.ranges[s]
            if pair is not None and rng is not None:
                # (A pooled value whose cells are not laid out along the axis, a flattened
                # one, has no stencil to offer; the axis then keeps "nothing".)
                found[s].append((pair, rng))
    for s, got in found.items():
        if got:
            m.per_axis[s] = (max(p[0] for p, _ in got), max(p[1] for p, _ in got))
            m.ranges[s] = (
                (min(r[0][0] for _, r in got), max(r[0][1] for _, r in got)),
                (min(r[1][0] for _, r in got), max(r[1][1] for _, r in got)),
            )
    return m


def _uncovered(
    sel: np.ndarray, phases: dict[int, tuple[int, int]], shape: tuple[int, ...]
) -> set[int]:
    """Spatial axes to grow so that `sel` (a broadcastable table) meets every combination of
    phases. Along an axis where `sel` is uniform, a selected cell stands for every phase."""
    if any(q <= 0 or shape[a] < q for a, q in phases.values()):
        return {s for s, (a, q) in phases.items() if q <= 0 or shape[a] < q}
    if not np.any(sel):
        return set(phases)
    varying = {s: (a, q) for s, (a, q) in phases.items() if sel.shape[a] != 1}
    code = np.zeros(sel.shape, np.int64)
    mult = 1
    for a, q in varying.values():
        shp = [1] * sel.ndim
        shp[a] = sel.shape[a]
        code = code + (np.arange(sel.shape[a]) % q).reshape(shp) * mult
        mult *= q
    if len(np.unique(np.broadcast_to(code, sel.shape)[sel])) == mult:
        return set()
    short = set()
    for s, (a, q) in varying.items():
        along = np.any(sel, axis=tuple(i for i in range(sel.ndim) if i != a))
        if len(np.unique(np.nonzero(along)[0] % q)) < q:
            short.add(s)
    return short or set(varying)


# ----------------------------------------------------------------------------- the driver


def _next_sizes(result: Analysis, grow: set[int], escaped: list[bool]) -> list[int]:
    sizes = list(result.sizes)
    for s in grow:
        # Double; or, when no cell escaped the boundary yet, jump to the windows' total reach
        # along the axis (about where cells start to escape in a centred network).
        need = 2 * sizes[s]
        if not escaped[s]:
            need = max(need, math.ceil(result.reach[s]))
        while sizes[s] < need:
            sizes[s] *= 2
    return sizes


def _start(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    return (input_shape[0], *(min(n, START_AXIS) for n in input_shape[1:]))


def _whole_axis(result: Analysis) -> bool:
    """Some axis is reported as a number of cells of the analysed input (a dense layer or a
    cumulative operation over space): that number is the requested input's, not the start's."""
    return any(np.any(t) for v in (result.output, *result.pooled) for t in materialise(v).dense)


def table_bytes(input_shape: tuple[int, ...]) -> int:
    """The least a model that mixes every cell of its input costs the structural method: a lo
    and a hi table per spatial axis over every cell (float32)."""
    d = len(input_shape) - 1
    return 2 * d * math.prod(input_shape[1:]) * np.dtype(COORD).itemsize


def _grown(
    model: Any,
    input_shape: tuple[int, ...],
    max_memory: int = MEMORY_LIMIT,
    hint: Sequence[float] | None = None,
    input_checked: bool = False,
    layers: Layers = False,
) -> tuple[Analysis, Measured]:
    """Analyse from an input of at most START_AXIS cells per axis, growing it until the result
    is exact: the receptive field of the unbounded domain does not depend on the requested size,
    and neither does the cost. The requested size itself is analysed only where the model
    refuses the smaller input or reports a whole axis, after checking what it would cost
    against `max_memory` (bytes: the command's --max-memory). `input_checked`: the caller
    knows the model takes `input_shape` (a family's complete input rule passed), so it is not
    traced there only to find out."""
    start = _start(input_shape)
    if not input_checked and (start != input_shape or hint is not None):
        check_input(model, input_shape)
    if start != input_shape:
        cells = tuple(input_shape[1:])
        try:
            result, m = _grown_from(model, start, hint, layers)
        except UnsupportedOperation:
            raise
        except (ValueError, TypeError, ArchinspectError):
            # The model fixes its input size: the requested one is analysed.
            why = f"the model takes no input smaller than the requested {cells} cells"
        else:
            if not _whole_axis(result):
                return result, m
            why = f"the field spans whole axes, counted on the requested {cells} cells"
        need = table_bytes(input_shape)
        if need > max_memory:
            raise TablesTooLarge(
                f"error: receptive field: {why}, where the structural method would need at "
                f"least {need / 2**30:.1f} GiB ({need:,} bytes) of dependency tables, above "
                f"the memory limit of {max_memory:,} bytes (--max-memory); lower the input "
                "resolution (input.resolution, or the model's number of points) or raise "
                "--max-memory"
            )
    return _grown_from(model, input_shape, hint if start == input_shape else None, layers)


def _room(
    cells: tuple[int, ...], widest: Sequence[float], total: Sequence[float]
) -> list[int] | None:
    """The input the growth would reach from `cells` where a chain of windows `widest` cells
    wide spans the whole of some axis (no output cell can escape the boundary there): each
    axis doubled until it holds every window (`total`), and at least doubled, as in
    `_next_sizes`; None where the input leaves room, or the next one is past the limits."""
    if not any(w >= n for w, n in zip(widest, cells, strict=True)):
        return None
    sizes = list(cells)
    for s, n in enumerate(cells):
        need = max(2 * n, math.ceil(total[s]))
        while sizes[s] < need:
            sizes[s] *= 2
    if math.prod(sizes) > MAX_CELLS or max(sizes) > MAX_AXIS:
        return None  # the growth says why, as before
    return sizes


def _roomy(
    model: Any, input_shape: tuple[int, ...], hint: Sequence[float] | None = None
) -> tuple[Any, list, tuple[int, ...]]:
    """The model traced at input_shape or, where a chain of windows spans that whole input
    (interpreting it would be wasted), at the size the growth would reach from there: the
    chain read off the jaxpr (`reach`) or, before tracing, given as `hint` (per axis, the
    cells a field spans by a family's analytic composition: one trace fewer). Only where the
    analysis starts: `_grown_from` checks the result and grows further if it must."""
    channels, cells = input_shape[0], tuple(input_shape[1:])
    sizes = None if hint is None else _room(cells, hint, hint)
    traced = None
    if sizes is not None:
        try:
            traced = (*trace(model, (channels, *sizes)), (channels, *sizes))
        except (ValueError, TypeError):  # the model fixes its input size
            traced = None
    if traced is None and hint is None:
        # No composition to go by (a `target:`, a model handed to the Python API): the chain
        # is read off a plain trace first (`_probe`), so that a model whose chain spans the
        # requested input is traced with its calls recorded once, at the size it needs.
        found = _probe(model, input_shape)
        if found is not None:
            sizes = _room(cells, *found)
            shape = input_shape if sizes is None else (channels, *sizes)
            try:
                return (*trace(model, shape), shape)
            except (ValueError, TypeError):
                if sizes is None:
                    raise
    if traced is None:
        traced = (*trace(model, input_shape), input_shape)
    closed, calls, shape = traced
    found = reach(closed.jaxpr, shape)
    sizes = None if found is None else _room(tuple(shape[1:]), *found)
    if sizes is None:
        return closed, calls, shape
    try:
        bigger, more = trace(model, (channels, *sizes))
    except (ValueError, TypeError):
        return closed, calls, shape
    return bigger, more, (channels, *sizes)


def _probe(model: Any, input_shape: tuple[int, ...]) -> tuple[list[float], list[float]] | None:
    """`reach` of the model at `input_shape`, read off a trace without the recorder, each
    submodule call traced once per signature (`shared_calls`, as `count` traces it: after
    `count`, mostly served from its traces); the same windows in the same chains as the
    recorded trace, whose marks and scopes move no window. None where there is no hint (a
    loop) or the plain trace fails (the recorded one then says why)."""
    import equinox as eqx
    import jax

    from archinspect.analysis.params import is_array_like
    from archinspect.analysis.shared_calls import shared_calls

    dynamic, static = eqx.partition(model, is_array_like)

    def forward(dyn: Any, x: Any) -> Any:
        return eqx.combine(dyn, static)(x)

    try:
        with shared_calls(model):
            closed = jax.make_jaxpr(forward)(dynamic, _input(dynamic, input_shape))
    except Exception:  # the recorded trace raises what the model raises, as before
        return None
    return reach(closed.jaxpr, input_shape)


def _grown_from(
    model: Any,
    input_shape: tuple[int, ...],
    hint: Sequence[float] | None = None,
    layers: Layers = False,
) -> tuple[Analysis, Measured]:
    """Analyse at input_shape (or where `_roomy` starts), doubling the spatial size until the
    result is exact."""
    channels = input_shape[0]
    result = _interpreted(_roomy(model, input_shape, hint), layers)
    while True:
        m = measure_network(result)
        # A layout refused while most cells are boundary cells is looked at again on a larger
        # input (up to SETTLE cells): a periodic interior, if there is one, then shows.
        m.grow |= {s for s in m.unsettled if result.sizes[s] < SETTLE}
        if not m.grow:
            return result, m
        sizes = _next_sizes(result, m.grow, m.escaped)
        if math.prod(sizes) > MAX_CELLS or max(sizes) > MAX_AXIS:
            raise ArchinspectError(
                f"error: receptive field: at {result.sizes} cells no output cell is free of "
                "boundary effects (or the model refers to fixed positions, like x + x[:, :1]), "
                f"and the next input, {tuple(sizes)} cells, is past the structural method's "
                f"limit of {MAX_AXIS:,} cells per axis and {MAX_CELLS:,} in all; the stencil "
                "may be wider than that: try --method empirical, which measures wider stencils "
                "and says how much memory it would need"
            )
        try:
            result = analyse(model, (channels, *sizes), layers)
        except (ValueError, TypeError) as exc:
            raise ArchinspectError(
                f"error: receptive field: at {result.sizes} cells the boundary reaches every "
                f"output cell, and the model refuses a larger input ({exc})"
            ) from exc


def _layer_growth(result: Analysis) -> tuple[set[int], list[bool]]:
    """Axes to grow so that every marked module output is measured exactly, as the output is;
    per axis whether some cell of every layer escaped the boundary."""
    grow: set[int] = set()
    escaped = [True] * len(result.sizes)
    for surveys in result.marks.values():
        for found in surveys:
            m = finish(found, result.periods)
            grow |= m.grow
            escaped = [a and b for a, b in zip(escaped, m.escaped, strict=True)]
    return grow, escaped


def _grown_for_layers(model: Any, result: Analysis, layers: Layers = True) -> Analysis:
    """`result` (the output exact), grown further until every layer's field is exact too: a
    layer can need more room than the output (one before a global head or statistic, whose
    cells all touch the boundary), as far as the model accepts larger inputs and below
    MAX_LAYER_CELLS. A layer still not exact there is left blank (`_layer_fields`), never
    estimated."""
    while True:
        grow, escaped = _layer_growth(result)
        if not grow:
            return result
        sizes = _next_sizes(result, grow, escaped)
        if math.prod(sizes) > MAX_LAYER_CELLS or max(sizes) > MAX_AXIS:
            return result
        try:
            result = analyse(model, (result.channels, *sizes), layers)
        except (ValueError, TypeError):  # the model fixes its input size (a dense head)
            return result


def structural_receptive_field(
    model: Any,
    input_shape: tuple[int, ...],
    max_memory: int = MEMORY_LIMIT,
    hint: Sequence[float] | None = None,
    input_checked: bool = False,
) -> RFResult:
    result, m = _grown(model, input_shape, max_memory, hint, input_checked)
    return _network_field(input_shape, result, m)


def structural_fields(
    model: Any,
    input_shape: tuple[int, ...],
    max_memory: int = MEMORY_LIMIT,
    hint: Sequence[float] | None = None,
    input_checked: bool = False,
    paths: Collection[str] | None = None,
) -> tuple[RFResult, dict[str, tuple[Pair, ...]]]:
    """The network's RF and every layer's, from one analysis (reports that show both); with
    `paths`, only the layers at those module paths (the others are not surveyed, and cannot
    make the input grow)."""
    layers: Layers = True if paths is None else frozenset(paths)
    result, m = _grown(model, input_shape, max_memory, hint, input_checked, layers=layers)
    network = _network_field(input_shape, result, m)
    return network, _layer_fields(_grown_for_layers(model, result, layers))


def _network_field(input_shape: tuple[int, ...], result: Analysis, m: Measured) -> RFResult:
    if any(p is None for p in m.per_axis):
        axis = next(s for s, p in enumerate(m.per_axis) if p is None)
        if m.reasons[axis]:
            raise UnsupportedOperation(
                f"error: receptive field: along spatial axis {axis} the dependency of output "
                f"cell q moves with its position q ({m.reasons[axis]}): no stencil receptive "
                "field; archinspect reports one where output cell q sits at input position "
                "q * n_in / n_out"
            )
        raise UnsupportedOperation(
            f"error: receptive field: the output's spatial axis {axis} is not laid out along "
            "the input's (its cells cannot be matched to input cells)"
        )
    return RFResult(
        per_axis=tuple(m.per_axis),  # type: ignore[arg-type]
        position_range=tuple(m.ranges),  # type: ignore[arg-type]
        period=result.periods,
        global_=bool(result.globals),
        global_via=tuple(result.globals),
        method="structural",
        analysed_shape=(input_shape[0], *result.sizes),
    )


def structural_layer_fields(
    model: Any, input_shape: tuple[int, ...], max_memory: int = MEMORY_LIMIT
) -> dict[str, tuple[Pair, ...]]:
    result, _ = _grown(model, input_shape, max_memory, layers=True)
    return _layer_fields(_grown_for_layers(model, result))


def _layer_fields(result: Analysis) -> dict[str, tuple[Pair, ...]]:
    out: dict[str, tuple[Pair, ...]] = {}
    for path, surveys in result.marks.items():
        fields: list[Pair] | None = None
        for found in surveys:
            m = finish(found, result.periods)
            if any(p is None for p in m.per_axis) or m.grow:  # not exact: left blank
                fields = None
                break
            pairs = [p for p in m.per_axis if p is not None]
            fields = (
                pairs
                if fields is None
                else [
                    (max(a[0], b[0]), max(a[1], b[1])) for a, b in zip(fields, pairs, strict=True)
                ]
            )
        if fields is not None:
            out[path] = tuple(fields)
    return out
