"""Analytic FLOPs (2 x multiply-adds including padding taps, plus bias adds) against figures
worked out by hand, and against an independent oracle: the multiply-adds of a conv counted by
brute force as (output cell, kernel tap) pairs times channels, from `jax.lax`'s own output
shape; the table's totals never below a part, in both figures; modules called with extra
arguments."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archinspect
from archinspect.analysis.flops_analytic import analytic_flops, trace_forward
from archinspect.analysis.shapes import leaf_paths
from archinspect.layers.conv import Conv, UpConv

KEY = jax.random.key(0)


def count(module, shape):
    return analytic_flops(trace_forward(module, shape, "float32"))


def total(module, shape):
    return count(module, shape).total


def lax_output_cells(module, shape) -> int:
    """Oracle: output elements as JAX computes them (eval_shape of the module itself)."""
    return math.prod(jax.eval_shape(module, jax.ShapeDtypeStruct(shape, jnp.float32)).shape)


# ---------------------------------------------------------------------------------------------
# Convolutions and dense layers by hand
# ---------------------------------------------------------------------------------------------


def test_zero_padded_3x3_conv_on_32x32_is_the_conventional_figure():
    """The issue's conv: 3 -> 8 channels, 3x3, zero padding 1, 32x32 cells.
    MACs = 8 out x 3 in x 9 taps x 1,024 cells = 221,184 (padding taps included);
    2 x MACs + one bias add per output element (8 x 1,024) = 450,560. XLA skips the taps on
    padding: per axis 32 x 3 - 2 = 94 taps read the input, so 2 x 8 x 3 x 94^2 + 8,192."""
    conv = eqx.nn.Conv2d(3, 8, 3, padding=1, key=KEY)
    assert 2 * (8 * 3 * 9 * 32 * 32) + 8 * 32 * 32 == 450_560
    assert total(conv, (3, 32, 32)) == 450_560
    # archinspect's own zero-padded ("dirichlet") Conv pads with jnp.pad first: the same
    assert total(Conv(2, 3, 8, 3, boundary_mode="dirichlet", key=KEY), (3, 32, 32)) == 450_560
    xla = archinspect.inspect(conv, jnp.zeros((3, 32, 32)), rf=False, memory=False)
    assert xla.flops.forward == 2 * 8 * 3 * 94**2 + 8 * 32 * 32 == 432_320
    assert xla.flops.analytic == 450_560
    assert xla.layers[0].analytic_flops == 450_560


CASES = [
    # (module, input shape, out channels, in channels per group, taps, output cells, bias)
    pytest.param(
        eqx.nn.Conv2d(4, 6, 3, stride=2, padding=1, key=KEY),
        (4, 9, 7),
        6,
        4,
        9,
        5 * 4,  # floor((9 + 2 - 3) / 2) + 1 = 5, floor((7 + 2 - 3) / 2) + 1 = 4
        True,
        id="strided",
    ),
    pytest.param(
        eqx.nn.Conv1d(3, 5, 3, dilation=2, padding=2, key=KEY),
        (3, 20),
        5,
        3,
        3,
        20,  # 20 + 4 - (2 * 2 + 1) + 1
        True,
        id="dilated",
    ),
    pytest.param(
        eqx.nn.Conv2d(8, 4, 3, padding=1, groups=4, use_bias=False, key=KEY),
        (8, 6, 6),
        4,
        2,  # 8 in / 4 groups
        9,
        36,
        False,
        id="grouped",
    ),
    pytest.param(
        eqx.nn.ConvTranspose2d(3, 8, 3, stride=2, key=KEY),
        (3, 8, 8),
        8,
        3,
        9,
        17 * 17,  # (8 - 1) * 2 + 3
        True,
        id="transposed",
    ),
    pytest.param(
        UpConv(1, 2, 4, 3, stride=2, key=KEY),
        (2, 10),
        4,
        2,
        3,
        20,  # zero insertion to 2 x 10 cells, then a padded 3-conv
        True,
        id="upconv-zero-insertion",
    ),
    pytest.param(
        eqx.nn.Conv3d(2, 3, (3, 1, 2), use_bias=False, key=KEY),
        (2, 5, 4, 6),
        3,
        2,
        6,
        3 * 4 * 5,
        False,
        id="3d-valid",
    ),
]


@pytest.mark.parametrize(("module", "shape", "co", "ci", "taps", "cells", "bias"), CASES)
def test_conv_is_two_macs_plus_bias(module, shape, co, ci, taps, cells, bias):
    """Every output cell x kernel taps x in/groups x out channels; a transposed conv counts
    every output cell of the conv over its dilated input (torchinfo's convention)."""
    assert lax_output_cells(module, shape) == co * cells  # the oracle agrees with the hand
    expected = 2 * co * cells * ci * taps + (co * cells if bias else 0)
    assert total(module, shape) == expected


def test_hand_figures_of_the_conv_cases():
    assert 2 * 6 * 20 * 4 * 9 + 6 * 20 == 8_760  # strided
    assert 2 * 8 * 289 * 3 * 9 + 8 * 289 == 127_160  # transposed


def test_linear_and_a_vmapped_linear():
    """Linear 5 -> 7: 2 x 35 + 7 = 77. Mapped over 4 positions with jax.vmap: 4 x 77."""
    lin = eqx.nn.Linear(5, 7, key=KEY)
    assert total(lin, (5,)) == 2 * 5 * 7 + 7 == 77

    class PerPosition(eqx.Module):
        lin: eqx.nn.Linear

        def __call__(self, x):
            return jax.vmap(self.lin)(x)

    result = count(PerPosition(lin), (4, 5))
    assert result.total == 4 * 77
    assert result.by_path == {"": 308, "lin": 308}


def test_no_bias_add_for_a_residual_or_an_activation():
    """A residual add of the input and a ReLU are not bias adds: only the conv counts."""

    class Residual(eqx.Module):
        conv: eqx.nn.Conv1d

        def __call__(self, x):
            return jax.nn.relu(x + self.conv(x))

    conv = eqx.nn.Conv1d(2, 2, 3, padding=1, use_bias=False, key=KEY)
    assert total(Residual(conv), (2, 10)) == 2 * 2 * 10 * 2 * 3 == 240


def test_scan_counts_every_iteration_and_while_is_undefined():
    lin = eqx.nn.Linear(3, 3, key=KEY)

    class Scanned(eqx.Module):
        lin: eqx.nn.Linear

        def __call__(self, x):
            return jax.lax.scan(lambda c, _: (self.lin(c), None), x, None, length=5)[0]

    class Looped(eqx.Module):
        lin: eqx.nn.Linear

        def __call__(self, x):
            return jax.lax.while_loop(lambda c: c[0] < 1.0, lambda c: self.lin(c), x)

    assert total(Scanned(lin), (3,)) == 5 * (2 * 9 + 3)
    looped = count(Looped(lin), (3,))
    assert looped.total is None
    assert looped.undefined is not None and "trip count is not known" in looped.undefined


# ---------------------------------------------------------------------------------------------
# A ResNet-like classifier: totals never below a part, in both figures
# ---------------------------------------------------------------------------------------------


class Block(eqx.Module):
    conv_1: Conv
    conv_2: eqx.nn.Conv2d
    norm: eqx.nn.GroupNorm
    down: eqx.nn.Conv2d | None

    def __init__(self, cin: int, cout: int, stride: int, key):
        k1, k2, k3 = jax.random.split(key, 3)
        # zero padding by jnp.pad (archinspect Conv) and inside the conv (equinox)
        self.conv_1 = Conv(2, cin, cout, 3, stride=stride, boundary_mode="dirichlet", key=k1)
        self.conv_2 = eqx.nn.Conv2d(cout, cout, 3, padding=1, use_bias=False, key=k2)
        self.norm = eqx.nn.GroupNorm(2, cout)
        self.down = eqx.nn.Conv2d(cin, cout, 1, stride=stride, key=k3) if stride > 1 else None

    def __call__(self, x):
        y = self.conv_2(jax.nn.relu(self.norm(self.conv_1(x))))
        return jax.nn.relu(y + (x if self.down is None else self.down(x)))


class Trunk(eqx.Module):
    stem: eqx.nn.Conv2d
    pool: eqx.nn.MaxPool2d
    blocks: list

    def __init__(self, key):
        ks = jax.random.split(key, 3)
        self.stem = eqx.nn.Conv2d(3, 4, 3, stride=2, padding=1, use_bias=False, key=ks[0])
        self.pool = eqx.nn.MaxPool2d(2, 2)
        self.blocks = [Block(4, 4, 1, ks[1]), Block(4, 8, 2, ks[2])]

    def __call__(self, x):
        x = self.pool(jax.nn.relu(self.stem(x)))
        for block in self.blocks:
            x = block(x)
        return x


class Classifier(eqx.Module):
    trunk: Trunk
    fc: eqx.nn.Linear

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.trunk = Trunk(k1)
        self.fc = eqx.nn.Linear(8, 10, key=k2)

    def __call__(self, x):
        return self.fc(jnp.mean(self.trunk(x), axis=(1, 2)))


@pytest.fixture(scope="module")
def classifier_report():
    return archinspect.inspect(
        Classifier(KEY), jnp.zeros((3, 16, 16)), depth=None, rf=False, memory=False
    )


def test_classifier_totals_are_never_below_a_part(classifier_report):
    report = classifier_report
    root = report.layers[0]
    assert root.path == ""
    for row in report.layers:
        assert row.flops is not None and row.flops <= root.flops, row.path
        if row.analytic_flops is not None:
            assert row.analytic_flops <= root.analytic_flops, row.path
    assert report.flops.unoptimised == root.flops
    assert report.flops.analytic == root.analytic_flops
    # every parent is at least the sum of its called children, in both figures
    by_path = {r.path: r for r in report.layers}
    for parent in ("trunk", "trunk.blocks[0]", "trunk.blocks[1]"):
        children = [
            r
            for r in report.layers
            if r.path.startswith(parent + ".") and r.path.count(".") == parent.count(".") + 1
        ]
        assert by_path[parent].flops >= sum(r.flops for r in children), parent
        assert by_path[parent].analytic_flops == sum(r.analytic_flops or 0 for r in children)


def test_classifier_analytic_figures_by_hand(classifier_report):
    """16x16 input. stem 3->4 s2 -> 8x8; pool -> 4x4; block 0 (4->4, 4x4): conv_1 with bias,
    conv_2 without; block 1 (4->8, s2 -> 2x2): conv_1 with bias, conv_2, 1x1 down with bias;
    fc 8 -> 10."""
    flops = {r.path: r.analytic_flops for r in classifier_report.layers}
    stem = 2 * 4 * 64 * 3 * 9
    b0 = (2 * 4 * 16 * 4 * 9 + 4 * 16) + 2 * 4 * 16 * 4 * 9
    b1 = (2 * 8 * 4 * 4 * 9 + 8 * 4) + 2 * 8 * 4 * 8 * 9 + (2 * 8 * 4 * 4 + 8 * 4)
    fc = 2 * 8 * 10 + 10
    assert flops["trunk.stem"] == stem == 13_824
    assert flops["trunk.blocks[0]"] == b0 == 9_280
    assert flops["trunk.blocks[1]"] == b1 == 7_232
    assert flops["fc"] == fc == 170
    assert flops[""] == stem + b0 + b1 + fc
    # no contraction inside: no analytic figure (not a guessed 0)
    assert flops["trunk.pool"] is None
    assert flops["trunk.blocks[0].norm"] is None
    leaves = leaf_paths(list(classifier_report.layers))
    assert {"trunk.pool", "trunk.blocks[0].norm", "fc"} <= leaves


# ---------------------------------------------------------------------------------------------
# Submodules called with extra arguments
# ---------------------------------------------------------------------------------------------


class Gate(eqx.Module):
    """Called as gate(x, y, scale=..., key=...): two arrays, a static float, a PRNG key."""

    lin: eqx.nn.Linear

    def __call__(self, x, y, *, scale: float, key):
        noise = jax.random.normal(key, x.shape)
        return self.lin(x) * y * scale + noise


class WithExtraArguments(eqx.Module):
    gate: Gate
    head: eqx.nn.Linear

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.gate = Gate(eqx.nn.Linear(4, 4, key=k1))
        self.head = eqx.nn.Linear(4, 2, key=k2)

    def __call__(self, x):
        v = x[0]  # one channel of 4 cells
        y = self.gate(v, jnp.tanh(v), scale=0.5, key=jax.random.key(1))
        return self.head(y)[None]


def test_submodule_called_with_extra_arguments_is_inspected():
    """Lowered with the arguments it was called with: gate = its Linear (2 x 16 + 4 = 36) and
    two multiplies and an add per element (3 x 4), plus the normal sampling's work."""
    report = archinspect.inspect(
        WithExtraArguments(KEY), jnp.zeros((1, 4)), depth=None, rf=False, memory=False
    )
    rows = {r.path: r for r in report.layers}
    assert rows["gate"].input_shapes == ((4,), (4,), ())  # x, y, and the key (a scalar key)
    assert rows["gate.lin"].flops == 2 * 4 * 4 + 4 == 36
    assert rows["gate"].flops is not None and rows["gate"].flops >= 36 + 3 * 4
    assert rows["gate"].flops_note is None
    assert rows["gate"].analytic_flops == 36
    assert rows["head"].flops == rows["head"].analytic_flops == 2 * 4 * 2 + 2 == 18
    assert report.layers[0].flops >= rows["gate"].flops + rows["head"].flops
    assert report.flops.analytic == 36 + 18


class Unrepeatable(eqx.Module):
    """Reads an array argument as a Python int: fine on the parent's concrete constant, not
    on the abstract argument a lowering on its own gets."""

    lin: eqx.nn.Linear

    def __call__(self, x, repeats):
        return jnp.tile(self.lin(x), int(repeats))


class CallsWithAConstant(eqx.Module):
    inner: Unrepeatable

    def __init__(self, key):
        self.inner = Unrepeatable(eqx.nn.Linear(3, 3, key=key))

    def __call__(self, x):
        return self.inner(x[0], np.array(2))[None]  # a NumPy constant: concrete here


def test_a_call_that_cannot_be_repeated_alone_is_marked_with_its_reason():
    report = archinspect.inspect(
        CallsWithAConstant(KEY), jnp.zeros((1, 3)), depth=None, rf=False, memory=False
    )
    rows = {r.path: r for r in report.layers}
    assert rows["inner"].flops is None
    assert rows["inner"].flops_note is not None
    assert rows["inner"].flops_note.startswith("lowering it alone failed: ")
    assert "ConcretizationTypeError" in rows["inner"].flops_note
    assert any(n.startswith("FLOPs of inner not measured:") for n in report.notes)
    assert rows["inner.lin"].flops == 2 * 9 + 3  # its own child is measured
    assert rows["inner"].analytic_flops == 21  # the analytic count needs no lowering


# ---------------------------------------------------------------------------------------------
# Flax NNX: the same rules on the traced program
# ---------------------------------------------------------------------------------------------


def test_flax_conv_and_linear():
    """nnx.Conv 2 -> 3, kernel 3, SAME (zero) padding, on 10 steps (channels last), then
    nnx.Linear 3 -> 4 per step: 2 x 3 x 2 x 3 x 10 + 3 x 10 = 390 and 2 x 3 x 4 x 10 + 4 x 10
    = 280. The bias adds are found through Flax's reshape of the bias."""
    from flax import nnx

    from archinspect.build.flax import wrap_flax

    class ConvLinear(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(2, 3, kernel_size=3, padding="SAME", rngs=rngs)
            self.linear = nnx.Linear(3, 4, rngs=rngs)

        def __call__(self, x):
            return self.linear(self.conv(x))

    model = wrap_flax(ConvLinear(nnx.Rngs(0)))
    result = count(model, (2, 10))
    assert 2 * 3 * 2 * 3 * 10 + 3 * 10 == 390 and 2 * 3 * 4 * 10 + 4 * 10 == 280
    assert result.total == 390 + 280
    assert result.by_path["conv"] == 390 and result.by_path["linear"] == 280


def test_cond_with_equal_branches_counts_once_and_differing_branches_are_undefined():
    """Both branches a Linear 5 -> 7 (77, its bias add found through the cond's operands);
    a Linear in one branch only: which one runs depends on the input, so no figure."""
    lin = eqx.nn.Linear(5, 7, key=KEY)

    class Either(eqx.Module):
        lin: eqx.nn.Linear
        same: bool

        def __call__(self, x):
            v = x[0]
            if self.same:
                other = lambda u: self.lin(u) * 2.0  # noqa: E731
            else:
                other = lambda u: jnp.full((7,), u.sum())  # noqa: E731
            return jax.lax.cond(v[0] > 0, lambda u: self.lin(u), other, v)[None]

    assert total(Either(lin, True), (1, 5)) == 77
    differing = count(Either(lin, False), (1, 5))
    assert differing.total is None
    assert (
        differing.undefined is not None and "branches with different counts" in differing.undefined
    )
