"""Receptive fields worked out by hand, for single layers and small compositions.

Conventions (README "Exact receptive fields"): per spatial axis (backward, forward) in input
cells, the maximum over output positions; `position_range` gives ((min, max) backward, (min,
max) forward) over one period of positions. A same-padded conv of kernel k and dilation r pads
(k_eff - 1) // 2 cells before and the rest after, k_eff = (k - 1) * r + 1 (JAX's split), so
output cell q reads input cells q - before .. q + after: (before, after). Stacking adds; a
residual or concatenated skip takes the hull of its branches. Every model is checked by the
structural method and, where the output grid is the input grid, by the empirical one as well.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from archinspect.analysis.receptive_field import layer_receptive_fields, receptive_field
from archinspect.errors import ArchinspectError, UnsupportedOperation
from archinspect.layers.conv import Conv, UpConv

KEY = jax.random.PRNGKey(0)


def conv(k, **kw):
    return Conv(1, 1, 1, k, key=KEY, **kw)


class Stack(eqx.Module):
    layers: list

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Residual(eqx.Module):
    body: eqx.Module

    def __call__(self, x):
        return x + self.body(x)


class ConcatSkip(eqx.Module):
    branch: Conv
    mix: Conv  # 1x1 over [x, branch(x)]

    def __call__(self, x):
        return self.mix(jnp.concatenate([x, self.branch(x)], axis=0))


class LaxConv(eqx.Module):
    """A 1-D conv straight through jax.lax with explicit (low, high) padding."""

    weight: jax.Array
    padding: tuple[int, int] = eqx.field(static=True)
    dilation: int = eqx.field(static=True)

    def __call__(self, x):
        return jax.lax.conv_general_dilated(
            x[None], self.weight, (1,), [self.padding], rhs_dilation=(self.dilation,)
        )[0]


class PadThenValid(eqx.Module):
    """Causal conv the common way: zero-pad k-1 cells on the left, then a VALID conv."""

    weight: jax.Array

    def __call__(self, x):
        k = self.weight.shape[-1]
        x = jnp.pad(x, ((0, 0), (k - 1, 0)))
        return jax.lax.conv_general_dilated(x[None], self.weight, (1,), "VALID")[0]


class Rolled(eqx.Module):
    """x + roll(x, shift): a periodic shift is a two-cell stencil."""

    scale: jax.Array
    shift: int = eqx.field(static=True)

    def __call__(self, x):
        return self.scale * (x + jnp.roll(x, self.shift, axis=1))


def both(model, shape):
    """The structural result, after checking that the empirical method agrees with it."""
    structural = receptive_field(model, shape)
    empirical = receptive_field(model, shape, method="empirical")
    assert (empirical.per_axis, empirical.position_range) == (
        structural.per_axis,
        structural.position_range,
    )
    return structural


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, (0, 0)),  # k_eff - 1 = 0: pointwise
        (2, (0, 1)),  # total 1: 0 before, 1 after (JAX puts the extra cell after)
        (3, (1, 1)),  # total 2: 1 + 1
        (4, (1, 2)),  # total 3: 3 // 2 = 1 before, 2 after
        (5, (2, 2)),  # total 4: 2 + 2
        (6, (2, 3)),  # total 5: 2 before, 3 after
    ],
)
def test_single_conv_odd_and_even_kernels(k, expected):
    r = both(conv(k), (1, 32))
    assert r.per_axis == (expected,)
    assert r.position_range == ((expected[:1] * 2, expected[1:] * 2),)
    assert r.period == (1,)
    assert not r.global_


@pytest.mark.parametrize(
    ("k", "dilation", "expected"),
    [
        (3, 4, (4, 4)),  # k_eff = 2*4 + 1 = 9, total 8: 4 + 4
        (2, 3, (1, 2)),  # k_eff = 1*3 + 1 = 4, total 3: 1 before, 2 after
        (4, 2, (3, 3)),  # k_eff = 3*2 + 1 = 7, total 6: 3 + 3 (taps at -3, -1, +1, +3)
        (5, 3, (6, 6)),  # k_eff = 4*3 + 1 = 13, total 12: 6 + 6
    ],
)
def test_dilation_multiplies_the_extent(k, dilation, expected):
    assert both(conv(k, dilation=dilation), (1, 64)).per_axis == (expected,)


def test_stack_adds_and_layers_accumulate():
    model = Stack([conv(3), conv(5), conv(2)])
    # (1, 1) + (2, 2) + (0, 1) = (3, 4)
    assert both(model, (1, 32)).per_axis == ((3, 4),)
    layers = layer_receptive_fields(model, (1, 32))
    assert layers["layers[0]"] == ((1, 1),)  # the first conv alone
    assert layers["layers[1]"] == ((3, 3),)  # (1, 1) + (2, 2)
    assert layers["layers[2]"] == ((3, 4),)  # + (0, 1)
    assert layers[""] == ((3, 4),)  # the whole model


@pytest.mark.parametrize("mode", ["periodic", "dirichlet", "neumann"])
def test_boundary_mode_does_not_change_the_stencil(mode):
    # Two even kernels, the case where a mirrored boundary would add a cell that is not in the
    # stencil if boundary cells were measured: (1, 2) + (1, 2) = (2, 4) in every mode.
    model = Stack([conv(4, boundary_mode=mode), conv(4, boundary_mode=mode)])
    r = both(model, (1, 16))
    assert r.per_axis == ((2, 4),)
    assert r.position_range == (((2, 2), (4, 4)),)


def test_down_then_up_sampling_depends_on_parity():
    # Stride-2 3-conv: coarse cell j reads fine cells 2j-1 .. 2j+1.
    # Up-sampling (zero insertion + 3-conv): fine cell p reads coarse cells floor(p/2) ..
    # ceil(p/2). Even p = 2j: coarse j only -> fine 2j-1 .. 2j+1: (1, 1).
    # Odd p = 2j+1: coarse j, j+1 -> fine 2j-1 .. 2j+3 = p-2 .. p+2: (2, 2).
    model = Stack([conv(3, stride=2), UpConv(1, 1, 1, 3, key=KEY)])
    r = both(model, (1, 32))
    assert r.per_axis == ((2, 2),)
    assert r.position_range == (((1, 2), (1, 2)),)
    assert r.period == (2,)


def test_strided_conv_alone_is_measured_on_its_coarse_grid():
    # Coarse cell j sits at input cell 2j and reads 2j-1 .. 2j+1.
    r = receptive_field(conv(3, stride=2), (1, 32))
    assert r.per_axis == ((1, 1),)
    assert r.period == (2,)
    # The empirical method places coarse cell j at input cell 2j as well.
    e = receptive_field(conv(3, stride=2), (1, 32), method="empirical")
    assert (e.per_axis, e.position_range, e.period) == (r.per_axis, r.position_range, r.period)


def test_up_sampling_alone_has_half_cell_extents():
    # Fine cell p sits at input coordinate p/2. Even p: input p/2 only, (0, 0). Odd p: inputs
    # (p-1)/2 and (p+1)/2, half a cell either side: (0.5, 0.5).
    r = both(UpConv(1, 1, 1, 3, key=KEY), (1, 16))
    assert r.per_axis == ((0.5, 0.5),)
    assert r.position_range == (((0, 0.5), (0, 0.5)),)


def test_residual_takes_the_hull_of_its_branches():
    # The identity branch (0, 0) lies inside the conv branch.
    assert both(Residual(Stack([conv(3), conv(3)])), (1, 32)).per_axis == ((2, 2),)
    assert both(Residual(conv(4)), (1, 32)).per_axis == ((1, 2),)


def test_concatenated_skip_takes_the_hull():
    model = ConcatSkip(conv(5), Conv(1, 2, 1, 1, key=KEY))
    assert both(model, (1, 32)).per_axis == ((2, 2),)  # hull of (0, 0) and (2, 2)


def test_causal_padding_through_jax_lax():
    # padding ((k_eff - 1, 0)): output q reads q - (k_eff - 1) .. q. k=3, r=2: k_eff = 5 -> (4, 0)
    model = LaxConv(jnp.ones((1, 1, 3)), (4, 0), 2)
    r = both(model, (1, 32))
    assert r.per_axis == ((4, 0),)
    # The same with jnp.pad + VALID: k = 4 -> (3, 0)
    assert both(PadThenValid(jnp.ones((1, 1, 4))), (1, 32)).per_axis == ((3, 0),)


@pytest.mark.parametrize(("k", "expected"), [(5, (2, 2)), (4, (1, 2))])
def test_valid_conv_is_centred_like_same(k, expected):
    # VALID: output j reads inputs j .. j+k-1 and sits at its centre j + (k-1)//2.
    model = LaxConv(jnp.ones((1, 1, k)), (0, 0), 1)
    assert receptive_field(model, (1, 32)).per_axis == (expected,)


@pytest.mark.parametrize(("shift", "expected"), [(1, (1, 0)), (-2, (0, 2))])
def test_roll_is_a_periodic_shift_stencil(shift, expected):
    # roll(x, s)[p] = x[p - s]: the output reads p and p - s.
    assert both(Rolled(jnp.ones(()), shift), (1, 32)).per_axis == (expected,)


def test_two_dimensional_kernels_per_axis():
    model = Conv(2, 1, 1, (3, 5), key=KEY)  # (1, 1) on axis 0, (2, 2) on axis 1
    assert both(model, (1, 16, 16)).per_axis == ((1, 1), (2, 2))
    model = Conv(2, 1, 1, (2, 4), dilation=(1, 2), key=KEY)
    # axis 0: k=2 -> (0, 1); axis 1: k=4, r=2, k_eff = 7 -> (3, 3)
    assert both(model, (1, 16, 16)).per_axis == ((0, 1), (3, 3))


class Cumulative(eqx.Module):
    conv: Conv

    def __call__(self, x):
        return jax.lax.cumsum(self.conv(x), axis=1)


class Sorted(eqx.Module):
    conv: Conv

    def __call__(self, x):
        return jnp.sort(self.conv(x), axis=1)


class CustomReduce(eqx.Module):
    """A reduction with a computation of its own (lax.reduce): no rule."""

    conv: Conv

    def __call__(self, x):
        return jax.lax.reduce(self.conv(x), 0.0, lambda a, b: a + 2 * b, (0,))[None]


class DataIndexed(eqx.Module):
    conv: Conv

    def __call__(self, x):
        y = self.conv(x)
        return y + y[:, jnp.argmax(y[0])][:, None]


class AbsoluteReference(eqx.Module):
    conv: Conv

    def __call__(self, x):
        return self.conv(x) + x[:, :1]


class TakeWrapped(eqx.Module):
    """Periodic padding by jnp.take with wrapped indices, then a VALID 3-conv: (1, 1)."""

    weight: jax.Array

    def __call__(self, x):
        n = x.shape[1]
        y = jnp.take(x, jnp.arange(-1, n + 1) % n, axis=1)
        return jax.lax.conv_general_dilated(y[None], self.weight, (1,), "VALID")[0]


def test_unknown_primitive_is_an_error_that_names_it():
    with pytest.raises(
        UnsupportedOperation,
        match=r"no exact dependency rule for primitive 'reduce', used in the root module "
        r"\(CustomReduce\); archinspect does not guess",
    ):
        receptive_field(CustomReduce(conv(3)), (1, 32))


@pytest.mark.parametrize(
    ("module", "kind"),
    [(Cumulative, "cumulative over space"), (Sorted, "sort over space")],
    ids=["cumsum", "sort"],
)
def test_cumulative_sums_and_sorts_over_space_are_the_whole_axis(module, kind):
    # README, "Exact receptive fields": like a dense layer over space, the number of points.
    got = receptive_field(module(conv(3)), (1, 32))
    assert got.per_axis == ((32, 32),)
    assert [g.kind for g in got.global_via] == [kind]


def test_indices_computed_from_the_data_are_refused():
    with pytest.raises(UnsupportedOperation, match="uses indices computed from the data"):
        receptive_field(DataIndexed(conv(3)), (1, 32))


def test_a_fixed_position_reference_is_not_a_stencil():
    # Every output cell depends on input cell 0: no cell is ever free of that, at any size.
    with pytest.raises(ArchinspectError, match="refers to fixed positions"):
        receptive_field(AbsoluteReference(conv(3)), (1, 32))


def test_gathered_periodic_padding_is_recognised():
    assert receptive_field(TakeWrapped(jnp.ones((1, 1, 3))), (1, 32)).per_axis == ((1, 1),)


def test_both_raises_when_the_methods_disagree(monkeypatch):
    import dataclasses

    from archinspect.analysis.receptive_field import empirical as rf_empirical
    from archinspect.errors import MethodsDisagree

    real = rf_empirical.empirical_receptive_field

    def off_by_one(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), per_axis=((2, 1),))

    monkeypatch.setattr(rf_empirical, "empirical_receptive_field", off_by_one)
    with pytest.raises(MethodsDisagree, match=r"axis 0: structural \(1, 1\), empirical \(2, 1\)"):
        receptive_field(conv(3), (1, 16), method="both")


class PoolThenUp(eqx.Module):
    """Equinox's own layers: 3-conv, average pool 2/2, transposed 3-conv with stride 2."""

    conv: eqx.nn.Conv1d
    up: eqx.nn.ConvTranspose1d

    def __call__(self, x):
        return self.up(eqx.nn.AvgPool1d(2, 2)(self.conv(x)))


