"""Modules called under jax.vmap, jit, scan, while_loop and custom derivatives (README, "Exact
receptive fields"): the receptive field, the per-layer rows of `shapes`/`inspect` and every
layer's cumulative field. Each value is worked out by hand here and reproduced by the
perturbation oracle (tests/rf_oracle.py), which shares no code with archinspect."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import archinspect
from archinspect.analysis.receptive_field.rules import MARK
from archinspect.errors import UnsupportedOperation
from tests.rf_oracle import dependencies, oracle

KEY = jax.random.key(0)


def rows(report):
    return {r.path: r for r in report.layers}


def rf(model, shape):
    return archinspect.receptive_field(model, shape).result


# ----------------------------------------------------------------------------- the mark's rules


def mark(v):
    return MARK.bind(v, path="p")


def test_mark_batching_rule_is_the_identity_on_the_batched_value():
    x = jnp.arange(12.0).reshape(3, 4)
    assert np.array_equal(jax.vmap(mark)(x), x)
    assert np.array_equal(jax.vmap(mark, in_axes=1, out_axes=1)(x), x)
    # the mark wraps the whole batched value: one equation, of the batched shape (3, 4)
    eqns = jax.make_jaxpr(jax.vmap(mark))(x).jaxpr.eqns
    assert [(e.primitive, e.outvars[0].aval.shape) for e in eqns] == [(MARK, (3, 4))]


def test_mark_jvp_rule_passes_the_tangent():
    x, t = jnp.arange(4.0), jnp.full(4, 2.0)
    out, tangent = jax.jvp(mark, (x,), (t,))
    assert np.array_equal(out, x) and np.array_equal(tangent, t)


def test_mark_transpose_rule_passes_the_cotangent():
    # d/dx sum(3 * mark(x)) = 3 everywhere
    assert np.array_equal(jax.grad(lambda v: (3 * mark(v)).sum())(jnp.ones(4)), np.full(4, 3.0))


def test_mark_lowers_to_the_identity():
    x = jnp.arange(4.0)
    assert np.array_equal(jax.jit(mark)(x), x)


# ----------------------------------------------------------------------------- vmap(LayerNorm)


class ConvThenVmappedNorm(eqx.Module):
    """conv k3 over the sequence, then LayerNorm over the channels at every position."""

    conv: eqx.nn.Conv1d
    norm: eqx.nn.LayerNorm

    def __init__(self):
        self.conv = eqx.nn.Conv1d(4, 4, 3, padding=1, key=KEY)
        self.norm = eqx.nn.LayerNorm(4)

    def __call__(self, x):
        return jax.vmap(self.norm)(self.conv(x).T).T


def test_vmapped_layernorm_after_a_k3_conv_is_1_1():
    model = ConvThenVmappedNorm()
    # k3: one cell each side; a norm over the channels of one position reads that position only
    truth = ((3 - 1) // 2, (3 - 1) // 2)
    result = rf(model, (4, 16))
    assert result.per_axis == (truth,)
    assert not result.global_  # statistics over channels, not over space
    assert oracle(model, (4, 16))[0] == (truth,)


def test_vmapped_layernorm_rows_in_shapes_and_inspect():
    model = ConvThenVmappedNorm()
    shaped = rows(archinspect.shapes(model, (4, 16), depth=None))
    assert shaped["conv"].input_shapes == ((4, 16),) and shaped["conv"].rf == ((1, 1),)
    # under vmap the norm sees one position's channels, 16 times
    norm = shaped["norm"]
    assert (norm.input_shapes, norm.output_shapes, norm.calls) == (((4,),), ((4,),), 16)
    assert norm.rf == ((1, 1),)
    inspected = rows(archinspect.inspect(model, (4, 16), depth=None, memory=False))
    # XLA's count for one LayerNorm over 4 channels, lowered on its own
    lowered = jax.jit(lambda m, v: m(v)).lower(eqx.nn.LayerNorm(4), jnp.zeros(4))
    one = lowered.cost_analysis()["flops"]
    assert inspected["norm"].flops == 16 * int(one)
    assert inspected["norm"].calls == 16


# ----------------------------------------------------------------------------- attention


class Attention(eqx.Module):
    """eqx.nn.MultiheadAttention over the positions of a (channels, length) input."""

    att: eqx.nn.MultiheadAttention

    def __init__(self):
        self.att = eqx.nn.MultiheadAttention(2, 4, key=KEY)

    def __call__(self, x):
        s = x.T
        return self.att(s, s, s).T


def test_multihead_attention_couples_the_whole_sequence():
    # both methods: the empirical one linearises softmax and q k^T (README, the empirical method)
    result = archinspect.receptive_field(Attention(), (4, 16), method="both").result
    # every query reads every key: a dense layer over space, the number of points (README)
    assert result.per_axis == ((16, 16),)
    assert result.global_
    assert {(g.path, g.type) for g in result.global_via} == {("att", "MultiheadAttention")}
    dep, _ = dependencies(Attention(), (4, 16))
    assert dep.all()  # the oracle: every output element changes with every input element


class BandedAttention(eqx.Module):
    """Single-head attention restricted to |i - j| <= 2: each query scores the five keys around
    it (shifted copies of the zero-padded keys), softmax over those five, weighted values."""

    q: eqx.nn.Linear
    k: eqx.nn.Linear
    v: eqx.nn.Linear

    def __init__(self):
        kq, kk, kv = jax.random.split(KEY, 3)
        self.q = eqx.nn.Linear(4, 4, key=kq)
        self.k = eqx.nn.Linear(4, 4, key=kk)
        self.v = eqx.nn.Linear(4, 4, key=kv)

    def __call__(self, x):
        s = x.T  # (length, channels)
        n = s.shape[0]
        q, k, v = jax.vmap(self.q)(s), jax.vmap(self.k)(s), jax.vmap(self.v)(s)
        kp, vp = (jnp.pad(a, ((2, 2), (0, 0))) for a in (k, v))
        # (5, n, c): offset o's keys and values (concatenated, not jnp.stack: see the report)
        keys = jnp.concatenate([kp[None, 2 + o : 2 + o + n] for o in range(-2, 3)])
        values = jnp.concatenate([vp[None, 2 + o : 2 + o + n] for o in range(-2, 3)])
        w = jax.nn.softmax((keys * q).sum(-1), axis=0)  # (5, n): over the five offsets
        return (w[..., None] * values).sum(0).T


def test_banded_attention_gives_its_band():
    model = BandedAttention()
    truth = ((2, 2),)  # |i - j| <= 2: two keys back, two forward
    result = archinspect.receptive_field(model, (4, 16), method="both").result
    assert result.per_axis == truth and not result.global_
    # Finite perturbations only: with an infinite one, XLA's batched CPU matmul in the oracle's
    # jit(vmap) spreads NaN beyond the band (evaluated one input at a time, it stays in it);
    # this model is analytic (products, exp, sums), so finite perturbations see every path.
    assert oracle(model, (4, 32), infinite=False)[0] == truth
    # the projections, mapped over positions, read one position each
    shaped = rows(archinspect.shapes(model, (4, 16), depth=None))
    assert {p: (r.calls, r.input_shapes, r.rf) for p, r in shaped.items() if p} == {
        p: (16, ((4,),), ((0, 0),)) for p in ("q", "k", "v")
    }


# ----------------------------------------------------------------------------- jit, loops, custom


class Jitted(eqx.Module):
    """Submodules called through eqx.filter_jit and jax.jit inside the forward pass."""

    a: eqx.nn.Conv1d
    b: eqx.nn.Conv1d

    def __init__(self):
        ka, kb = jax.random.split(KEY)
        self.a = eqx.nn.Conv1d(2, 2, 3, padding=1, key=ka)
        self.b = eqx.nn.Conv1d(2, 2, 5, padding=2, key=kb)

    def __call__(self, x):
        x = eqx.filter_jit(self.a)(x)
        return jax.jit(lambda m, v: m(v))(self.b, x)


def test_jit_inside_the_forward_pass():
    model = Jitted()
    truth = ((1 + 2, 1 + 2),)  # k3 then k5
    assert rf(model, (2, 16)).per_axis == truth
    assert oracle(model, (2, 32))[0] == truth
    model(jnp.ones((2, 16)))  # the jit caches now hold traces made outside any recording
    for _ in range(2):  # and a recording never reuses them: the rows are there every time
        shaped = rows(archinspect.shapes(model, (2, 16), depth=None))
        assert {p: r.rf for p, r in shaped.items()} == {"": truth, "a": ((1, 1),), "b": truth}


@jax.custom_jvp
def _double(x):
    return 2 * x


_double.defjvp(lambda primals, tangents: (_double(*primals), tangents[0]))


class Looped(eqx.Module):
    """A k3 conv applied three times by a fori_loop (a scan), then twice by a while_loop whose
    trip count does not depend on the input, inside a custom_jvp."""

    conv: eqx.nn.Conv1d
    other: eqx.nn.Conv1d

    def __init__(self):
        ka, kb = jax.random.split(KEY)
        self.conv = eqx.nn.Conv1d(2, 2, 3, padding=1, key=ka)
        self.other = eqx.nn.Conv1d(2, 2, 3, padding=1, key=kb)

    def __call__(self, x):
        x = lax.fori_loop(0, 3, lambda i, c: jax.nn.tanh(self.conv(c)), x)
        x = lax.fori_loop(0, jnp.int32(2), lambda i, c: self.other(c), x)
        return _double(x)


def test_scan_while_and_custom_jvp_around_module_calls():
    model = Looped()
    truth = ((3 + 2, 3 + 2),)  # five k3 convs in a row
    assert rf(model, (2, 32)).per_axis == truth
    assert oracle(model, (2, 32))[0] == truth
    with pytest.raises(UnsupportedOperation, match="runs a lax.while_loop"):
        archinspect.receptive_field(model, (2, 32), method="empirical")
    shaped = rows(archinspect.shapes(model, (2, 32), depth=None))
    # a module called inside a loop body: the union of its steps (its last step reads most)
    assert shaped["conv"].rf == ((3, 3),) and shaped["other"].rf == truth


# ----------------------------------------------------------------------------- every layer's field


class DeepClassifier(eqx.Module):
    """Eight k3 convs, global average pooling, a linear head: the output reads no cell through
    a stencil, so the input grows for the deep layers' sake only."""

    convs: list
    head: eqx.nn.Linear

    def __init__(self, depth=8):
        keys = jax.random.split(KEY, depth + 1)
        self.convs = [eqx.nn.Conv1d(2, 2, 3, padding=1, key=k) for k in keys[:depth]]
        self.head = eqx.nn.Linear(2, 3, key=keys[-1])

    def features(self, x, upto):
        for conv in self.convs[:upto]:
            x = jax.nn.relu(conv(x))
        return x

    def __call__(self, x):
        return self.head(self.features(x, len(self.convs)).mean(axis=1))


