"""Loops (`lax.scan`, `lax.while_loop`, `lax.fori_loop`): the body's rules, step by step.

A loop's result is its body applied as many times as the loop runs, so the rule interprets the
body that many times on the carried values' tables: exact, like straight-line code.

- `scan` runs `length` steps (static); step t reads slice t of each `xs` (from the end with
  `reverse`) and writes slice t of each `ys`. The stacked `ys` axis sits where the `xs` axis
  it was read from sits; a scan along a spatial axis that carries a value from cell to cell
  (a recurrence over space) reaches the edge of the input like a cumulative sum, and is
  reported the same way: the whole axis, and a global coupling, "recurrence over space".
- `while_loop` (and `fori_loop`, which lowers to `scan` with static bounds and to `while`
  otherwise) runs as many steps as its condition says. That number must not depend on the
  input: the condition may read only values fixed at trace time (a counter and its bounds),
  and the rule then counts the steps by running the loop on those values. A condition that
  reads the input, or a weight, is refused, naming the loop.

Carried values fixed at trace time (a fori_loop's counter) are handed to the body as constants
at each step, so indexing by them is exact. When the input-dependent part of the body reads
none of them and a step leaves every carried table as it was, every later step does too: the
loop has reached its fixed point and the rule stops there. Otherwise a loop of more than
`MAX_STEPS` steps is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from jax import lax
from jax.extend.core import ClosedJaxpr, Jaxpr, Literal, jaxpr_as_fun

from archinspect.analysis.receptive_field.rules.cumulative import dense_along
from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    out_shape,
    register,
    unsupported,
)
from archinspect.analysis.receptive_field.rules.tables import (
    KINDS,
    Tag,
    Val,
    build,
    empty,
    first_tag,
    inert,
)
from archinspect.errors import UnsupportedOperation

# Steps interpreted before a loop without a fixed point is refused.
MAX_STEPS = 10_000


# ----------------------------------------------------------------------------- jaxpr helpers


def reads(jaxpr: Jaxpr, outputs: Iterable[int]) -> set[int]:
    """Positions of the inputs of `jaxpr` that its outputs `outputs` read (equation by
    equation: an equation's outputs read all of its operands)."""
    needed = {v for i in outputs if not isinstance(v := jaxpr.outvars[i], Literal)}
    for eqn in reversed(jaxpr.eqns):
        if any(v in needed for v in eqn.outvars):
            needed.update(a for a in eqn.invars if not isinstance(a, Literal))
    return {i for i, v in enumerate(jaxpr.invars) if v in needed}


def evaluate(
    jaxpr: Jaxpr, consts: Sequence[Any], outputs: Sequence[int], args: Sequence[Any]
) -> list[Any]:
    """The values of outputs `outputs` of `jaxpr`, which must read no input whose arg is None."""
    needed = {v for i in outputs if not isinstance(v := jaxpr.outvars[i], Literal)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in needed for v in eqn.outvars):
            kept.append(eqn)
            needed.update(a for a in eqn.invars if not isinstance(a, Literal))
    sub = jaxpr.replace(eqns=kept[::-1], outvars=[jaxpr.outvars[i] for i in outputs])
    return [np.asarray(x) for x in jaxpr_as_fun(ClosedJaxpr(sub, list(consts)))(*args)]


def known(ctx: Context, ins: list[Val], i: int) -> Any | None:
    """The concrete value of the equation's i-th operand, or None if it is not fixed at trace
    time (a value that depends on the input never is: not even looked for)."""
    if not inert(ins[i]):
        return None
    try:
        return ctx.concrete(i)
    except UnsupportedOperation:
        return None


def same(a: Sequence[Val], b: Sequence[Val]) -> bool:
    return all(
        x.shape == y.shape
        and x.tags == y.tags
        and all(
            np.array_equal(p, q) for k in KINDS for p, q in zip(x.table(k), y.table(k), strict=True)
        )
        for x, y in zip(a, b, strict=True)
    )


# ----------------------------------------------------------------------------- the stepper


class Body:
    """A loop body (consts, carries, per-step inputs) -> (carries, per-step outputs), with the
    operands fixed at trace time and the carries that stay so (`fixed`)."""

    def __init__(
        self,
        closed: ClosedJaxpr,
        consts: list[Any | None],
        carries: list[Any | None],
        steps: list[Any | None],
    ):
        self.jaxpr: Jaxpr = closed.jaxpr
        self.consts = list(closed.consts)
        self.nc, self.nk = len(consts), len(carries)
        self.const_values = consts
        self.step_values = steps
        # Carries that stay fixed at trace time: fixed initially, and updated from fixed values.
        fixed = {j for j, value in enumerate(carries) if value is not None}
        while True:
            allowed = self._positions(fixed)
            keep = {j for j in fixed if reads(self.jaxpr, [j]) <= allowed}
            if keep == fixed:
                break
            fixed = keep
        self.fixed = sorted(fixed)
        self.values = {j: carries[j] for j in self.fixed}
        # The input-dependent outputs read no fixed carry and no per-step value: the step is
        # then the same function of the tables at every step.
        rest = [i for i in range(len(self.jaxpr.outvars)) if i not in fixed]
        varying = {self.nc + j for j in self.fixed} | {
            self.nc + self.nk + m for m, value in enumerate(steps) if value is not None
        }
        self.autonomous = not (reads(self.jaxpr, rest) & varying)

    def _positions(self, fixed: Iterable[int]) -> set[int]:
        return (
            {i for i, value in enumerate(self.const_values) if value is not None}
            | {self.nc + j for j in fixed}
            | {
                self.nc + self.nk + m
                for m, value in enumerate(self.step_values)
                if value is not None
            }
        )

    def args(self, t: int | None) -> list[Any | None]:
        steps = [None if v is None or t is None else v[t] for v in self.step_values]
        carries = [self.values.get(j) for j in range(self.nk)]
        return self.const_values + carries + steps

    def step(self, ctx: Context, ins: list[Val], t: int | None) -> list[Val]:
        """One step's output tables; the fixed operands are handed to the body as constants."""
        args = self.args(t)
        const = [v for v, a in zip(self.jaxpr.invars, args, strict=True) if a is not None]
        jaxpr = self.jaxpr.replace(
            constvars=list(self.jaxpr.constvars) + const,
            invars=[v for v, a in zip(self.jaxpr.invars, args, strict=True) if a is None],
        )
        values = self.consts + [a for a in args if a is not None]
        outs = ctx.call(
            (jaxpr, values),
            [v for v, a in zip(ins, args, strict=True) if a is None],
            ctx.prefix,
            linked=False,
        )
        if self.fixed:
            new = evaluate(self.jaxpr, self.consts, self.fixed, args)
            self.values = dict(zip(self.fixed, new, strict=True))
        return outs


def too_long(eqn: Any, ctx: Context, what: str) -> UnsupportedOperation:
    return unsupported(
        eqn,
        ctx,
        f"a '{eqn.primitive.name}' loop of {what} steps without a fixed point (archinspect "
        f"interprets at most {MAX_STEPS} steps)",
    )


# ----------------------------------------------------------------------------- scan


def slice_at(v: Val, i: int) -> Val:
    """Slice i of v along its first axis."""
    return build(
        v.shape[1:], v.tags[1:], v.d, lambda k, s: v.table(k)[s][min(i, v.table(k)[s].shape[0] - 1)]
    )


def uniform_along_first(v: Val) -> bool:
    return all(x.shape[0] == 1 for k in KINDS for x in v.table(k))


def stack(vals: list[Val], tag: Tag | None) -> Val:
    """The values of each step stacked along a new first axis."""
    first = vals[0]

    def table(kind: str, s: int) -> np.ndarray:
        arrays = [v.table(kind)[s] for v in vals]
        if all(x.shape == arrays[0].shape and np.array_equal(x, arrays[0]) for x in arrays[1:]):
            return arrays[0][None]
        target = np.broadcast_shapes(*(x.shape for x in arrays))
        return np.stack([np.broadcast_to(x, target) for x in arrays])

    tags = (tag,) + tuple(first_tag([v.tags[a] for v in vals]) for a in range(first.ndim))
    return build((len(vals), *first.shape), tags, first.d, table)


def _scan(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    p = eqn.params
    nc, nk, length = int(p["num_consts"]), int(p["num_carry"]), int(p["length"])
    consts, carry, xs = ins[:nc], list(ins[nc : nc + nk]), ins[nc + nk :]
    body = Body(
        p["jaxpr"],
        [known(ctx, ins, i) for i in range(nc)],
        [known(ctx, ins, nc + j) for j in range(nk)],
        [known(ctx, ins, nc + nk + m) for m in range(len(xs))],
    )
    repeats = body.autonomous and all(uniform_along_first(x) for x in xs)
    if length > MAX_STEPS and not repeats:
        raise too_long(eqn, ctx, str(length))
    ys: list[list[Val] | None] = [None] * length
    for t in range(length):
        i = length - 1 - t if p["reverse"] else t
        outs = body.step(ctx, consts + carry + [slice_at(x, i) for x in xs], i)
        ys[i] = outs[nk:]
        done = repeats and same(outs[:nk], carry)
        carry = outs[:nk]
        if done:
            # Every later step repeats this one (its inputs are those of this step).
            for t2 in range(t + 1, length):
                ys[length - 1 - t2 if p["reverse"] else t2] = outs[nk:]
            break
        if t + 1 >= MAX_STEPS and t + 1 < length:
            raise too_long(eqn, ctx, str(length))
    # ys[i] was written by the step that read xs[i]: it sits where xs[i] sits.
    tag = first_tag([x.tags[0] for x in xs if x.shape[0] == length])
    spatial = (
        set()
        if tag is None or tag.freq
        else {s for s in tag.axes if any(x.nonempty(s) for x in xs)}
    )
    stacked = [
        stack([step[m] for step in ys if step is not None], tag)
        if length
        else empty(out_shape(eqn, nk + m), ctx.d)
        for m in range(len(eqn.outvars) - nk)
    ]
    recurrent = {s for s in spatial if any(c.nonempty(s) for c in carry)}
    if recurrent:
        # Carried from cell to cell: like a cumulative sum over space, the whole axis.
        ctx.record_global("recurrence over space")
    return [dense_along(v, recurrent) for v in carry + stacked]


register(_scan, lax.scan_p)


# ----------------------------------------------------------------------------- while


def _while(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    p = eqn.params
    cn, bn = int(p["cond_nconsts"]), int(p["body_nconsts"])
    cond: ClosedJaxpr = p["cond_jaxpr"]
    carry = list(ins[cn + bn :])
    nk = len(carry)
    cond_consts = [known(ctx, ins, i) for i in range(cn)]
    body = Body(
        p["body_jaxpr"],
        [known(ctx, ins, cn + i) for i in range(bn)],
        [known(ctx, ins, cn + bn + j) for j in range(nk)],
        [],
    )
    fixed = {i for i, v in enumerate(cond_consts) if v is not None} | {cn + j for j in body.fixed}
    if not reads(cond.jaxpr, [0]) <= fixed:
        raise unsupported(
            eqn,
            ctx,
            "a 'while' loop whose number of steps is not fixed at trace time (its condition "
            "reads the input or a weight)",
        )
    steps = 0
    while True:
        carries = [body.values.get(j) for j in range(nk)]
        (go,) = evaluate(cond.jaxpr, cond.consts, [0], cond_consts + carries)
        if not bool(go):
            return carry
        if steps >= MAX_STEPS:
            raise too_long(eqn, ctx, f"more than {MAX_STEPS}")
        outs = body.step(ctx, ins[cn : cn + bn] + carry, None)
        steps += 1
        if body.autonomous and same(outs, carry):
            # Every later step repeats this one, however many there are.
            return outs
        carry = outs


register(_while, lax.while_p)
