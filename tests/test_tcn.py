"""The TCN family (README "Families"): counts, receptive fields, shapes and errors, by hand.

Conventions used below, in 1-D with every conv biased:
- a conv of kernel k from a to b channels has b*a*k weights plus b biases; a 1x1 conv b*a + b;
- block i (i = 0, 1, ...) maps c_i -> c_{i+1} (c_0 = in_channels, c_{i+1} = num_channels[i])
  with conv_1 (c_i -> c_{i+1}, kernel k), conv_2 (c_{i+1} -> c_{i+1}, kernel k) and, only where
  c_i != c_{i+1}, a 1x1 bypass (c_i -> c_{i+1}); a final 1x1 conv maps c_last -> out_channels;
- block i's convs have dilation 2**i and are causal: padded by k_eff - 1 = (k - 1) * 2**i cells
  before the first cell and none after, so output cell t reads input cells t - (k-1)*2**i .. t.
  Two such convs reach 2*(k-1)*2**i cells into the past; the residual path and the 1x1 convs
  reach nothing. Receptive field: backward sum_i 2*(k-1)*2**i, forward 0.
"""

from __future__ import annotations

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from archinspect.build import build_abstract
from archinspect.cli import app
from archinspect.commands.count import count_report
from archinspect.commands.rf import rf_report
from archinspect.errors import SpecError
from archinspect.families import FAMILIES
from archinspect.report import ConvGeometry
from archinspect.spec.load import load_spec_text
from tests.conftest import slow_after

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def spec_of(resolution: int = 64, **model):
    model = {"family": "TCN", "num_spatial_dims": 1, **model}
    return load_spec_text(
        f"model: {json.dumps(model)}\ninput: {{resolution: {resolution}}}\n", "test.yaml"
    )


def count(**model) -> int:
    return count_report(spec_of(**model), depth=None).params.total


# --- parameter counts, by hand ----------------------------------------------------------------


def test_count_two_blocks_with_bypasses():
    expected = (
        (1 * 4 * 2 + 4)  # block 0 conv_1, 1 -> 4, k=2: 12
        + (4 * 4 * 2 + 4)  # block 0 conv_2, 4 -> 4: 36
        + (1 * 4 + 4)  # block 0 bypass 1x1, 1 -> 4: 8
        + (4 * 8 * 2 + 8)  # block 1 conv_1, 4 -> 8: 72
        + (8 * 8 * 2 + 8)  # block 1 conv_2, 8 -> 8: 136
        + (4 * 8 + 8)  # block 1 bypass 1x1, 4 -> 8: 40
        + (8 * 1 + 1)  # final 1x1, 8 -> 1: 9
    )
    assert expected == 313
    assert count(in_channels=1, out_channels=1, num_channels=[4, 8], kernel_size=2) == 313


def test_count_no_bypass_where_channels_stay():
    # in = 3 = every block's width: no block has a bypass.
    expected = (
        3 * (3 * 3 * 4 + 3) * 2  # three blocks, two 3 -> 3 convs of kernel 4 each: 3 * 78
        + (3 * 2 + 2)  # final 1x1, 3 -> 2: 8
    )
    assert expected == 242
    assert count(in_channels=3, out_channels=2, num_channels=[3, 3, 3], kernel_size=4) == 242


def test_count_the_shipped_config():
    # configs/tcn.yaml: in 1, four blocks of 32, k = 3, out 1.
    expected = (
        (1 * 32 * 3 + 32)  # block 0 conv_1: 128
        + (32 * 32 * 3 + 32)  # block 0 conv_2: 3,104
        + (1 * 32 + 32)  # block 0 bypass: 64
        + 3 * 2 * (32 * 32 * 3 + 32)  # blocks 1-3, two 32 -> 32 convs each: 18,624
        + (32 * 1 + 1)  # final 1x1: 33
    )
    assert expected == 21_953
    got = count(in_channels=1, out_channels=1, num_channels=[32, 32, 32, 32], kernel_size=3)
    assert got == 21_953


def test_count_defaults():
    # num_channels [32, 32, 32], kernel 2; in 2, out 5.
    expected = (
        (2 * 32 * 2 + 32)  # block 0 conv_1: 160
        + (32 * 32 * 2 + 32)  # block 0 conv_2: 2,080
        + (2 * 32 + 32)  # block 0 bypass: 96
        + 2 * 2 * (32 * 32 * 2 + 32)  # blocks 1-2: 8,320
        + (32 * 5 + 5)  # final 1x1: 165
    )
    assert expected == 10_821
    assert count(in_channels=2, out_channels=5) == 10_821