def test_every_layer_of_a_deep_stack_has_its_field():
    model = DeepClassifier()
    # 16 cells: the 8th conv's cells all reach the boundary; its field is still measured
    shaped = rows(archinspect.shapes(model, (2, 16), depth=None))
    for k in range(8):
        truth = ((k + 1, k + 1),)  # k + 1 k3 convs: one cell each side per conv
        assert shaped[f"convs[{k}]"].rf == truth, k
    for k in (0, 3, 7):  # the oracle, on a shallow, a middle and the deepest layer
        truth = ((k + 1, k + 1),)
        assert oracle(lambda x, k=k: model.features(x, k + 1), (2, 40))[0] == truth, k


# ----------------------------------------------------------------------------- the empirical
# method's linearisation: one case per family of rewrites, checked by both methods and the oracle


def _both(fn, shape):
    from tests.rf_oracle import Probe

    return archinspect.receptive_field(Probe(fn, jnp.ones(())), shape, method="both").result


def _shift(x, k):
    """x moved k cells along the sequence (zero padded): cell i reads cell i - k."""
    n = x.shape[1]
    padded = jnp.pad(x, ((0, 0), (abs(k), abs(k))))
    return padded[:, abs(k) - k : abs(k) - k + n]


LINEARISED = [
    # a product of two input-dependent values: x[i - 1] * x[i + 2] reads (1, 2)
    ("product", lambda x: _shift(x, 1) * _shift(x, -2), ((1, 2),)),
    # a quotient and a difference: (x[i - 3] - x[i]) / (1 + x[i + 1]^2) reads (3, 1)
    ("quotient", lambda x: (_shift(x, 3) - x) / (1 + _shift(x, -1) ** 2), ((3, 1),)),
    # a max pool of 2 with stride 2, after x[i] + x[i + 1]: cell j (at 2j) reads 2j .. 2j + 2
    (
        "max pool",
        lambda x: lax.reduce_window(x + _shift(x, -1), -jnp.inf, lax.max, (1, 2), (1, 2), "VALID"),
        ((0, 2),),
    ),
    # exp, tanh and a max over channels of one cell, times the cell before: (1, 0)
    (
        "unary",
        lambda x: jnp.exp(jnp.tanh(x)).max(0, keepdims=True) * _shift(x, 1),
        ((1, 0),),
    ),
    # a cumulative max over channels, times the cell after: (0, 1)
    ("cumulative", lambda x: lax.cummax(x, axis=0) * _shift(x, -1), ((0, 1),)),
]


@pytest.mark.parametrize(("name", "fn", "truth"), LINEARISED, ids=[c[0] for c in LINEARISED])
def test_empirical_linearisation(name, fn, truth):
    assert _both(fn, (2, 32)).per_axis == truth
    assert oracle(fn, (2, 32), infinite=False)[0] == truth


def test_a_mask_at_the_largest_float_is_refused_by_the_empirical_method():
    from archinspect.errors import ArchinspectError

    class Masked(eqx.Module):
        att: eqx.nn.MultiheadAttention

        def __call__(self, x):
            i = jnp.arange(x.shape[1])
            s = x.T
            return self.att(s, s, s, mask=jnp.abs(i[:, None] - i[None, :]) <= 2).T

    model = Masked(eqx.nn.MultiheadAttention(2, 4, key=KEY))
    # eqx sets masked logits to the dtype's minimum: a masked key still enters each output
    # (0 times its value), so the structural method reports the whole axis ...
    assert rf(model, (4, 16)).per_axis == ((16, 16),)
    # ... and the empirical method, whose linearised softmax sums those minima, refuses
    with pytest.raises(ArchinspectError, match="positive copy's values overflow float64"):
        archinspect.receptive_field(model, (4, 16), method="empirical")
