"""A conv as a matrix (README "`archinspect shapes` and `archinspect inspect`"): its geometry,
output size, structural non-zeros and weight sharing, proven against the Jacobian.

Oracle: the Jacobian of the convolution itself (jax.jacfwd, float64, generic random weights),
whose non-zero entries are exactly the (output element, input element) pairs a weight connects
(an entry read through two taps is a sum of two independent weights, non-zero almost surely).
Two levels:
- the arithmetic (archinspect.analysis.conv_matrix) against the Jacobian of the direct
  convolution a `ConvGeometry` describes, built from jax.lax ops, for seeded random geometries
  in 1-D and 2-D (groups, strides, both dilations, every padding mode, transposed);
- each layer's `conv_geometry` (archinspect's Conv and UpConv, equinox.nn.Conv and
  ConvTranspose through the adapter) against the layer: the same output shape and the same
  Jacobian sparsity pattern as the direct convolution its geometry describes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from archinspect.analysis.conv_matrix import dense_equivalent, output_sizes
from archinspect.analysis.shapes import conv_geometry_of
from archinspect.cli import app
from archinspect.layers.conv import Conv, UpConv
from archinspect.report import ConvGeometry
from tests.conftest import slow_after

runner = CliRunner()
MODES = ("zeros", "circular", "reflect", "edge")
_JNP_MODE = {"zeros": "constant", "circular": "wrap", "reflect": "reflect", "edge": "edge"}


def geometry(nd: int = 1, **kw) -> ConvGeometry:
    args = dict(
        kernel_size=(3,) * nd,
        kernel_dilation=(1,) * nd,
        input_dilation=(1,) * nd,
        stride=(1,) * nd,
        padding=((1, 1),) * nd,
        padding_mode="zeros",
        groups=1,
        in_channels=1,
        out_channels=1,
    )
    args.update(kw)
    return ConvGeometry(**args)  # type: ignore[arg-type]


# ---------------------------------------------------------------- by hand


def test_same_3_tap_on_5_cells_in_every_mode():
    # outputs 0..4 of a (1,1)-padded 3-tap conv: the end outputs have one tap on the padding
    g = geometry()
    assert output_sizes(g, (5,)) == (5,)
    assert dense_equivalent(g, (5,)).nonzeros == 2 + 3 + 3 + 3 + 2 == 13
    # circular: the padded taps wrap onto cells 4 and 0, new cells for the end outputs
    assert dense_equivalent(geometry(padding_mode="circular"), (5,)).nonzeros == 15
    # reflect reads cell 1 again at output 0, edge reads cell 0 again: one entry each
    assert dense_equivalent(geometry(padding_mode="reflect"), (5,)).nonzeros == 13
    assert dense_equivalent(geometry(padding_mode="edge"), (5,)).nonzeros == 13


def test_textbook_sizes_and_sharing():
    # kernel 5 VALID on 100 cells: 96 outputs of 5 taps each; 16 -> 32 channels
    g = geometry(kernel_size=(5,), padding=((0, 0),), in_channels=16, out_channels=32)
    d = dense_equivalent(g, (100,))
    assert (d.rows, d.cols) == (96 * 32, 100 * 16)
    assert d.nonzeros == 96 * 5 * 16 * 32
    assert d.weights == 32 * 16 * 5
    assert d.sharing == 96.0  # every weight is used once per output position
    # kernel 7 dilation 2 VALID on 224: k_eff 13, 212 outputs
    g = geometry(kernel_size=(7,), kernel_dilation=(2,), padding=((0, 0),))
    assert g.effective_kernel == (13,)
    assert output_sizes(g, (224,)) == (212,)
    # kernel 7 input_dilation 2 padding 0 on 224: 447 dilated cells, 441 outputs; each output
    # reads 3 or 4 real cells (its taps alternate between cells and inserted zeros)
    g = geometry(kernel_size=(7,), input_dilation=(2,), padding=((0, 0),))
    assert output_sizes(g, (224,)) == (441,)
    assert dense_equivalent(g, (224,)).nonzeros == 221 * 4 + 220 * 3 == 1_544
    # a 1x1 conv is a per-cell dense layer: in*out weights, cells*in*out non-zeros
    g = geometry(2, kernel_size=(1, 1), padding=((0, 0),) * 2, in_channels=3, out_channels=5)
    d = dense_equivalent(g, (6, 8))
    assert (d.rows, d.cols, d.nonzeros, d.weights) == (48 * 5, 48 * 3, 48 * 15, 15)
    # groups: each output channel reads in/groups channels
    g = geometry(in_channels=4, out_channels=6, groups=2)
    assert dense_equivalent(g, (5,)).nonzeros == 13 * 6 * 2
    assert dense_equivalent(g, (5,)).weights == 6 * 2 * 3


def test_stride_2_circular_on_2_cells_reads_one_cell_twice():
    # UNet's coarsest down conv: 2 cells wrapped to [x1 x0 x1 x0], one output reads {x0, x1}
    g = geometry(2, stride=(2, 2), padding_mode="circular")
    d = dense_equivalent(g, (2, 2))
    assert output_sizes(g, (2, 2)) == (1, 1)
    assert d.nonzeros == 2 * 2 and d.weights == 9


def test_upconv_on_one_cell_reads_it_from_every_output():
    # stride 2 on 1 cell: [x 0] periodic, each of the two outputs' 3 taps reads x once
    g = UpConv(1, 1, 1, 3, stride=2, key=jax.random.PRNGKey(0)).conv_geometry((1,))
    assert (g.input_dilation, g.stride, g.padding, g.zero_padding) == (
        (2,),
        (1,),
        ((1, 2),),
        ((0, 1),),
    )
    assert output_sizes(g, (1,)) == (2,)
    assert dense_equivalent(g, (1,)).nonzeros == 2


# ---------------------------------------------------------------- the oracle


def direct_conv(g: ConvGeometry, x: jax.Array, w: jax.Array) -> jax.Array:
    """The direct convolution a geometry describes, with jax.lax ops."""
    nd = len(g.kernel_size)
    zero = jnp.zeros((), x.dtype)
    x = jax.lax.pad(x, zero, [(0, 0, 0)] + [(0, 0, d - 1) for d in g.input_dilation])
    zeros = g.zero_padding or ((0, 0),) * nd
    x = jax.lax.pad(x, zero, [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in zeros])
    rest = [(lo - zl, hi - zh) for (lo, hi), (zl, zh) in zip(g.padding, zeros, strict=True)]
    x = jnp.pad(x, [(0, 0), *rest], mode=_JNP_MODE[g.padding_mode])
    return jax.lax.conv_general_dilated(
        x[None],
        w,
        g.stride,
        "VALID",
        rhs_dilation=g.kernel_dilation,
        feature_group_count=g.groups,
    )[0]


def jacobian(f, shape: tuple[int, ...]) -> np.ndarray:
    """The Jacobian at a random point, column by column: the JVP along every basis vector
    (what `jax.jacfwd` computes), in one compiled program instead of one per primitive."""
    x = jnp.asarray(np.random.default_rng(1).normal(size=shape))
    size = math.prod(shape)
    basis = np.eye(size, dtype=x.dtype).reshape(size, *shape)  # numpy: no compile per size
    columns = jax.jit(jax.vmap(lambda t: jax.jvp(f, (x,), (t,))[1].reshape(-1)))(basis)
    return np.asarray(columns).T


def weights(g: ConvGeometry, seed: int = 0) -> jax.Array:
    shape = (g.out_channels, g.in_channels // g.groups, *g.kernel_size)
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape))


def random_geometry(rng: random.Random) -> tuple[ConvGeometry, tuple[int, ...]]:
    while True:
        nd = rng.choice((1, 1, 2))
        n = tuple(rng.randint(1, 6) for _ in range(nd))
        di = tuple(rng.choice((1, 1, 2, 3)) for _ in range(nd))
        transposed = rng.random() < 0.3 and max(di) > 1
        zeros = tuple((0, d - 1) for d in di) if transposed else ()
        padding = tuple(
            (rng.randint(0, 4), rng.randint(0, 3) + (zeros[a][1] if zeros else 0))
            for a in range(nd)
        )
        groups = rng.choice((1, 1, 2, 3))
        g = ConvGeometry(
            kernel_size=tuple(rng.randint(1, 4) for _ in range(nd)),
            kernel_dilation=tuple(rng.choice((1, 1, 2, 3)) for _ in range(nd)),
            input_dilation=di,
            stride=tuple(rng.randint(1, 3) for _ in range(nd)),
            padding=padding,
            padding_mode=rng.choice(MODES),
            groups=groups,
            in_channels=groups * rng.randint(1, 2),
            out_channels=groups * rng.randint(1, 2),
            transposed=transposed,
            zero_padding=zeros,
        )
        if min(output_sizes(g, n)) >= 1:
            return g, n


GEOMETRIES = [random_geometry(random.Random(seed)) for seed in range(60)]


def test_the_random_geometries_cover_every_knob():
    gs = [g for g, _ in GEOMETRIES]
    assert {g.padding_mode for g in gs} == set(MODES)
    assert {len(g.kernel_size) for g in gs} == {1, 2}
    assert any(g.groups > 1 for g in gs) and any(g.transposed for g in gs)
    assert any(max(g.stride) > 1 for g in gs) and any(max(g.kernel_dilation) > 1 for g in gs)
    assert any(max(g.input_dilation) > 1 and not g.transposed for g in gs)
    # pads wider than the (dilated) input: reflect and wrap go round more than once
    assert any(
        max(lo for lo, _ in g.padding) > (n[0] - 1) * g.input_dilation[0] for g, n in GEOMETRIES
    )


@pytest.mark.parametrize("case", slow_after(range(len(GEOMETRIES)), 10))
def test_non_zeros_are_the_jacobians(case: int):
    g, n = GEOMETRIES[case]
    with jax.enable_x64(True):
        w = weights(g)
        y = jax.eval_shape(lambda v: direct_conv(g, v, w), jnp.zeros((g.in_channels, *n)))
        assert y.shape == (g.out_channels, *output_sizes(g, n)), g
        jac = jacobian(lambda v: direct_conv(g, v, w), (g.in_channels, *n))
    d = dense_equivalent(g, n)
    assert (d.rows, d.cols) == jac.shape
    assert d.nonzeros == np.count_nonzero(jac), (g, n)
    assert d.weights == w.size


# ---------------------------------------------------------------- each layer's geometry


def same_pattern(module, g: ConvGeometry, shape: tuple[int, ...]) -> None:
    """The layer and the direct conv of its geometry: same output shape, same sparsity."""
    with jax.enable_x64(True):
        module = jax.tree_util.tree_map(
            lambda a: jnp.asarray(a, jnp.float64) if eqx.is_inexact_array(a) else a, module
        )
        out = jax.eval_shape(module, jnp.zeros(shape))
        assert out.shape == (g.out_channels, *output_sizes(g, shape[1:])), g
        w = weights(g)
        # Both Jacobians from one compiled program (one XLA compile per case, not two): the
        # layer's rows first, then the direct conv's.
        both = jacobian(
            lambda v: jnp.concatenate([module(v).reshape(-1), direct_conv(g, v, w).reshape(-1)]),
            shape,
        )
        ours, theirs = both[: math.prod(out.shape)] != 0, both[math.prod(out.shape) :] != 0
    assert ours.shape == theirs.shape, g
    assert (ours == theirs).all(), g
    assert dense_equivalent(g, shape[1:]).nonzeros == ours.sum()


KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize("mode", ["periodic", "dirichlet", "neumann"])
@pytest.mark.parametrize(
    "nd,k,stride,dilation,n",
    [(1, 3, 1, 1, 5), (1, 4, 2, 1, 7), (1, 3, 1, 2, 6), (2, 3, 2, 1, 5), (2, 2, 1, 3, 4)],
)
def test_archinspect_conv(mode, nd, k, stride, dilation, n):
    conv = Conv(nd, 2, 3, k, stride=stride, dilation=dilation, boundary_mode=mode, key=KEY)
    shape = (2, *(n,) * nd)
    g = conv_geometry_of(conv, shape[1:])
    assert g == conv.conv_geometry(shape[1:])
    same_pattern(conv, g, shape)


@pytest.mark.parametrize("mode", ["periodic", "dirichlet", "neumann"])
@pytest.mark.parametrize("nd,k,stride,n", [(1, 3, 2, 4), (1, 4, 3, 3), (2, 3, 2, 3), (1, 3, 2, 1)])
def test_archinspect_upconv(mode, nd, k, stride, n):
    up = UpConv(nd, 2, 3, k, stride=stride, boundary_mode=mode, key=KEY)
    shape = (2, *(n,) * nd)
    g = up.conv_geometry(shape[1:])
    assert g.transposed and g.input_dilation == (stride,) * nd and g.stride == (1,) * nd
    assert output_sizes(g, shape[1:]) == (stride * n,) * nd
    same_pattern(up, g, shape)


EQX_CONVS = [
    dict(kernel_size=3, padding=1),
    dict(kernel_size=3, padding="SAME", padding_mode="CIRCULAR"),
    dict(kernel_size=4, padding="SAME", stride=2),
    dict(kernel_size=4, padding="SAME_LOWER", dilation=2, padding_mode="REFLECT"),
    dict(kernel_size=3, padding=((2, 0),), padding_mode="REPLICATE"),
    dict(kernel_size=2, padding="VALID", stride=3, groups=2),
    dict(kernel_size=3, padding=4, padding_mode="REFLECT"),  # mirrored more than once
]


@pytest.mark.parametrize("kw", EQX_CONVS, ids=lambda kw: repr(kw))
@pytest.mark.parametrize("nd", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2-D: test-all
def test_equinox_conv(kw, nd):
    kw = dict(kw)
    if nd == 2 and isinstance(kw.get("padding"), tuple):
        kw["padding"] = kw["padding"] * 2
    conv = eqx.nn.Conv(nd, 2, 4, key=KEY, **kw)
    shape = (2, *(5,) * nd)
    g = conv_geometry_of(conv, shape[1:])
    assert g is not None and not g.transposed
    same_pattern(conv, g, shape)


EQX_TRANSPOSED = [
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    dict(kernel_size=4, stride=3, padding="SAME", dilation=2),
    dict(kernel_size=2, stride=3, padding="SAME_LOWER"),
    dict(kernel_size=3, stride=2, padding="SAME", padding_mode="CIRCULAR"),
    dict(kernel_size=5, stride=3, padding="SAME", padding_mode="CIRCULAR", dilation=2),
    dict(kernel_size=1, stride=2, padding="SAME", padding_mode="CIRCULAR"),
    dict(kernel_size=3, stride=1, padding="VALID", groups=2),
]


@pytest.mark.parametrize("kw", EQX_TRANSPOSED, ids=lambda kw: repr(kw))
@pytest.mark.parametrize("nd", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2-D: test-all
def test_equinox_conv_transpose(kw, nd):
    conv = eqx.nn.ConvTranspose(nd, 2, 4, key=KEY, **kw)
    shape = (2, *(4,) * nd)
    g = conv_geometry_of(conv, shape[1:])
    assert g is not None and g.transposed and g.input_dilation == (kw["stride"],) * nd
    same_pattern(conv, g, shape)


def test_other_modules_have_no_geometry():
    assert conv_geometry_of(eqx.nn.Linear(3, 4, key=KEY), (3,)) is None
    assert conv_geometry_of(eqx.nn.GroupNorm(2, 4), (8,)) is None


# ---------------------------------------------------------------- through the CLI


CONVNET = ["configs/convnet.yaml", "--set", "model.depth=1", "--set", "model.hidden_channels=4"]
CONVNET += ["--set", "input.resolution=10"]


@pytest.mark.usefixtures("repo_root")
def test_shapes_json_has_the_conv_and_its_dense_equivalent():
    result = runner.invoke(app, ["shapes", *CONVNET, "-f", "json", "--dense-equivalent"])
    assert result.exit_code == 0, result.output
    layers = json.loads(result.stdout)["layers"]
    first = layers[1]
    assert first["conv"] == {
        "kernel_size": [3],
        "kernel_dilation": [1],
        "input_dilation": [1],
        "effective_kernel": [3],
        "stride": [1],
        "padding": [[1, 1]],
        "padding_mode": "circular",
        "groups": 1,
        "transposed": False,
    }
    # 1 -> 4 channels, 3 taps on 10 periodic cells: every output reads 3 distinct cells
    assert first["dense_equivalent"] == {
        "rows": 40,
        "cols": 10,
        "nonzeros": 10 * 3 * 4,
        "weights": 12,
        "sharing": 10.0,
    }
    # the root: the sums over its two convs (1 -> 4 -> 1), no matrix of its own
    assert "conv" not in layers[0]
    assert layers[0]["dense_equivalent"] == {
        "nonzeros": 120 + 120,
        "weights": 12 + 12,
        "sharing": 10.0,
    }
    plain = runner.invoke(app, ["shapes", *CONVNET, "-f", "json"])
    assert all("dense_equivalent" not in r for r in json.loads(plain.stdout)["layers"])


@pytest.mark.usefixtures("repo_root")
def test_shapes_table_shows_the_dense_columns():
    result = runner.invoke(app, ["shapes", *CONVNET, "--dense-equivalent"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if " module " in line)
    assert [c.strip() for c in header.strip("┃").split("┃")] == [
        "module",
        "type",
        "input",
        "output",
        "kernel",
        "stride",
        "padding",
        "params",
        "calls",
        "RF",
        "matrix",
        "non-zeros",
        "weights",
        "sharing",
    ]
    row = next(line for line in lines if " layers[0] " in line)
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells == [
        "layers[0]",
        "Conv",
        "1×10",
        "4×10",
        "3",
        "1",
        "(1,1) circular",
        "16",
        "1",
        "(1,1)",
        "40×10",
        "120",
        "12",
        "10.00",
    ]


@pytest.mark.usefixtures("repo_root")
def test_inspect_csv_has_the_dense_columns():
    args = ["inspect", *CONVNET, "--set", "model.boundary_mode=dirichlet", "-f", "csv"]
    result = runner.invoke(app, [*args, "--dense-equivalent"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0])[-4:] == ["matrix", "nonzeros", "weights", "sharing"]
    # zero padding: the end outputs lose a tap, 10 * 3 - 2 = 28 pairs per channel pair
    got = [(r["path"], r["padding"], r["matrix"], r["nonzeros"], r["weights"]) for r in rows]
    assert got == [
        ("", "", "", str(2 * 28 * 4), "24"),
        ("layers[0]", "(1,1)", "40x10", str(28 * 4), "12"),
        ("layers[1]", "(1,1)", "10x40", str(28 * 4), "12"),
    ]
    assert [r["sharing"] for r in rows] == [str(round(28 * 4 / 12, 6))] * 3
    plain = runner.invoke(app, args)
    assert "nonzeros" not in plain.stdout.splitlines()[0]


# family Sequential's own layers (archinspect/layers/stack.py), every padding form
STACK_CONVS = [
    dict(kernel_size=3),
    dict(kernel_size=4, stride=2, padding="SAME"),
    dict(kernel_size=3, padding="VALID", kernel_dilation=2),
    dict(kernel_size=3, padding="CIRCULAR", stride=2),
    dict(kernel_size=3, padding="REFLECT", kernel_dilation=2),
    dict(kernel_size=3, padding=2, input_dilation=2),
    dict(kernel_size=2, padding=((1, 0),), groups=2),
]
STACK_TRANSPOSED = [
    dict(kernel_size=3, stride=2),
    dict(kernel_size=4, stride=2, padding="VALID"),
    dict(kernel_size=3, stride=2, padding="CIRCULAR"),
    dict(kernel_size=5, stride=3, padding="CIRCULAR", kernel_dilation=2),
    dict(kernel_size=3, stride=2, padding=((2, 1),), groups=2),
]


def _per_axis(kw: dict, nd: int) -> dict:
    kw = dict(kw)
    if isinstance(kw.get("padding"), tuple):
        kw["padding"] = kw["padding"] * nd
    return kw


@pytest.mark.parametrize("kw", STACK_CONVS, ids=lambda kw: repr(kw))
@pytest.mark.parametrize("nd", [1, 2])
def test_sequential_conv(kw, nd):
    from archinspect.layers.stack import Conv as StackConv

    conv = StackConv(nd, 2, 4, key=KEY, **_per_axis(kw, nd))
    shape = (2, *(5,) * nd)
    g = conv_geometry_of(conv, shape[1:])
    assert g is not None and not g.transposed
    same_pattern(conv, g, shape)


@pytest.mark.parametrize("kw", STACK_TRANSPOSED, ids=lambda kw: repr(kw))
@pytest.mark.parametrize("nd", [1, 2])
def test_sequential_conv_transpose(kw, nd):
    from archinspect.layers.stack import ConvTranspose as StackConvTranspose

    conv = StackConvTranspose(nd, 2, 4, key=KEY, **_per_axis(kw, nd))
    shape = (2, *(4,) * nd)
    g = conv_geometry_of(conv, shape[1:])
    assert g is not None and g.transposed and g.input_dilation == (kw["stride"],) * nd
    same_pattern(conv, g, shape)


@pytest.mark.parametrize("k,dilation,n", [(2, 1, 5), (3, 2, 6), (2, 4, 3), (1, 1, 4)])
def test_tcn_causal_conv(k, dilation, n):
    from archinspect.models.tcn import CausalConv

    conv = CausalConv(2, 3, k, dilation=dilation, key=KEY)
    g = conv_geometry_of(conv, (n,))
    assert g is not None and g.padding == (((k - 1) * dilation, 0),)
    same_pattern(conv, g, (2, n))