def reference_tcn(in_channels, out_channels, num_channels, kernel_size, key):
    """The same network from equinox.nn.Conv1d layers, independently of archinspect's."""
    widths = [in_channels, *num_channels]
    keys = iter(jax.random.split(key, 3 * len(num_channels) + 1))
    blocks = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        pad = ((kernel_size - 1) * 2**i, 0)
        blocks.append(
            (
                eqx.nn.Conv1d(a, b, kernel_size, dilation=2**i, padding=(pad,), key=next(keys)),
                eqx.nn.Conv1d(b, b, kernel_size, dilation=2**i, padding=(pad,), key=next(keys)),
                eqx.nn.Conv1d(a, b, 1, key=next(keys)) if a != b else None,
            )
        )
    return blocks, eqx.nn.Conv1d(widths[-1], out_channels, 1, key=next(keys))


CASES = [
    (1, 1, [4, 8], 2),
    (3, 2, [3, 3, 3], 4),
    (2, 3, [5], 3),
    (4, 1, [8, 4, 4, 6], 5),
    (1, 7, [16, 16, 32, 32, 8], 2),
]


@pytest.mark.parametrize(("c_in", "c_out", "channels", "k"), CASES)
def test_count_equals_a_network_of_equinox_convs(c_in, c_out, channels, k):
    reference = eqx.filter_eval_shape(
        lambda: reference_tcn(c_in, c_out, channels, k, jax.random.PRNGKey(0))
    )
    leaves = jax.tree_util.tree_leaves(reference)
    expected = sum(math.prod(leaf.shape) for leaf in leaves)
    got = count(in_channels=c_in, out_channels=c_out, num_channels=channels, kernel_size=k)
    assert got == expected


# --- the forward pass: causal, same length, equal to a direct NumPy computation ---------------


def build(c_in, c_out, channels, k, seed=1):
    spec = spec_of(in_channels=c_in, out_channels=c_out, num_channels=channels, kernel_size=k)
    return FAMILIES["TCN"].load_class()(**spec.args, key=jax.random.PRNGKey(seed))


def numpy_causal_conv(x, weight, bias, dilation):
    """y[o, t] = bias[o] + sum_{c, j} weight[o, c, j] * x[c, t - (k - 1 - j) * dilation],
    cells before the first being zero."""
    c_out, c_in, k = weight.shape
    n = x.shape[1]
    y = np.repeat(bias.reshape(c_out, 1), n, axis=1).astype(np.float64)
    for t in range(n):
        for j in range(k):
            s = t - (k - 1 - j) * dilation
            if s >= 0:
                y[:, t] += weight[:, :, j] @ x[:, s]
    return y


def numpy_forward(model, x):
    def conv(layer, v):
        w, b = np.asarray(layer.weight, np.float64), np.asarray(layer.bias, np.float64)
        return numpy_causal_conv(v, w, b, layer.dilation)

    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    for i, block in enumerate(model.blocks):
        assert block.conv_1.dilation == block.conv_2.dilation == 2**i
        h = relu(conv(block.conv_2, relu(conv(block.conv_1, x))))
        x = relu(h + (x if block.bypass is None else conv(block.bypass, x)))
    return conv(model.projection, x)


@pytest.mark.parametrize(("c_in", "c_out", "channels", "k"), slow_after(CASES[:4], 2))
def test_forward_equals_numpy_and_keeps_the_length(c_in, c_out, channels, k):
    model = build(c_in, c_out, channels, k)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (c_in, 40)), np.float64)
    # one compiled program (eager, every primitive would compile on its own)
    y = np.asarray(eqx.filter_jit(model)(jnp.asarray(x, jnp.float32)), np.float64)
    assert y.shape == (c_out, 40)
    np.testing.assert_allclose(y, numpy_forward(model, x), rtol=1e-4, atol=1e-5)


def test_changing_the_future_changes_no_earlier_output():
    model = build(2, 2, [4, 4, 4], 3)
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 64))
    forward = eqx.filter_jit(model)
    y = forward(x)
    y2 = forward(x.at[:, 40:].add(10.0))
    assert bool(jnp.all(y[:, :40] == y2[:, :40]))
    assert not bool(jnp.all(y[:, 40:] == y2[:, 40:]))


