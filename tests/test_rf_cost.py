"""What the structural receptive field costs (README, "The receptive field of deep models"), and
that the ways it is made cheaper change no number: per-layer fields only for the rows a report
shows, the body of a leaf module traced once per signature, and values that depend on nothing
passed over by the rules."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from archinspect.analysis.receptive_field import receptive_field, receptive_fields, structural
from archinspect.analysis.receptive_field.analytic import analytic_receptive_field
from archinspect.analysis.receptive_field.reach import reach
from archinspect.analysis.receptive_field.rules.tables import empty, inert
from archinspect.analysis.receptive_field.structural import interpret, trace
from archinspect.commands.count import count_report
from archinspect.spec.load import load_spec
from tests.rf_oracle import Probe
from tests.test_rf_deep import _convnet
from tests.test_rf_reach import _deep

# ----------------------------------------------------------------------------- shown rows


def test_layer_fields_restricted_to_shown_paths_equal_the_full_rows():
    depth = 3
    model = _convnet(depth)
    network, full = receptive_fields(model, (1, 64))
    # layers[i] is the (i + 1)-th 3-tap convolution: i + 1 cells either way; the network
    # (depth + 1 = 4 convolutions) 4.
    assert full == {
        "": ((4, 4),),
        "layers[0]": ((1, 1),),
        "layers[1]": ((2, 2),),
        "layers[2]": ((3, 3),),
        "layers[3]": ((4, 4),),
    }
    for shown in ({"", "layers"}, {"layers[1]"}, set(), {"layers[0]", "layers[3]", "nowhere"}):
        got_network, got = receptive_fields(model, (1, 64), paths=shown)
        assert got_network == network
        assert got == {p: f for p, f in full.items() if p in shown}, shown


class _Loop(eqx.Module):
    """A 3-tap convolution applied `steps` times in a loop (a loop gives the analysis no hint
    of how wide its field is: README, "The receptive field of deep models")."""

    w: jax.Array
    steps: int = eqx.field(static=True)

    def __call__(self, x):
        def step(i, y):
            return lax.conv_general_dilated(y[None], self.w, (1,), "SAME")[0]

        return lax.fori_loop(0, self.steps, step, x)


class _Side(eqx.Module):
    narrow: eqx.nn.Conv1d
    side: _Loop

    def __call__(self, x):
        return self.narrow(x) + jnp.mean(self.side(x))


def test_a_hidden_layer_does_not_make_the_input_grow(monkeypatch):
    """`side`'s field is wider than the network's (only its mean reaches the output): shown,
    the input grows until `side` is measured exactly; folded away, it does not."""
    model = _Side(
        eqx.nn.Conv1d(1, 1, 3, padding=1, key=jax.random.PRNGKey(0)),
        _Loop(jnp.ones((1, 1, 3)), 20),
    )
    sizes = []
    real = structural.interpret

    def spy(closed, calls, input_shape, layers=False):
        sizes.append(input_shape)
        return real(closed, calls, input_shape, layers=layers)

    monkeypatch.setattr(structural, "interpret", spy)
    network, full = receptive_fields(model, (1, 16))
    grown = list(sizes)
    sizes.clear()
    only_network, only = receptive_fields(model, (1, 16), paths={""})
    # narrow: 1 cell either way (the mean adds no stencil); side: 20 steps of 1 cell.
    assert full == {"": ((1, 1),), "narrow": ((1, 1),), "side": ((20, 20),)}
    assert only == {"": ((1, 1),)}
    assert network == only_network
    assert sizes == [(1, 16)]
    # 20 cells either way need more than 2 * 20 + 1 = 41 cells: 16 doubled twice.
    assert grown[-1] == (1, 64)


def test_count_passes_its_shown_rows_and_keeps_their_fields():
    spec = load_spec("configs/unet.yaml")
    deep = count_report(spec, depth=None, rf=True)
    folded = count_report(spec, depth=1, rf=True)
    fields = {r.path: r.rf for r in deep.rows}
    assert len(folded.rows) < len(deep.rows)
    for row in folded.rows:
        assert row.rf == fields[row.path], row.path
    assert folded.receptive_field == deep.receptive_field
    # The oracle: the family's analytic composition of its layers.
    assert folded.receptive_field.per_axis == analytic_receptive_field(spec).per_axis


# ----------------------------------------------------------------------------- without a hint


def test_without_a_hint_the_chain_is_read_off_a_plain_trace(monkeypatch):
    traced = []
    real = structural.trace

    def spy(model, input_shape, share=True):
        traced.append(tuple(input_shape))
        return real(model, input_shape, share)

    monkeypatch.setattr(structural, "trace", spy)
    # Ten 3-tap convolutions, 10 cells either way: a chain 20 cells wide that 8 cells cannot
    # hold; 8 doubled until it holds the windows' 20 cells: 32, the only recorded trace.
    got = receptive_field(Probe(_deep, jnp.ones(())), (1, 8))
    assert traced == [(1, 32)]
    assert (got.per_axis, got.analysed_shape) == (((10, 10),), (1, 32))
    # The plain trace's chain is the recorded trace's: 6 convolutions of 3 taps, 2 cells each.
    model = _convnet(5)
    closed, _ = real(model, (1, 8))
    assert structural._probe(model, (1, 8)) == reach(closed.jaxpr, (1, 8)) == ([12.0], [12.0])


# ----------------------------------------------------------------------------- shared leaves


def _calls_of(closed):
    return [e for e in closed.jaxpr.eqns if e.primitive.name in ("jit", "pjit")]


def _same(model, shape):
    """Traced with leaf bodies shared and as every call runs: the same calls, the same
    network and per-layer fields."""
    shared, calls = trace(model, shape)
    plain, plain_calls = trace(model, shape, share=False)
    assert [(c.path, c.type) for c in calls] == [(c.path, c.type) for c in plain_calls]
    a = interpret(shared, calls, shape, layers=True)
    b = interpret(plain, plain_calls, shape, layers=True)
    ma, mb = structural.measure_network(a), structural.measure_network(b)
    assert (ma.per_axis, ma.ranges, a.periods, a.globals) == (
        mb.per_axis,
        mb.ranges,
        b.periods,
        b.globals,
    )
    assert structural._layer_fields(a) == structural._layer_fields(b)
    return shared, a


def test_a_leaf_body_is_traced_once_per_signature():
    depth = 20
    shared, result = _same(_convnet(depth), (1, 64))
    bodies = {
        id(e.params["jaxpr"])
        for e in _calls_of(shared)
        if "layers[" in str(e.source_info.name_stack)
    }
    # 1 -> 2, then depth - 1 of 2 -> 2, then 2 -> 1 channels: three signatures.
    assert len(bodies) == 3
    assert structural._layer_fields(result)["layers[7]"] == ((8, 8),)


class _Apply(eqx.Module):
    """A leaf (no module below it) called with a module among its arguments."""

    w: jax.Array

    def __call__(self, x, other):
        return other(x) * self.w


class _Pair(eqx.Module):
    apply: _Apply
    conv: eqx.nn.Conv1d

    def __call__(self, x):
        # `conv` under vmap over channels, and `apply` handed `conv` to call: neither shares
        # its body, and both are recorded and marked as before.
        y = jax.vmap(lambda c: self.conv(c[None])[0])(x)
        return self.apply(y, self.conv)


@pytest.fixture
def tests_share(monkeypatch):
    """This file's leaf classes counted as pure (`shared_calls.PURE_CALLS`), as a library's
    are, so that their calls take the shared path the tests below exercise."""
    from archinspect.analysis import shared_calls

    monkeypatch.setattr(shared_calls, "PURE_CALLS", (*shared_calls.PURE_CALLS, "tests."))


@pytest.mark.usefixtures("tests_share")
def test_calls_that_cannot_share_run_as_they_are():
    model = _Pair(
        _Apply(jnp.ones(())), eqx.nn.Conv1d(1, 1, 5, padding=2, key=jax.random.PRNGKey(1))
    )
    _, result = _same(model, (1, 64))
    # A 5-tap conv reaches 2 cells either way; twice, 4; `conv`'s two calls united: 4.
    assert structural._layer_fields(result) == {
        "": ((4, 4),),
        "apply": ((4, 4),),
        "conv": ((4, 4),),
    }


class _Leaf(eqx.Module):
    """A leaf of the tree whose call reaches a module of the tree all the same, through a
    global: the next conv of `_GLOBAL`. Shared, the second leaf's call would replay the
    first's body (and its conv); the nested call is seen and the model traced as it is."""

    w: jax.Array

    def __call__(self, x):
        conv = _GLOBAL[_COUNT[0]]
        _COUNT[0] += 1
        return conv(x) * self.w


