"""Inputs of any shape (README "Inputs of any shape"): vectors, sequences with the features
last, scalar and integer inputs, several positional inputs, and input.dtype reaching the model.

Every spec is under tests/specs/inputs and run through the CLI; counts and shapes are derived
by hand here and checked against equinox itself (the module built concretely and called), the
receptive field along a sequence against the perturbation oracle (tests/rf_oracle.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from tests.conftest import slow_after
from tests.inputs_models import SeqConv, Tokens
from tests.rf_oracle import oracle

ROOT = Path(__file__).resolve().parent.parent
SPECS = "tests/specs/inputs"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def cli(*args: str, code: int = 0):
    result = runner.invoke(app, [*args, "--trust", "tests"])
    assert result.exit_code == code, result.output
    return result


def shapes(name: str) -> dict:
    return json.loads(cli("shapes", f"{SPECS}/{name}.yaml", "--format", "json").stdout)


def count(name: str, *options: str) -> dict:
    return json.loads(cli("count", f"{SPECS}/{name}.yaml", *options, "--format", "json").stdout)


def rows(report: dict) -> list[tuple]:
    """(path, type, input shape, or all input shapes when several, output shape) per row."""
    out = []
    for r in report["layers"]:
        given = r["input_shape"] if r["input_shape"] is not None else r["input_shapes"]
        out.append((r["path"], r["type"], given, r["output_shape"]))
    return out


def n_params(module: eqx.Module) -> int:
    """The oracle: equinox's own arrays, counted."""
    return sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(module, eqx.is_array)))


KEY = jax.random.PRNGKey(0)
NO_AXIS = (
    "receptive field not available: the input has no spatial axis (its only axis holds "
    "features, or it is a scalar): a receptive field is measured along spatial axes; a sequence "
    "has one, e.g. input.shape [L, D] with input.layout channels_last"
)


def test_linear_vector_input():
    report = shapes("linear")
    assert rows(report) == [("", "Linear", [16], [32])]
    assert report["layers"][0]["params"] == 16 * 32 + 32 == 544
    assert report["notes"] == [NO_AXIS]
    # count's receptive field, on by default, is left out quietly where there is no spatial
    # axis; asked for with --rf, the note says why there is none
    default, asked = count("linear"), count("linear", "--rf")
    assert default["params"]["total"] == asked["params"]["total"] == 544
    assert (default["notes"], asked["notes"]) == ([], [NO_AXIS])
    assert "receptive_field" not in default and "receptive_field" not in asked
    linear = eqx.nn.Linear(16, 32, key=KEY)
    assert n_params(linear) == 544 and linear(jnp.ones(16)).shape == (32,)


def test_mlp_vector_input():
    report = shapes("mlp")
    assert rows(report) == [
        ("", "MLP", [16], [4]),
        ("layers[0]", "Linear", [16], [32]),
        ("layers[1]", "Linear", [32], [32]),
        ("layers[2]", "Linear", [32], [4]),
    ]
    total = (16 * 32 + 32) + (32 * 32 + 32) + (32 * 4 + 4)  # 544 + 1,056 + 132
    assert total == 1_732
    assert [r["params"] for r in report["layers"]] == [total, 544, 1_056, 132]
    mlp = eqx.nn.MLP(16, 4, 32, 2, key=KEY)
    assert n_params(mlp) == total and mlp(jnp.ones(16)).shape == (4,)


def test_embedding_scalar_integer_input():
    report = shapes("embedding")
    assert rows(report) == [("", "Embedding", [], [8])]
    assert report["dtype"] == "int32"
    assert report["layers"][0]["params"] == 100 * 8
    assert report["notes"] == [NO_AXIS]
    emb = eqx.nn.Embedding(100, 8, key=KEY)
    assert n_params(emb) == 800 and emb(jnp.array(3, jnp.int32)).shape == (8,)