@pytest.mark.parametrize("n", [1, 7, 100])
def test_output_length_is_input_length(n):
    model = build_abstract(spec_of(in_channels=2, out_channels=3, num_channels=[4, 4, 4]))
    x = jax.ShapeDtypeStruct((2, n), jnp.float32)
    assert eqx.filter_eval_shape(lambda m, v: m(v), model, x).shape == (3, n)


# --- conv geometry -----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 5])
def test_conv_geometry_is_the_causal_padding(k):
    model = build_abstract(
        spec_of(in_channels=1, out_channels=2, num_channels=[4, 4, 6], kernel_size=k)
    )
    for i, block in enumerate(model.blocks):
        c_in = [1, 4, 4][i]
        c_out = [4, 4, 6][i]
        pad = (k - 1) * 2**i
        assert block.conv_1.conv_geometry((50,)) == ConvGeometry(
            kernel_size=(k,),
            kernel_dilation=(2**i,),
            input_dilation=(1,),
            stride=(1,),
            padding=((pad, 0),),
            padding_mode="zeros",
            groups=1,
            in_channels=c_in,
            out_channels=c_out,
        )
        g = block.conv_2.conv_geometry((50,))
        assert (g.in_channels, g.out_channels, g.padding) == (c_out, c_out, ((pad, 0),))
        assert g.effective_kernel == (pad + 1,)
        # VALID arithmetic on the padded input gives the input length back.
        assert (50 + pad + 0 - g.effective_kernel[0]) // 1 + 1 == 50
    assert [b.bypass is None for b in model.blocks] == [False, True, False]
    assert model.blocks[0].bypass.conv_geometry((50,)).padding == ((0, 0),)
    assert model.projection.conv_geometry((50,)) == ConvGeometry(
        (1,), (1,), (1,), (1,), ((0, 0),), "zeros", 1, 6, 2
    )


# --- receptive fields, by hand, by all three methods -------------------------------------------


@pytest.mark.parametrize(
    ("k", "blocks", "backward"),
    [
        (2, 1, 2 * 1 * 1),  # 2
        (2, 3, 2 * 1 * (1 + 2 + 4)),  # 14
        (3, 2, 2 * 2 * (1 + 2)),  # 12
        (3, 4, 2 * 2 * (1 + 2 + 4 + 8)),  # 60
        (4, 3, 2 * 3 * (1 + 2 + 4)),  # 42
        (5, 5, 2 * 4 * (1 + 2 + 4 + 8 + 16)),  # 248: longer than the 64-cell input
        (1, 3, 0),  # 1-tap convs: no reach at all
    ],
)
def test_receptive_field_by_hand(k, blocks, backward):
    spec = spec_of(
        in_channels=2, out_channels=1, num_channels=[3] * (blocks - 1) + [2], kernel_size=k
    )
    report = rf_report(spec, method="both")
    assert report.methods == ("structural", "empirical", "analytic")
    assert report.result.per_axis == ((backward, 0),)
    assert report.result.position_range == (((backward, backward), (0, 0)),)
    assert report.result.period == (1,)
    assert report.result.global_ is False
    # The analysis grows the 64-cell input when the field would reach its start everywhere.
    assert report.result.analysed_shape[1] >= max(64, backward)


def test_receptive_field_does_not_depend_on_the_widths():
    for channels in ([1, 1, 1], [8, 2, 16]):
        spec = spec_of(in_channels=1, out_channels=1, num_channels=channels, kernel_size=3)
        assert rf_report(spec, method="both").result.per_axis == ((2 * 2 * 7, 0),)


# --- errors, literally -------------------------------------------------------------------------

TWO_D = """\
model:
  family: TCN
  num_spatial_dims: 2
  in_channels: 1
  out_channels: 1
"""


def test_two_dimensions_is_a_located_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tcn2.yaml").write_text(TWO_D, encoding="utf-8")
    result = invoke("count", "tcn2.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: tcn2.yaml is not a valid archinspect spec (1 problem)\n"
        "tcn2.yaml:3:21: model.num_spatial_dims: must be 1 for a TCN (it is causal along one "
        "time axis), got 2\n"
    )