class MaxPooled(eqx.Module):
    conv: eqx.nn.Conv1d

    def __call__(self, x):
        return eqx.nn.MaxPool1d(3, 1, padding=1)(self.conv(x))


def test_pooling_and_equinox_transposed_conv():
    # conv: h[i] reads x[i-1 .. i+1]. Average pool 2/2: coarse j reads h[2j], h[2j+1], so
    # x[2j-1 .. 2j+2]. ConvTranspose (k=3, s=2, p=1, output_padding=1) is a conv over the
    # 2-dilated coarse grid padded (1, 2): fine p reads dilated p-1 .. p+1, i.e. coarse p/2 for
    # even p -> x[p-1 .. p+2]: (1, 2); coarse (p-1)/2 and (p+1)/2 for odd p -> x[p-2 .. p+3]:
    # (2, 3).
    key = jax.random.PRNGKey(0)
    model = PoolThenUp(
        eqx.nn.Conv1d(1, 1, 3, padding=1, key=key),
        eqx.nn.ConvTranspose1d(1, 1, 3, stride=2, padding=1, output_padding=1, key=key),
    )
    r = both(model, (1, 32))
    assert r.per_axis == ((2, 3),)
    assert r.position_range == (((1, 2), (2, 3)),)
    assert r.period == (2,)


def test_max_pool_is_a_stencil_but_not_linear():
    model = MaxPooled(eqx.nn.Conv1d(1, 1, 3, padding=1, key=KEY))
    assert receptive_field(model, (1, 32)).per_axis == ((2, 2),)  # (1, 1) + (1, 1)
    # Its gradient flows to the maximum only: the empirical method's copy reads a max pool as
    # the sum over the same window (linearise.py), which reads every cell of it: (2, 2) too.
    assert receptive_field(model, (1, 32), method="both").per_axis == ((2, 2),)