def test_gru_cell_two_positional_inputs():
    report = shapes("gru")
    # the root row shows both inputs (JSON lists them under input_shapes)
    assert rows(report) == [("", "GRUCell", [[6], [10]], [10])]
    # weight_ih 3·10·6 + weight_hh 3·10·10 + bias 3·10 + bias_n 10
    total = 3 * 10 * 6 + 3 * 10 * 10 + 3 * 10 + 10
    assert total == 520
    assert report["layers"][0]["params"] == total
    assert count("gru")["params"]["total"] == total
    gru = eqx.nn.GRUCell(6, 10, key=KEY)
    assert n_params(gru) == total and gru(jnp.ones(6), jnp.zeros(10)).shape == (10,)


def test_sequence_features_last():
    report = shapes("sequence")
    # the model and its convs see their own shapes: (L, D) at the root, (D, L) inside
    assert rows(report) == [
        ("", "SeqConv", [20, 8], [20, 8]),
        ("conv", "Conv1d", [8, 20], [12, 20]),
        ("out", "Conv1d", [12, 20], [8, 20]),
    ]
    conv, out = 8 * 12 * 3 + 12, 12 * 8 * 1 + 8  # 300, 104
    assert [r["params"] for r in report["layers"]] == [conv + out, conv, out]
    # the RF is along the sequence axis, the only spatial one: k3 pad 1, then k1
    assert report["receptive_field"]["per_axis"] == [[1, 1]]
    model = SeqConv(8, 12, KEY)
    assert n_params(model) == 404 and model(jnp.ones((20, 8))).shape == (20, 8)


def test_sequence_rf_matches_the_oracle():
    rf = json.loads(cli("rf", f"{SPECS}/sequence.yaml", "--format", "json").stdout)
    model = SeqConv(8, 12, KEY)
    # the oracle perturbs the channels-first view (D, L) of the features-last input
    per_axis, _ = oracle(lambda x: model(x.T).T, (8, 20))
    assert [tuple(p) for p in rf["receptive_field"]["per_axis"]] == list(per_axis) == [(1, 1)]


def test_token_sequence_is_shaped_and_counted():
    report = shapes("tokens")
    assert rows(report) == [("", "Tokens", [30], [4, 30]), ("conv", "Conv1d", [4, 30], [4, 30])]
    total = 50 * 4 + (4 * 4 * 5 + 4)  # embedding 200 + conv 84
    assert report["layers"][0]["params"] == total == 284
    model = Tokens(50, 4, KEY)
    assert n_params(model) == total
    assert model(jnp.zeros(30, jnp.int32)).shape == (4, 30)
    # Embedding lookups read data-dependent cells: the field is not available, and count
    # (its field on by default) and shapes say why in the same note, worded as a note
    why = (
        "receptive field not available: 'gather' in the root module (Tokens) uses indices "
        "computed from the data; only indexing fixed at trace time is analysed"
    )
    counted = count("tokens")
    assert report["notes"] == counted["notes"] == [why]
    assert counted["params"]["total"] == total and "receptive_field" not in counted


def test_integer_input_refused_by_the_empirical_rf():
    result = cli("rf", f"{SPECS}/tokens.yaml", "--method", "empirical", code=2)
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {SPECS}/tokens.yaml:9:10: input.dtype: rf --method empirical needs "
        "a real-valued input (it measures the gradient of the output with respect to the "
        "input), got 'int32'; use --method structural\n"
    )


def test_rf_of_an_input_without_spatial_axis_is_refused():
    result = cli("rf", f"{SPECS}/linear.yaml", code=2)
    assert result.stderr == f"error: {SPECS}/linear.yaml: {NO_AXIS.split(': ', 1)[1]}\n"


