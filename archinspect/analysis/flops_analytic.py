"""Analytic FLOPs: the conventional count, 2 x multiply-adds + bias adds, read off the jaxpr.

XLA's cost analysis skips the taps that fall on padding, so its figure for a zero-padded conv
is below the textbook one that torchinfo and fvcore users compare with. This count is that
textbook figure, derived from the traced forward pass rather than from module types, so it
holds for any Equinox module or Flax model:

- `conv_general_dilated`: every output element x kernel taps x in-channels per group, padding
  taps included; a transposed conv (input dilated by its stride) counts every output element
  of the dilated conv, as torchinfo does.
- `dot_general` (dense layers, einsum, attention products): every output element x the
  contracted size.
- a bias add: an `add` of a model array (broadcast or reshaped) to the result of one of those
  two: one FLOP per output element.

A multiply-add is 2 FLOPs (complex operands: 4 real multiply-adds, so 8; a complex add 2).
Nothing else is counted (activations, norms, pooling, FFTs, residual adds): conventions differ
for those, and a module with no contraction in it has no analytic figure rather than a guessed
one. Each equation is attributed to every recorded module whose named scope encloses it, so a
module's figure is the sum over its calls of everything below it, and the total (the root) can
never be below a part.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from archinspect.analysis.jaxprs import CALLS
from archinspect.analysis.params import is_array_like
from archinspect.analysis.recorder import ShapeTap, recording

# Operations that only move or re-type elements: a value passed through them keeps its kind
# (a model array, or a contraction's result) for the bias-add rule.
_LAYOUT = {
    "reshape",
    "broadcast_in_dim",
    "transpose",
    "squeeze",
    "expand_dims",
    "convert_element_type",
    "copy",
    "copy_p",
}


class Undefined(Exception):
    """The count cannot be stated exactly (a loop with an unknown trip count, branches that
    differ); the message says where."""


@dataclasses.dataclass(frozen=True)
class AnalyticFlops:
    """Per sample: the whole forward pass, and each recorded module's share (all its calls).
    A module path absent from `by_path` contains no contraction. `undefined` says why there is
    no figure at all (then `total` is None)."""

    total: int | None
    by_path: dict[str, int]
    undefined: str | None = None


def _is_complex(aval: Any) -> bool:
    return bool(jnp.issubdtype(aval.dtype, jnp.complexfloating))


def conv_macs(eqn: Any) -> int:
    """Output elements x (in-channels per group x kernel taps): the rhs's elements per output
    feature. Padding taps count; so do the zeros of an input dilation (a transposed conv)."""
    out = eqn.outvars[0].aval
    rhs = eqn.invars[1].aval
    rhs_out_dim = eqn.params["dimension_numbers"].rhs_spec[0]
    per_output = math.prod(rhs.shape) // rhs.shape[rhs_out_dim]
    return math.prod(out.shape) * per_output


def dot_macs(eqn: Any) -> int:
    """Output elements x the contracted size."""
    (lhs_contract, _), _ = eqn.params["dimension_numbers"]
    lhs = eqn.invars[0].aval
    return math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs.shape[d] for d in lhs_contract)


def _flops_of_macs(eqn: Any, macs: int) -> int:
    complex_ = any(_is_complex(v.aval) for v in eqn.invars)
    return 2 * macs * (4 if complex_ else 1)


_TRANSFORMED = re.compile(r"[a-z_]+\((.*)\)")


def _unwrap(component: str) -> str:
    """A scope as named under a transformation, `vmap(lin)`, is the scope `lin`."""
    while match := _TRANSFORMED.fullmatch(component):
        component = match.group(1)
    return component


class _Counter:
    def __init__(self, scopes: set[str]):
        self.scopes = scopes
        self.total = 0
        self.by_path: dict[str, int] = {}

    def add(self, stack: tuple[str, ...], flops: int) -> None:
        self.total += flops
        for path in {_unwrap(c) for c in stack} & self.scopes:
            self.by_path[path] = self.by_path.get(path, 0) + flops


def _count(
    jaxpr: Any, kinds_in: Sequence[str | None], prefix: tuple[str, ...], times: int, c: _Counter
) -> list[str | None]:
    """Counts `jaxpr`'s contractions (`times` executions) into `c`; returns its outputs' kinds
    ("param": a model array, "contraction": a conv or dot result, or None)."""
    from jax.extend.core import Literal

    kinds: dict[Any, str | None] = dict(zip(jaxpr.invars, kinds_in, strict=True))

    def kind(atom: Any) -> str | None:
        return None if isinstance(atom, Literal) else kinds.get(atom)

    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        stack = prefix + tuple(p for p in str(eqn.source_info.name_stack).split("/") if p)
        out_kind: str | None = None
        if name == "conv_general_dilated":
            c.add(stack, times * _flops_of_macs(eqn, conv_macs(eqn)))
            out_kind = "contraction"
        elif name == "dot_general":
            c.add(stack, times * _flops_of_macs(eqn, dot_macs(eqn)))
            out_kind = "contraction"
        elif name in ("add", "add_any"):
            if sorted(str(kind(a)) for a in eqn.invars) == ["contraction", "param"]:
                out = eqn.outvars[0].aval
                c.add(stack, times * math.prod(out.shape) * (2 if _is_complex(out) else 1))
        elif name in _LAYOUT and len(eqn.invars) >= 1:
            out_kind = kind(eqn.invars[0])
        else:
            out_kinds = _higher_order(eqn, [kind(a) for a in eqn.invars], stack, times, c)
            if out_kinds is not None:
                kinds.update(zip(eqn.outvars, out_kinds, strict=True))
                continue
        for var in eqn.outvars:
            kinds[var] = out_kind
    return [kind(a) for a in jaxpr.outvars]


def _sub_total(
    jaxpr: Any, kinds: Sequence[str | None], prefix: tuple[str, ...], scopes: set[str]
) -> _Counter:
    sub = _Counter(scopes)
    _count(jaxpr, kinds, prefix, 1, sub)
    return sub


def _higher_order(
    eqn: Any, kinds: list[str | None], stack: tuple[str, ...], times: int, c: _Counter
) -> list[str | None] | None:
    """Counts inside an equation that holds jaxprs; None when it holds none."""
    from archinspect.analysis.jaxprs import sub_jaxprs

    subs = sub_jaxprs(eqn)
    if not subs:
        return None
    name = eqn.primitive.name
    if name in CALLS and len(subs) == 1:
        body = subs[0][0]
        ins = kinds if len(body.invars) == len(kinds) else [None] * len(body.invars)
        outs = _count(body, ins, stack, times, c)
        return outs if len(outs) == len(eqn.outvars) else [None] * len(eqn.outvars)
    if name == "scan":
        body = subs[0][0]
        # the constants and the scanned-over inputs (model arrays among them: stacked weights,
        # one slice per step) keep their kind; the carry changes per step
        n = int(eqn.params["num_consts"])
        carry = int(eqn.params["num_carry"])
        ins = kinds[:n] + [None] * carry + kinds[n + carry :]
        if len(ins) != len(body.invars):
            ins = kinds[:n] + [None] * (len(body.invars) - n)
        _count(body, ins, stack, times * int(eqn.params["length"]), c)
        return [None] * len(eqn.outvars)
    # a cond's branches take its operands (after the branch index): their kinds carry over
    operands = kinds[1:] if name == "cond" else []
    counters = [
        _sub_total(
            body,
            operands if len(operands) == len(body.invars) else [None] * len(body.invars),
            stack,
            c.scopes,
        )
        for body, _ in subs
    ]
    if all(sub.total == 0 for sub in counters):
        return [None] * len(eqn.outvars)
    if name == "cond" and all(
        (s.total, s.by_path) == (counters[0].total, counters[0].by_path) for s in counters
    ):
        for path, flops in counters[0].by_path.items():
            c.by_path[path] = c.by_path.get(path, 0) + times * flops
        c.total += times * counters[0].total
        return [None] * len(eqn.outvars)
    where = "/".join(stack) or "the forward pass"
    why = {
        "cond": "branches with different counts",
        "while": "a loop whose trip count is not known",
    }.get(name, f"'{name}' holds several programs")
    raise Undefined(f"{where}: {why} contain convolutions or dense products")


@dataclasses.dataclass(frozen=True)
class Traced:
    """One sample's forward pass as a closed jaxpr (inputs: the model's arrays, then x), with
    the recorded modules' scope names; None with `error` when it could not be traced."""

    program: Any
    arguments: tuple[Any, ...]  # the jaxpr's inputs, as ShapeDtypeStructs
    num_params: int
    scopes: frozenset[str]
    error: str | None = None