def test_two_dimensions_from_the_command_line(repo_root):
    result = invoke("count", "configs/tcn.yaml", "--set", "model.num_spatial_dims=3")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: configs/tcn.yaml is not a valid archinspect spec (2 problems)\n"
        "configs/tcn.yaml:18:10: budget.receptive_field.min: needs one entry per spatial axis (3), "
        "got [[60, 0]]\n"
        "--set model.num_spatial_dims=3: model.num_spatial_dims: must be 1 for a TCN (it is "
        "causal along one time axis), got 3\n"
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("dropout", "1", "must be a number with 0 <= p < 1, got 1"),
        ("dropout", "-0.1", "must be a number with 0 <= p < 1, got -0.1"),
        ("dropout", "true", "must be a number with 0 <= p < 1, got true"),
        ("kernel_size", "0", "must be a positive integer, got 0"),
        ("num_channels", "[]", "must be a non-empty list of positive integers, got []"),
        ("num_channels", "[4, 0]", "must be a list of positive integers, got [4, 0]"),
    ],
)
def test_bad_arguments(repo_root, key, value, message):
    result = invoke("validate", "configs/tcn.yaml", "--set", f"model.{key}={value}")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: configs/tcn.yaml is not a valid archinspect spec (1 problem)\n"
        f"--set model.{key}={value}: model.{key}: {message}\n"
    )


def test_a_dropout_of_zero_is_fine_and_counts_nothing():
    with_dropout = count(in_channels=1, out_channels=1, num_channels=[4, 8], dropout=0.5)
    without = count(in_channels=1, out_channels=1, num_channels=[4, 8], dropout=0)
    assert with_dropout == without == 313


def test_the_model_itself_refuses_two_dimensions():
    with pytest.raises(ValueError, match=r"^a TCN is 1-D: num_spatial_dims must be 1, got 2$"):
        FAMILIES["TCN"].load_class()(2, 1, 1, key=jax.random.PRNGKey(0))


def test_spec_validation_raises_spec_error():
    with pytest.raises(SpecError, match=r"model\.num_spatial_dims: must be 1 for a TCN"):
        load_spec_text(TWO_D, "t.yaml")


# --- the declaration ---------------------------------------------------------------------------


def test_declaration():
    family = FAMILIES["TCN"]
    assert family.separable is True
    assert family.defaults() == {"num_channels": [32, 32, 32], "kernel_size": 2, "dropout": 0.2}
    assert family.arg("kernel_size").sweep == (2, 3, 4, 5)
    assert family.arg("num_channels").sweep is None
    assert family.notes[0] == "causal: every output depends only on the present and the past"


# --- the shipped config through the CLI --------------------------------------------------------


@pytest.mark.usefixtures("repo_root")
class TestShippedConfig:
    def test_count(self):
        result = invoke("count", "configs/tcn.yaml", "--format", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["family"] == "TCN"
        assert data["params"]["total"] == 21_953

    def test_rf_by_three_methods(self):
        result = invoke("rf", "configs/tcn.yaml", "--method", "both", "--format", "json")
        assert result.exit_code == 0, result.output
        rf = json.loads(result.stdout)["receptive_field"]
        assert rf["per_axis"] == [[2 * 2 * 15, 0]]  # k = 3, four blocks: 60
        assert rf["methods"] == ["structural", "empirical", "analytic"]
        assert rf["analysed_shape"] == [1, 256]

    def test_shapes(self):
        result = invoke("shapes", "configs/tcn.yaml", "--format", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["input_shape"] == [1, 256]
        assert data["output_shape"] == [1, 256]

    def test_check(self):
        result = invoke("check", "configs/tcn.yaml", "--format", "json")
        assert result.exit_code == 0, result.output
        results = json.loads(result.stdout)["results"]
        assert [(r["budget"], r["actual"], r["ok"]) for r in results] == [
            ("max_params", 21_953, True),
            ("receptive_field.min", [[60, 0]], True),
        ]

    def test_sweep_kernel_size(self):
        result = invoke("sweep", "configs/tcn.yaml", "--param", "kernel_size", "--format", "json")
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)["rows"]
        # 32k+32 + 1024k+32 + 64 + 3*2*(1024k+32) + 33 = 7200k + 353; RF 2*(k-1)*15.
        assert [(r["kernel_size"], r["params"], r["receptive_field"]) for r in rows] == [
            (k, 7200 * k + 353, [[30 * (k - 1), 0]]) for k in (2, 3, 4, 5)
        ]