def test_bf16_input_gives_a_bf16_model():
    report = shapes("conv_bf16")
    layer = report["layers"][0]
    assert (layer["type"], layer["output_shape"], layer["output_dtypes"]) == (
        "Conv2d",
        [8, 14, 14],  # 16 - 3 + 1
        ["bfloat16"],
    )
    assert layer["params"] == 8 * 3 * 3 * 3 + 8 == 224
    # the structural RF traces with the model's bfloat16: a 3×3 valid conv reads (1, 1) per axis
    assert report["receptive_field"]["per_axis"] == [[1, 1], [1, 1]]
    table = cli("shapes", f"{SPECS}/conv_bf16.yaml").stdout
    assert "│ dtype │" in table.replace("┃", "│") and "bf16" in table
    params = count("conv_bf16")["params"]
    assert params["by_dtype"] == {"bfloat16": 224}
    assert params["bytes"] == 224 * 2
    conv = eqx.nn.Conv2d(3, 8, 3, dtype=jnp.bfloat16, key=KEY)
    assert conv(jnp.ones((3, 16, 16), jnp.bfloat16)).dtype == jnp.bfloat16


def test_a_float32_table_has_no_dtype_column():
    table = cli("shapes", f"{SPECS}/sequence.yaml").stdout
    assert " dtype " not in table


@pytest.mark.parametrize(
    ("shape", "layout", "message"),
    [
        (
            "[[6], 10]",
            "channels_first",
            "input.shape: must be a list of positive integers, its axes (none for a scalar) in "
            "the input.layout's order, optionally after a leading 'batch' (the model is called "
            "with a batch axis), or a list of such shapes, one per input, got [[6], 10]",
        ),
        (
            "[]",
            "channels_last",
            "input.layout: must be 'no_channels' (or left out) for a scalar input (input.shape "
            "[]), got 'channels_last'",
        ),
    ],
)
def test_bad_input_shapes_are_located(tmp_path, shape, layout, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "model:\n  target: equinox.nn.GRUCell\n  input_size: 6\n  hidden_size: 10\n"
        f"input:\n  shape: {shape}\n  layout: {layout}\n"
    )
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert message in result.stderr


def test_int64_says_why():
    result = runner.invoke(app, ["validate", f"{SPECS}/tokens.yaml", "--set", "input.dtype=int64"])
    assert result.exit_code == 2
    assert "got 'int64' (64-bit integers need JAX's x64 mode, which archinspect leaves off)" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "name", slow_after(["gru", "sequence", "linear", "embedding", "tokens"], keep=2)
)
def test_inspect_runs_for_every_kind_of_input(name):
    report = json.loads(cli("inspect", f"{SPECS}/{name}.yaml", "--format", "json").stdout)
    assert report["flops"]["forward"] > 0
    assert report["memory"]["train_step"]["peak_bytes"] > 0


def test_a_float_module_inside_an_integer_model_is_costed_with_floats():
    report = json.loads(cli("inspect", f"{SPECS}/tokens.yaml", "--format", "json").stdout)
    conv_row = next(r for r in report["layers"] if r["path"] == "conv")
    conv = Tokens(50, 4, KEY).conv
    # the oracle: XLA's cost analysis of the conv alone, on the float32 (4, 30) it is called with
    lowered = jax.jit(lambda x: conv(x)).lower(jax.ShapeDtypeStruct((4, 30), jnp.float32))
    assert conv_row["flops"] == int(lowered.cost_analysis()["flops"])


def test_float64_input_gives_float64_weights():
    result = cli("count", f"{SPECS}/conv_bf16.yaml", "--set", "input.dtype=float64", "-f", "json")
    params = json.loads(result.stdout)["params"]
    assert params["by_dtype"] == {"float64": 8 * 3 * 3 * 3 + 8}
    assert params["bytes"] == 224 * 8


def make_flax_like(rngs):
    """Takes `rngs=`: a Flax NNX constructor to archinspect (never called here)."""
    raise AssertionError("not built: the spec is refused first")


def test_no_channels_is_refused_for_a_flax_model(tmp_path):
    spec = tmp_path / "flax.yaml"
    spec.write_text(
        "model:\n  target: tests.test_inputs_shapes:make_flax_like\n"
        "input:\n  shape: [30]\n  layout: no_channels\n"
    )
    result = runner.invoke(app, ["count", str(spec), "--trust", "tests"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {spec}: model.target 'tests.test_inputs_shapes:make_flax_like' is a Flax NNX "
        "model, which takes one input with a feature axis; input.layout no_channels and a list "
        "of input shapes are for Equinox modules\n"
    )