class _Outer(eqx.Module):
    inner_a: eqx.nn.Conv1d
    inner_b: eqx.nn.Conv1d
    leaf_a: _Leaf
    leaf_b: _Leaf

    def __call__(self, x):
        _COUNT[0] = 0
        return self.leaf_b(self.leaf_a(x))


_GLOBAL: list = []
_COUNT = [0]


@pytest.mark.usefixtures("tests_share")
def test_a_leaf_that_calls_a_module_is_traced_as_it_is():
    a = eqx.nn.Conv1d(1, 1, 3, padding=1, key=jax.random.PRNGKey(0))
    b = eqx.nn.Conv1d(1, 1, 5, padding=2, key=jax.random.PRNGKey(1))
    model = _Outer(a, b, _Leaf(jnp.ones(())), _Leaf(jnp.ones(())))
    _GLOBAL[:] = [a, b]
    try:
        _, result = _same(model, (1, 32))
    finally:
        _GLOBAL.clear()
    # The conv the leaf is handed is a copy (its arrays traced): the recorder knows it by its
    # signature (`Recording.rebuilt`), unique here. A 3-tap then a 5-tap conv: 1, then
    # 1 + 2 = 3 cells either way.
    assert structural._layer_fields(result) == {
        "": ((3, 3),),
        "inner_a": ((1, 1),),
        "leaf_a": ((1, 1),),
        "inner_b": ((3, 3),),
        "leaf_b": ((3, 3),),
    }