def trace_forward(model: Any, input_shape: tuple[int, ...], dtype: str) -> Traced:
    """`model(x)` traced abstractly with every module's call in its named scope (nothing is
    allocated or compiled)."""
    flat, treedef = jax.tree_util.tree_flatten(model, is_leaf=is_array_like)
    where = [i for i, x in enumerate(flat) if is_array_like(x)]
    calls: list = []

    def forward(*args: Any) -> Any:
        leaves = list(flat)
        for i, a in zip(where, args[:-1], strict=True):
            leaves[i] = a
        m = jax.tree_util.tree_unflatten(treedef, leaves)
        with recording(m, [ShapeTap(calls)]):
            return m(args[-1])

    avals = [jax.ShapeDtypeStruct(flat[i].shape, flat[i].dtype) for i in where]
    arguments = (*avals, jax.ShapeDtypeStruct(input_shape, np.dtype(dtype)))
    try:
        closed = jax.make_jaxpr(forward)(*arguments)
    except Exception as e:  # e.g. an output that is not an array: said, never guessed around
        first = (str(e).strip().splitlines() or [""])[0]
        why = f"the forward pass could not be traced to a jaxpr: {first}"
        return Traced(None, arguments, len(where), frozenset(), why)
    # The recorder names a module's scope by its path (the root: by its type).
    scopes = frozenset(call.path for call in calls if call.path)
    return Traced(closed, arguments, len(where), scopes)


def analytic_flops(traced: Traced) -> AnalyticFlops:
    """The count for one sample of a traced forward pass."""
    if traced.program is None:
        return AnalyticFlops(None, {}, traced.error)
    counter = _Counter(set(traced.scopes))
    jaxpr = traced.program.jaxpr
    kinds: list[str | None] = ["param"] * traced.num_params
    kinds += [None] * (len(jaxpr.invars) - len(kinds))
    try:
        _count(jaxpr, kinds, (), 1, counter)
    except Undefined as e:
        return AnalyticFlops(None, {}, str(e))
    by_path = dict(counter.by_path)
    by_path[""] = counter.total
    return AnalyticFlops(counter.total, by_path)
