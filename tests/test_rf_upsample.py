"""Receptive fields across grids: up-sampling, resizes, interior ranges, global pooling.

README, "Receptive fields across grids": along an axis of n_in input and n_out output cells,
output cell q sits at input coordinate q * n_in / n_out (the index alignment: fine cell s*m of
an up-sampling by s sits on input cell m), and reaches (q * n_in / n_out - lo, hi - q * n_in /
n_out) input cells back and forward, exactly, fractional between input cells. Every case is
worked out by hand in its comments, per phase (q mod s), checked against the perturbation
oracle (tests/rf_oracle.py) per phase, and measured by the structural and the empirical method,
which must give the same exact numbers. Only interior cells are measured: cells whose
dependencies passed through no padding or boundary (README).

Resizes contract the data with a dense interpolation matrix whose far entries are exact zeros:
an infinite input times such a zero is NaN, so the oracle runs with finite perturbations only
(`infinite=False`), which see exactly the nonzero weights.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction as F

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archinspect.analysis.receptive_field import receptive_field
from archinspect.analysis.receptive_field.empirical import empirical_receptive_field
from archinspect.report import GlobalSource
from tests.rf_oracle import dependencies, oracle

KEY = jax.random.PRNGKey(0)
N = 64  # oracle input cells (cells in the middle half are measured)


class Net(eqx.Module):
    """Layers in order, then a fixed function of the result (a resize, a reshape)."""

    layers: tuple
    post: object = eqx.field(static=True, default=None)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x if self.post is None else self.post(x)


def conv(k=3, stride=1, c_out=1):
    return eqx.nn.Conv1d(1, c_out, k, stride=stride, padding=(k - 1) // 2, key=KEY)


def convt(k, padding, output_padding):
    return eqx.nn.ConvTranspose1d(
        1, 1, k, stride=2, padding=padding, output_padding=output_padding, key=KEY
    )


def resize(factor, method):
    return lambda y: jax.image.resize(y, (y.shape[0], int(y.shape[1] * factor)), method)


def scale_translate(factor, shift, method):
    def fn(y):
        n = int(y.shape[1] * factor)
        scale, translation = jnp.array([float(factor)]), jnp.array([float(shift)])
        return jax.image.scale_and_translate(y, (y.shape[0], n), (1,), scale, translation, method)

    return fn


def per_phase(model, period: int | None = None, shape=(1, N)) -> dict[int, tuple[F, F]]:
    """From the oracle's dependencies: phase r -> (back, forward) of the interior output cells q
    with q mod period == r (the middle half of the axis), exact. The period defaults to the
    output cells per input cell (1 on down-sampled grids)."""
    dep, out_shape = dependencies(model, shape, infinite=False)
    n_in, n_out = shape[1], out_shape[1]
    ratio = F(n_in, n_out)
    period = period or max(1, n_out // n_in)
    found: dict[int, set[tuple[F, F]]] = {}
    per_cell = dep.reshape(out_shape[0], n_out, shape[0], n_in).any(axis=(0, 2))
    for q in range(n_out):
        at = q * ratio
        if not n_in / 4 <= at < 3 * n_in / 4:
            continue
        cells = np.nonzero(per_cell[q])[0]
        found.setdefault(q % period, set()).add((at - int(cells[0]), int(cells[-1]) - at))
    assert all(len(v) == 1 for v in found.values()), found  # one extent per phase
    return {r: next(iter(v)) for r, v in sorted(found.items())}


def both(model, shape=(1, 32)):
    """The structural and empirical results, which must be the same exact numbers."""
    s = receptive_field(model, shape)
    e = empirical_receptive_field(model, shape)
    assert (s.per_axis, s.position_range) == (e.per_axis, e.position_range)
    assert s.global_ == e.global_
    return s


def check(model, phases, per_axis, ranges):
    """Hand-derived phases against the oracle, then both methods against the hand values."""
    assert per_phase(model, period=len(phases)) == phases
    backs, fwds = [b for b, _ in phases.values()], [f for _, f in phases.values()]
    assert ((max(backs), max(fwds)),) == per_axis
    assert (((min(backs), max(backs)), (min(fwds), max(fwds))),) == ranges
    got = both(model)
    assert got.per_axis == per_axis and got.position_range == ranges
    # exact: a fraction is a Fraction (never a rounded float), a whole number an int
    for x in [*got.per_axis[0], *got.position_range[0][0], *got.position_range[0][1]]:
        assert type(x) is (int if F(x).denominator == 1 else F)
    return got


# ----------------------------------------------------------------------------- transposed convs


def test_conv_transpose_k3_s2_per_phase():
    # Equinox's ConvTranspose (padding 1, output_padding 1) is the conv of the input dilated by
    # 2 (input m at 2m), padded k - 1 - p = 1 low and 2 high: output p reads dilated p - 1 .. p
    # + 1. p = 2m reads only m (at m: (0, 0)); p = 2m + 1 reads m and m + 1 (at m + 1/2:
    # (1/2, 1/2)). Today's tables showed int(1/2): (0, 0).
    phases = {0: (F(0), F(0)), 1: (F(1, 2), F(1, 2))}
    model = Net((convt(3, 1, 1),))
    check(model, phases, ((F(1, 2), F(1, 2)),), (((0, F(1, 2)), (0, F(1, 2))),))


def test_conv_transpose_k4_s2_per_phase():
    # k4, padding 1: dilated input padded 2 on each side, p reads dilated p - 2 .. p + 1:
    # p = 2j reads j - 1, j (at j: (1, 0)); p = 2j + 1 reads j, j + 1 (at j + 1/2: (1/2, 1/2)).
    phases = {0: (F(1), F(0)), 1: (F(1, 2), F(1, 2))}
    model = Net((convt(4, 1, 0),))
    check(model, phases, ((1, F(1, 2)),), (((F(1, 2), 1), (0, F(1, 2))),))


class LaxConvTranspose(eqx.Module):
    """jax.lax.conv_transpose with padding "SAME" (flax's ConvTranspose), k3, stride 2."""

    weight: jax.Array

    def __call__(self, x):
        dims = ("NWC", "WIO", "NWC")
        y = jax.lax.conv_transpose(x.T[None], self.weight, (2,), "SAME", dimension_numbers=dims)
        return y[0].T


def test_lax_same_conv_transpose_sits_one_fine_cell_later():
    # lax's "SAME" pads the dilated input 2 low and 1 high for k3 s2: output p reads dilated
    # p - 2 .. p. p = 2m reads m - 1, m (at m: (1, 0)); p = 2m + 1 reads m alone, at m + 1/2:
    # (1/2, -1/2), a cell that depends only on cells before it (README, "Receptive fields
    # across grids").
    phases = {0: (F(1), F(0)), 1: (F(1, 2), F(-1, 2))}
    model = LaxConvTranspose(jnp.arange(1.0, 4.0).reshape(3, 1, 1))
    check(model, phases, ((1, 0),), (((F(1, 2), 1), (F(-1, 2), 0)),))


def test_conv_then_conv_transpose_reads_four_cells_at_odd_outputs():
    # A k3 conv (j reads j - 1 .. j + 1) under the k3 s2 ConvTranspose: p = 2j reads j - 1 .. j
    # + 1 (at j: (1, 1)); p = 2j + 1 reads j - 1 .. j + 2, four cells (at j + 1/2: (3/2, 3/2)).
    phases = {0: (F(1), F(1)), 1: (F(3, 2), F(3, 2))}
    model = Net((conv(3), convt(3, 1, 1)))
    check(model, phases, ((F(3, 2), F(3, 2)),), (((1, F(3, 2)), (1, F(3, 2))),))


def test_pixel_shuffle_places_each_phase_on_its_fine_cell():
    # A k3 conv to 2 channels, then depth-to-space (y.T.reshape): fine cell 2m + r is channel r
    # of coarse cell m, which reads m - 1 .. m + 1; it sits at m + r/2: r = 0 (1, 1), r = 1
    # (3/2, 1/2).
    phases = {0: (F(1), F(1)), 1: (F(3, 2), F(1, 2))}
    model = Net((conv(3, c_out=2),), lambda y: y.T.reshape(1, -1))
    check(model, phases, ((F(3, 2), 1),), (((1, F(3, 2)), (F(1, 2), 1)),))


# ----------------------------------------------------------------------------- resizes

# jax.image.resize samples output q at input coordinate (q + 1/2) * n_in / n_out - 1/2 (half-pixel
# centres) with a kernel of radius R (nearest 1/2, linear 1, cubic 2, lanczos3 3, lanczos5 5)
# input cells when up-sampling. After a k3 stride-2 conv (coarse cell c at 2c reads 2c - 1 ..
# 2c + 1), resized back up by 2: output 2p samples p - 1/4 and reads coarse p - R .. p + R - 1,
# i.e. input 2p - 2R - 1 .. 2p + 2R - 1: (2R + 1, 2R - 1) at 2p; output 2p + 1 samples p + 1/4,
# reads coarse p - R + 1 .. p + R, input 2p - 2R + 1 .. 2p + 2R + 1: (2R, 2R) at 2p + 1.
RADIUS = {"linear": 1, "cubic": 2, "lanczos3": 3, "lanczos5": 5}


@pytest.mark.parametrize(
    "method",
    # lanczos5 needs a larger input (at 32 cells most are boundary cells): kept in every run
    [
        "linear",
        *(pytest.param(m, marks=pytest.mark.slow) for m in ("cubic", "lanczos3", "lanczos5")),
    ],
)
def test_resize_after_a_stride_2_conv(method):
    r = RADIUS[method]
    phases = {0: (F(2 * r + 1), F(2 * r - 1)), 1: (F(2 * r), F(2 * r))}
    model = Net((conv(3, stride=2),), resize(2, method))
    got = check(model, phases, ((2 * r + 1, 2 * r),), (((2 * r, 2 * r + 1), (2 * r - 1, 2 * r)),))
    assert got.period == (2,) and not got.global_  # a window, not a dense layer over space


def test_nearest_resize_after_a_stride_2_conv():
    # Nearest takes coarse floor((q + 1/2) / 2) = p for q = 2p and 2p + 1: input 2p - 1 .. 2p + 1,
    # at 2p (1, 1), at 2p + 1 (2, 0).
    phases = {0: (F(1), F(1)), 1: (F(2), F(0))}
    model = Net((conv(3, stride=2),), resize(2, "nearest"))
    check(model, phases, ((2, 1),), (((1, 2), (0, 1)),))


def test_linear_up_sampling_puts_fine_cells_between_input_cells():
    # conv k3 then linear x2: fine 2p samples p - 1/4, reads p - 1, p, so input p - 2 .. p + 1
    # (at p: (2, 1)); fine 2p + 1 samples p + 1/4, reads p, p + 1: p - 1 .. p + 2 (at p + 1/2:
    # (3/2, 3/2)).
    phases = {0: (F(2), F(1)), 1: (F(3, 2), F(3, 2))}
    model = Net((conv(3),), resize(2, "linear"))
    check(model, phases, ((2, F(3, 2)),), (((F(3, 2), 2), (1, F(3, 2))),))


def test_nearest_up_sampling_by_3_is_exact_in_thirds():
    # conv k3 then nearest x3: fine 3p + r takes floor((3p + r + 1/2) / 3) = p, reads p - 1 .. p
    # + 1 and sits at p + r/3: (1 + r/3, 1 - r/3). Thirds are no binary floats: kept exact.
    phases = {r: (1 + F(r, 3), 1 - F(r, 3)) for r in range(3)}
    model = Net((conv(3),), resize(3, "nearest"))
    check(model, phases, ((F(5, 3), 1),), (((1, F(5, 3)), (F(1, 3), 1)),))


def test_nearest_down_sampling():
    # conv k3 then nearest /2: output q takes floor((q + 1/2) * 2) = 2q + 1, reads 2q .. 2q + 2;
    # it sits at 2q: (0, 2) at every q.
    model = Net((conv(3),), resize(F(1, 2), "nearest"))
    check(model, {0: (F(0), F(2))}, ((0, 2),), (((0, 0), (2, 2)),))


# ----------------------------------------------------------------------------- scale_and_translate

# Output q samples input coordinate (q + 1/2 - t) / s - 1/2 (scale s, translation t); down-
# sampling widens the kernel by 1/s (antialiasing, scale_and_translate's default).


def test_scale_and_translate_up_with_a_shift():
    # conv k3 then s = 2, t = 1, linear: q samples q/2 - 3/4. q = 2p: p - 3/4 reads p - 1, p,
    # input p - 2 .. p + 1 at p: (2, 1); q = 2p + 1: p - 1/4 reads p - 1, p, input p - 2 .. p + 1
    # at p + 1/2: (5/2, 1/2).
    phases = {0: (F(2), F(1)), 1: (F(5, 2), F(1, 2))}
    model = Net((conv(3),), scale_translate(2, 1, "linear"))
    check(model, phases, ((F(5, 2), 1),), (((2, F(5, 2)), (F(1, 2), 1)),))


def test_scale_and_translate_up_by_4_after_a_stride_2_conv():
    # coarse c at 2c reads 2c - 1 .. 2c + 1; s = 4: q = 4p + r samples coarse p + r/4 - 3/8 and
    # sits at input 2p + r/2. r = 0: p - 3/8 reads p - 1, p: input 2p - 3 .. 2p + 1, (3, 1);
    # r = 1: p - 1/8, the same cells, (7/2, 1/2); r = 2: p + 1/8 reads p, p + 1: 2p - 1 .. 2p + 3,
    # (2, 2); r = 3: p + 3/8, the same, (5/2, 3/2).
    phases = {0: (F(3), F(1)), 1: (F(7, 2), F(1, 2)), 2: (F(2), F(2)), 3: (F(5, 2), F(3, 2))}
    model = Net((conv(3, stride=2),), scale_translate(4, 0, "linear"))
    assert per_phase(model, period=4) == phases
    assert oracle(model, (1, N), infinite=False) == (
        ((F(7, 2), 2),),
        (((2, F(7, 2)), (F(1, 2), 2)),),
    )
    got = both(model)
    assert got.per_axis == ((F(7, 2), 2),)
    assert got.position_range == (((2, F(7, 2)), (F(1, 2), 2)),)


@pytest.mark.parametrize(
    ("method", "reach"), [("linear", 2), pytest.param("lanczos3", 6, marks=pytest.mark.slow)]
)
def test_scale_and_translate_down(method, reach):
    # conv k3 then s = 1/2 (antialiased: the kernel's radius doubles, to 2 for linear and 6 for
    # lanczos3): q samples 2q + 1/2 and reads input 2q + 1/2 - reach < i < 2q + 1/2 + reach, i.e.
    # 2q - reach + 1 .. 2q + reach; through the conv 2q - reach .. 2q + reach + 1, at 2q:
    # (reach, reach + 1) at every q.
    model = Net((conv(3),), scale_translate(F(1, 2), 0, method))
    ranges = (((reach, reach), (reach + 1, reach + 1)),)
    check(model, {0: (F(reach), F(reach + 1))}, ((reach, reach + 1),), ranges)


# ----------------------------------------------------------------------------- interior cells


def test_ceil_mode_pooling_range_excludes_the_border_cells():
    # conv k3 (padding 1) then AvgPool k3 s2 in ceil mode on 64 cells: Equinox pads the pool by 2
    # on the right, 32 cells. Interior cell q (at 2q) averages conv 2q .. 2q + 2, input 2q - 1 ..
    # 2q + 3: (1, 3) at every q. The border cells differ: q = 0 reads conv cell 0, which reads
    # padding (input 0 .. 3: (0, 3)); q = 31 reads conv 62, 63 and the pool's padding (input
    # 61 .. 63: (1, 1)). Counting them would give ranges 0..1 and 1..3 for a network whose
    # interior cells all reach (1, 3).
    model = Net((conv(3), eqx.nn.AvgPool1d(3, 2, use_ceil=True)))
    dep, out_shape = dependencies(model, (1, N), infinite=False)
    per_cell = dep.reshape(1, out_shape[1], 1, N).any(axis=(0, 2))
    extents = [
        (2 * q - int(np.nonzero(c)[0][0]), int(np.nonzero(c)[0][-1]) - 2 * q)
        for q, c in enumerate(per_cell)
    ]
    assert extents[0] == (0, 3) and extents[-1] == (1, 1)
    assert set(extents[1:-1]) == {(1, 3)}
    got = both(model, (1, N))
    assert got.per_axis == ((1, 3),)
    assert got.position_range == (((1, 1), (3, 3)),)


def test_odd_size_pooling_measures_interior_cells_at_window_centres():
    # 65 cells, conv k3 then AvgPool k2 s2 in ceil mode: 33 cells, the last one half padding.
    # 65 / 33 is no whole ratio, so a cell sits at its window's centre (the floor of it for an
    # even window, README): q at 2q reads conv 2q, 2q + 1, input 2q - 1 .. 2q + 2: (1, 2). The
    # last cell (window 64 and padding) would give (1, 0); the first (conv 0 reads padding) (0, 2).
    model = Net((conv(3), eqx.nn.AvgPool1d(2, 2, use_ceil=True)))
    got = receptive_field(model, (1, 65))
    assert got.per_axis == ((1, 2),)
    assert got.position_range == (((1, 1), (2, 2)),)


# ----------------------------------------------------------------------------- global pooling


class PooledClassifier(eqx.Module):
    """A conv trunk, the mean over all spatial axes, and a dense head (a ResNet's tail)."""

    trunk: Net
    head: eqx.nn.Linear

    def __call__(self, x):
        y = self.trunk(x)
        return self.head(jnp.mean(y, axis=tuple(range(1, y.ndim))))


def trunk2d():
    def c(cin, cout, stride=1):
        return eqx.nn.Conv2d(cin, cout, 3, stride=stride, padding=1, key=KEY)

    return Net((c(1, 4), jax.nn.relu, c(4, 4, 2), jax.nn.relu, c(4, 4)))


def test_global_average_pooling_reports_the_stencil_up_to_the_pooling():
    # Trunk: k3, k3 stride 2, k3 (padding 1). Coarse cell j (at 2j) reads fine 2j - 1 .. 2j + 1,
    # each of which reads one more cell each way: 2j - 2 .. 2j + 2; the last k3 on the coarse
    # grid adds one coarse cell (2 input cells) each way: 2j - 4 .. 2j + 4: (4, 4) per axis.
    # The mean over space then couples every cell: the classifier reports the trunk's stencil
    # and the pooling as its global coupling, never (0, 0).
    trunk = trunk2d()
    model = PooledClassifier(trunk, eqx.nn.Linear(4, 3, key=KEY))
    got = receptive_field(model, (1, 16, 16))
    assert got.per_axis == ((4, 4), (4, 4))
    assert got.position_range == (((4, 4), (4, 4)),) * 2
    assert got.global_via == (GlobalSource("", "PooledClassifier", "global pooling"),)
    alone = receptive_field(trunk, (1, 16, 16))
    assert (alone.per_axis, alone.position_range) == (got.per_axis, got.position_range)
    assert not alone.global_


def test_trunk_stencil_against_the_oracle():
    # The trunk's (4, 4) by the oracle (1-D: the same layers per axis, linear so that no ReLU
    # with these fixed weights hides a path from the oracle's inputs), and by both methods.
    trunk = Net((conv(3), conv(3, stride=2), conv(3)))
    assert oracle(trunk, (1, N)) == (((4, 4),), (((4, 4), (4, 4)),))
    pooled = PooledClassifier(trunk, eqx.nn.Linear(1, 2, key=KEY))
    assert receptive_field(pooled, (1, 32)).per_axis == ((4, 4),)
    assert both(trunk).per_axis == ((4, 4),)


def test_a_mean_that_keeps_the_grid_is_not_a_pooled_network():
    # x + mean(x): the output keeps its grid and reads its own cell: (0, 0) plus global coupling
    # (the pooled-stencil rule applies only where the pooling took the axis away).
    got = receptive_field(Net((), lambda x: x + x.mean(1, keepdims=True)), (1, 32))
    assert got.per_axis == ((0, 0),) and got.global_


# ----------------------------------------------------------------------------- representation


def test_fractions_in_json_and_text():
    from archinspect.render.fmt import extent_json, extent_text, pairs_json, pairs_text

    # whole numbers stay ints; binary fractions are exact JSON numbers; others "p/q"
    assert [extent_json(v) for v in (3, F(1, 2), F(5, 4), F(5, 3), math.inf)] == [
        3,
        0.5,
        1.25,
        "5/3",
        "inf",
    ]
    assert type(extent_json(F(4, 2))) is int
    assert [extent_text(v) for v in (3, F(1, 2), F(5, 3), math.inf)] == ["3", "0.5", "5/3", "inf"]
    assert pairs_text([(F(3, 2), 1)]) == "(1.5,1)"
    assert json.dumps(pairs_json([(F(5, 3), F(1, 2))])) == '[["5/3", 0.5]]'


def test_api_report_of_a_transposed_conv():
    import archinspect

    model = Net((convt(3, 1, 1),))
    data = archinspect.receptive_field(model, jnp.zeros((1, 32)), method="both").to_dict()
    rf = data["receptive_field"]
    assert rf["per_axis"] == [[0.5, 0.5]]
    assert rf["position_range"] == [[[0, 0.5], [0, 0.5]]]


# --------------------------------------------------------------------- several cells into one


def test_scatter_add_of_two_cells_into_one_is_a_window():
    # Sum pooling by 2 written as a scatter-add (cells 2j and 2j + 1 into cell j: the transpose
    # of nearest up-sampling). It used to divide by the step between written positions, 0 here:
    # ZeroDivisionError, Fraction(1, 0). After a k3 conv, cell j (at 2j) reads conv 2j, 2j + 1,
    # input 2j - 1 .. 2j + 2: (1, 2) at every j.
    def pool(y):
        return jnp.zeros((1, y.shape[1] // 2)).at[:, np.arange(y.shape[1]) // 2].add(y)

    model = Net((conv(3),), pool)
    check(model, {0: (F(1), F(2))}, ((1, 2),), (((1, 1), (2, 2)),))