_SHIFT = {"by": 0}


class _Shift(eqx.Module):
    """A leaf that reads Python state at call time: it moves its input by `_SHIFT["by"]`
    cells (right for a positive shift, with zeros coming in)."""

    def __call__(self, x):
        s = _SHIFT["by"]
        zeros = jnp.zeros_like(x[..., : abs(s)])
        if s > 0:
            return jnp.concatenate([zeros, x[..., :-s]], -1)
        return jnp.concatenate([x[..., -s:], zeros], -1)


class _Shifts(eqx.Module):
    a: _Shift
    b: _Shift

    def __call__(self, x):
        _SHIFT["by"] = 2
        x = self.a(x)
        _SHIFT["by"] = -5
        return self.b(x)


def test_a_users_leaf_is_never_shared():
    """Both calls of `_Shift` have one signature, but the second moves by -5, not by 2: a
    user's class is not in PURE_CALLS, so each call runs its own Python. Output cell i reads
    input cell i - 2 after `a` (2 back, -2 forward), then i - 2 + 5 = i + 3 after `b` (-3
    back, 3 forward); one shared body would have given `b` (4, -4)."""
    from archinspect.analysis.shared_calls import leaf_modules

    model = _Shifts(_Shift(), _Shift())
    conv = eqx.nn.Conv1d(1, 1, 3, key=jax.random.PRNGKey(0))
    assert leaf_modules(model) == set()
    assert leaf_modules(eqx.nn.Sequential([conv, conv])) == {id(conv)}  # equinox's own
    result, layers = receptive_fields(model, (1, 32))
    assert layers == {"": ((-3, 3),), "a": ((2, -2),), "b": ((-3, 3),)}
    assert result.per_axis == ((-3, 3),)


# ----------------------------------------------------------------------------- blank values


def test_empty_tables_are_shared_and_read_only():
    a, b = empty((3, 4), 2), empty((5, 6), 2)
    assert a.lo is b.lo and inert(a)
    with pytest.raises(ValueError, match="read-only"):
        a.lo[0][0, 0] = 0.0


def test_rules_passed_over_for_blank_operands_give_the_same_result(monkeypatch):
    """A weight reshaped, broadcast, contracted and padded before it meets the input: the
    rules run on it or not, every figure is the same."""

    def fn(x):
        w = jnp.arange(6.0).reshape(2, 3)
        k = jnp.pad(w.T @ jnp.ones((2, 1)), ((1, 1), (0, 0)))[None, None, :, 0]  # (1, 1, 5)
        return lax.conv_general_dilated(x[None], k, (1,), "SAME")[0] + jnp.sum(w)

    shape = (1, 32)
    closed = jax.make_jaxpr(fn)(jax.ShapeDtypeStruct(shape, jnp.float32))
    with_shortcut = interpret(closed, [], shape)
    monkeypatch.setattr(structural, "BLANK_RULES", frozenset())
    without = interpret(closed, [], shape)
    for r in (with_shortcut, without):
        m = structural.measure_network(r)
        # A 5-tap window: 2 cells either way.
        assert m.per_axis == [(2, 2)]
    assert with_shortcut.periods == without.periods == (1,)
    assert with_shortcut.globals == without.globals == []
    assert with_shortcut.reach == without.reach == [4.0]
    assert np.array_equal(with_shortcut.output.lo[0], without.output.lo[0])
