"""The Python API (README "Python API"): `archinspect.count`, `shapes`, `receptive_field` and
`inspect` on live models give the numbers the CLI gives for the same spec, on every shipped
config; the reports show themselves as the CLI's table (Rich), as an HTML table (Jupyter) and
as the CLI's JSON; plain functions have hand-worked receptive fields; bad arguments are refused
with messages that name the argument, its value and what is allowed."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import archinspect
from archinspect.build import build_abstract, constructor
from archinspect.cli import app
from archinspect.errors import ArchinspectError, ArgumentError
from archinspect.spec import load_spec
from tests.conftest import ROOT

CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").glob("*.yaml"))
# The API and the CLI share every use case: a few configs every time (the UNet, a Flax model,
# a target), every config with `make test-all` (ModernUNet's takes seconds per comparison)
EVERY_TIME = ("configs/unet.yaml", "configs/flax_tcn.yaml", "configs/pdequinox_unet.yaml")
CASES = [c if c in EVERY_TIME else pytest.param(c, marks=pytest.mark.slow) for c in CONFIGS]
runner = CliRunner()


def cli_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def live(config: str):
    """The config's model, built as the CLI builds it, and its input as a ShapeDtypeStruct."""
    spec = load_spec(config, [])
    return spec, build_abstract(spec), jax.ShapeDtypeStruct(spec.input_shape, spec.input.dtype)


def assert_same(api: dict, cli: dict) -> None:
    """Every key both have is equal, except the name and the spec file the live model lacks;
    the API has every key of the CLI but a `target:`'s import path."""
    keys = (api.keys() & cli.keys()) - {"name", "spec"}
    assert {k: api[k] for k in keys} == {k: cli[k] for k in keys}
    assert cli.keys() - api.keys() <= {"target"}
    assert api["spec"] is None


# ---------------------------------------------------------------- the CLI's numbers


@pytest.mark.usefixtures("repo_root")
@pytest.mark.parametrize("config", CONFIGS)
def test_count_equals_the_cli_on_every_config(config: str):
    _, model, x = live(config)
    api = archinspect.count(model, x).to_dict()
    cli = cli_json("count", config)
    assert_same(api, cli)
    assert api["params"]["total"] == cli["params"]["total"] > 0
    assert api["layers"] == cli["layers"] and api["layers"]


@pytest.mark.usefixtures("repo_root")
@pytest.mark.parametrize("config", CASES)
def test_shapes_equal_the_cli_on_every_config(config: str):
    _, model, x = live(config)
    api = archinspect.shapes(model, x).to_dict()
    cli = cli_json("shapes", config)
    assert_same(api, cli)
    assert [r["output_shape"] for r in api["layers"]] == [r["output_shape"] for r in cli["layers"]]


@pytest.mark.usefixtures("repo_root")
@pytest.mark.parametrize("config", CASES)
def test_receptive_field_equals_the_cli_on_every_config(config: str):
    _, model, x = live(config)
    api = archinspect.receptive_field(model, x).to_dict()
    cli = cli_json("rf", config)
    assert_same(api, cli)
    assert api["receptive_field"]["per_axis"] == cli["receptive_field"]["per_axis"]
    assert api["receptive_field"]["position_range"] == cli["receptive_field"]["position_range"]


@pytest.mark.usefixtures("repo_root")
@pytest.mark.parametrize("config", ["configs/convnet.yaml", "configs/mlp.yaml"])
def test_inspect_flops_and_memory_equal_the_cli(config: str):
    _, model, x = live(config)
    report = archinspect.inspect(model, x)
    api = report.to_dict()
    cli = cli_json("inspect", config)
    assert_same(api, cli)
    assert api["flops"]["forward"] == cli["flops"]["forward"] > 0
    shown = f"{api['flops']['forward']:,}"
    assert "FLOPs, forward" in _rich(report) and shown in _rich(report)
    assert "FLOPs, forward" in report._repr_html_() and shown in report._repr_html_()
    assert [r.get("flops") for r in api["layers"]] == [r.get("flops") for r in cli["layers"]]


@pytest.mark.usefixtures("repo_root")
def test_inspect_without_costs_compiles_nothing_and_still_counts():
    _, model, x = live("configs/convnet.yaml")
    report = archinspect.inspect(model, x, flops=False, memory=False)
    data = report.to_dict()
    assert "flops" not in data and "memory" not in data
    assert data["params"]["total"] == 7_169
    memory_only = archinspect.inspect(model, x, flops=False).to_dict()
    assert "flops" not in memory_only
    assert memory_only["memory"]["param_bytes"] == 4 * 7_169
    assert all("flops" not in r for r in memory_only["layers"])


@pytest.mark.usefixtures("repo_root")
def test_count_without_an_input_has_no_input_shape():
    _, model, _ = live("configs/unet.yaml")
    report = archinspect.count(model)
    data = report.to_dict()
    assert (data["spec"], data["input_shape"], data["num_spatial_dims"]) == (None, None, None)
    assert data["name"] == "model" and data["family"] == "ClassicUNet"
    assert data["params"]["total"] == 2_357_441
    assert _rich(report).splitlines()[0] == "model · ClassicUNet"


def test_count_adds_the_receptive_field_when_given_an_input():
    """Two SAME convs, kernels 3 and 5: 1 cell each way, then 1 + 2 = 3 (README "Python
    API"); with `rf=False`, or without `x`, parameters alone."""
    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    model = eqx.nn.Sequential(
        [
            eqx.nn.Conv1d(2, 4, 3, padding=1, key=key1),
            eqx.nn.Conv1d(4, 1, 5, padding=2, key=key2),
        ]
    )
    total = (2 * 4 * 3 + 4) + (4 * 1 * 5 + 1)
    report = archinspect.count(model, (2, 32))
    assert report.params.total == total == 49
    assert report.receptive_field is not None and report.receptive_field.per_axis == ((3, 3),)
    assert [(r.path, r.rf) for r in report.rows if r.path] == [
        ("layers", None),
        ("layers[0]", ((1, 1),)),
        ("layers[1]", ((3, 3),)),
    ]
    for plain in (archinspect.count(model, (2, 32), rf=False), archinspect.count(model)):
        assert plain.params.total == total and plain.receptive_field is None
        assert all(r.rf is None for r in plain.rows)


class _Misfed(eqx.Module):
    """A 1-D conv handed a 3-D array: its forward pass fails on every input."""

    conv: eqx.nn.Conv1d

    def __call__(self, x):
        return self.conv(x[:, :, None])


def test_count_of_a_model_whose_forward_pass_fails_keeps_its_totals():
    """As `archinspect count`: the totals stand (3 taps + 1 bias) and two notes say what was
    not measured; `rf=True` makes the failure the error every other call raises."""
    model = _Misfed(eqx.nn.Conv1d(1, 1, 3, key=jax.random.PRNGKey(0)))
    report = archinspect.count(model, (1, 16))
    assert report.params.total == 3 + 1 and report.receptive_field is None
    assert report.notes[-1] == "receptive field not available: the forward pass fails (see above)"
    assert report.notes[0].startswith("materialized not measured: the forward pass fails on input")
    with pytest.raises(ArchinspectError, match="^error: archinspect.count: the forward pass of"):
        archinspect.count(model, (1, 16), rf=True)


@pytest.mark.usefixtures("repo_root")
def test_a_live_model_is_measured_as_its_family_declares_without_an_analytic_method():
    """The empirical method takes the class's declared separability, as `archinspect rf` takes
    the family's (no more work than the CLI); a live model has no arguments to compose the
    analytic receptive field from, so `both` is the two independent methods."""
    from archinspect.families import class_separable

    _, model, x = live("configs/convnet.yaml")
    assert class_separable(model) is True
    assert class_separable(live("configs/conv_knobs.yaml")[1]) is None  # depends on its layers
    assert class_separable(eqx.nn.Identity()) is None
    api = archinspect.receptive_field(model, x, method="both").to_dict()["receptive_field"]
    cli = cli_json("rf", "configs/convnet.yaml", "--method", "both")["receptive_field"]
    assert (api["methods"], cli["methods"]) == (
        ["structural", "empirical"],
        ["structural", "empirical", "analytic"],
    )
    assert api["per_axis"] == cli["per_axis"]


# ---------------------------------------------------------------- abstract and concrete


@pytest.mark.usefixtures("repo_root")
def test_an_abstract_and_a_concrete_model_give_equal_reports():
    spec, abstract, _ = live("configs/convnet.yaml")
    make, kwargs = constructor(spec)
    concrete = make(**kwargs, key=jax.random.PRNGKey(1))
    assert isinstance(jax.tree_util.tree_leaves(concrete)[0], jax.Array)
    x = jnp.ones(spec.input_shape)  # an array, a ShapeDtypeStruct and a shape tuple alike
    assert archinspect.count(abstract).to_dict() == archinspect.count(concrete).to_dict()
    assert (
        archinspect.shapes(abstract, spec.input_shape).to_dict()
        == archinspect.shapes(concrete, x).to_dict()
    )
    assert (
        archinspect.receptive_field(abstract, jax.ShapeDtypeStruct(x.shape, x.dtype)).to_dict()
        == archinspect.receptive_field(concrete, x).to_dict()
    )


# ---------------------------------------------------------------- how reports show themselves


def _rich(report, width: int = 120) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, no_color=True)
    console.print(report)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


@pytest.mark.usefixtures("repo_root")
def test_rich_shows_the_cli_table_at_the_consoles_width():
    _, model, x = live("configs/unet.yaml")
    report = archinspect.count(model, x, name="unet-2d")
    golden = (ROOT / "tests" / "golden" / "count_unet.table.txt").read_text(encoding="utf-8")
    assert _rich(report) == golden  # the CLI's `archinspect count configs/unet.yaml`
    narrow = _rich(report, width=80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "2,357,441" in narrow


@pytest.mark.usefixtures("repo_root")
def test_rich_shows_shapes_and_rf_as_the_cli_does():
    _, model, x = live("configs/textbook_conv2d.yaml")
    shapes = archinspect.shapes(model, x, name="textbook-conv2d")
    expected = runner.invoke(app, ["shapes", "configs/textbook_conv2d.yaml"]).stdout
    assert _rich(shapes) == expected
    rf = archinspect.receptive_field(model, x, name="textbook-conv2d")
    expected = runner.invoke(app, ["rf", "configs/textbook_conv2d.yaml"]).stdout
    assert _rich(rf) == expected


class _Tables(HTMLParser):
    """The cells of every <table>: a list of rows (header rows included) per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.caption = ""
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption:
            self.caption += data


def _html_tables(report) -> _Tables:
    parser = _Tables()
    parser.feed(report._repr_html_())
    parser.close()
    return parser


@pytest.mark.usefixtures("repo_root")
def test_a_notebook_shows_the_count_as_an_html_table():
    _, model, x = live("configs/unet.yaml")
    report = archinspect.count(model, x)  # the last expression of a notebook cell
    parsed = _html_tables(report)
    assert parsed.caption == "model · ClassicUNet · 2-D · input 1×128×128"
    table, summary = parsed.tables
    assert table[0] == ["module", "type", "own", "params", "arrays", "RF"]
    # the network's field is the CLI's (tests/golden/count_unet.table.txt); the first 3x3
    # conv reaches 1 cell each way on both axes
    assert table[1] == ["(total)", "ClassicUNet", "0", "2,357,441", "", "(122,122) (122,122)"]
    conv = ["lifting.conv_1", "Conv", "160", "160", "weight f32[16,1,3,3], bias f32[16,1,1]"]
    assert [*conv, "(1,1) (1,1)"] in table
    assert len(table) == 1 + len(report.rows)
    plain, _ = _html_tables(archinspect.count(model, x, rf=False)).tables
    assert plain[0] == ["module", "type", "own", "params", "arrays"] and conv in plain
    assert summary[0] == ["total parameters", "2,357,441", "exact"]
    assert '<td style="text-align: left; padding-left: 1.5em">lifting.conv_1</td>' in (
        report._repr_html_()
    )


@pytest.mark.usefixtures("repo_root")
def test_a_notebook_shows_shapes_and_rf_as_html_tables():
    _, model, x = live("configs/textbook_conv2d.yaml")
    table, summary = _html_tables(archinspect.shapes(model, x)).tables
    assert table[0] == [
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
    ]
    assert table[3] == ["layers[1]", "Conv", "1×6×7", "1×4×4", "3×4", "1×1", "(0,0)×2"] + [
        "12",
        "1",
        "(1,1) (1,3)",
    ]
    assert ["receptive field", "", "(2,2) (2,4) (backward, forward) per axis"] in summary
    table, _ = _html_tables(archinspect.receptive_field(model, x)).tables
    assert table[0][:3] == ["axis", "backward", "forward"]
    assert table[1:] == [["0", "2", "2", "2", "2", "1"], ["1", "2", "4", "2", "4", "1"]]


def test_html_escapes_every_text():
    report = archinspect.receptive_field(lambda x: x, (1, 8))
    html = report._repr_html_()
    assert "function · &lt;lambda&gt; · 1-D" in html and "<lambda>" not in html
    assert _html_tables(report).caption.startswith("function · <lambda> · 1-D")


def test_to_json_is_the_text_to_dict_parses():
    report = archinspect.receptive_field(lambda x: x, (1, 8))
    assert json.loads(report.to_json()) == report.to_dict()
    assert report.to_json().endswith("}\n")


# ---------------------------------------------------------------- plain functions by hand


def stencil(x):
    return x + jnp.roll(x, 1, -1) + jnp.roll(x, -2, -1)


def test_a_stencil_function_reaches_one_cell_back_and_two_forward():
    report = archinspect.receptive_field(stencil, jnp.zeros((1, 32)))
    r = report.result
    assert r.per_axis == ((1, 2),)
    assert r.position_range == (((1, 1), (2, 2)),)
    assert (r.period, r.global_) == ((1,), False)
    assert (report.name, report.family) == ("function", "stencil")


def test_a_stencil_function_empirically_and_by_both_methods():
    for method in ("empirical", "both"):
        report = archinspect.receptive_field(stencil, (1, 32), method)
        assert report.result.per_axis == ((1, 2),)
    assert report.methods == ("structural", "empirical")


def test_a_strided_slice_keeps_one_cell_in_two():
    """y[j] = x[2j]: no neighbour is read; the stencil repeats every 2 input cells."""
    report = archinspect.receptive_field(lambda x: x[:, ::2], (3, 16))
    assert report.result.per_axis == ((0, 0),)
    assert report.result.position_range == (((0, 0), (0, 0)),)
    assert report.result.period == (2,)
    window = archinspect.receptive_field(lambda x: x[:, ::2] + x[:, 1::2], (3, 16))
    # y[j] = x[2j] + x[2j + 1]: one cell forward of the cell it sits on
    assert window.result.per_axis == ((0, 1),)
    assert window.result.position_range == (((0, 0), (1, 1)),)


def test_a_channels_last_function_is_reported_per_spatial_axis():
    def f(x):  # (height, width, channels)
        return jnp.roll(x, 1, 0) + jnp.roll(x, -2, 1) + x.sum(-1, keepdims=True)

    report = archinspect.receptive_field(f, (8, 12, 3), layout="channels_last")
    assert report.input_shape == (3, 8, 12)
    assert report.result.per_axis == ((1, 0), (0, 2))
    cf = archinspect.receptive_field(
        lambda x: jnp.roll(x, 1, 1) + jnp.roll(x, -2, 2) + x.sum(0, keepdims=True), (3, 8, 12)
    )
    assert cf.result.per_axis == report.result.per_axis
    centred = archinspect.receptive_field(lambda x: x - x.mean(), (16, 1), layout="channels_last")
    assert [(g.path, g.type) for g in centred.result.global_via] == [("", "Function")]


def test_a_channels_last_module_is_seen_channels_first():
    conv = eqx.nn.Conv1d(2, 4, kernel_size=5, padding=2, key=jax.random.PRNGKey(0))

    class ChannelsLastConv(eqx.Module):
        conv: eqx.nn.Conv1d

        def __call__(self, x):  # (length, channels)
            return self.conv(x.T).T

    model = ChannelsLastConv(conv)
    report = archinspect.shapes(model, (64, 2), layout="channels_last", depth=1)
    assert (report.input_shape, report.output_shape) == ((2, 64), (4, 64))
    # the rows are the model's own (no wrapper row), each with the shapes its module sees
    rows = [(r.path, r.type, r.depth, r.input_shapes, r.output_shapes) for r in report.layers]
    assert rows == [
        ("", "ChannelsLastConv", 0, ((64, 2),), ((64, 4),)),
        ("conv", "Conv1d", 1, ((2, 64),), ((4, 64),)),
    ]
    assert report.depth == 1
    assert report.params.total == 4 * 2 * 5 + 4
    assert archinspect.receptive_field(model, (64, 2), layout="channels_last").result.per_axis == (
        (2, 2),
    )


def test_a_function_takes_the_floating_dtype_of_x():
    x = np.zeros((2, 16), dtype=np.float16)
    report = archinspect.shapes(eqx.nn.Identity(), x, rf=False)
    assert report.dtype == "float16"
    assert archinspect.shapes(eqx.nn.Identity(), np.zeros((2, 16), np.int32)).dtype == "float32"


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: archinspect.shapes(eqx.nn.Identity(), (16,)),
            "archinspect.shapes: `x` (shape (16,)) must be one unbatched input "
            "(channels, *spatial): rank at least 2, every size positive",
        ),
        (
            lambda: archinspect.receptive_field(stencil, (16,), layout="channels_last"),
            "archinspect.receptive_field: `x` (shape (16,)) must be one unbatched input "
            "(*spatial, channels): rank at least 2, every size positive",
        ),
        (
            lambda: archinspect.shapes(eqx.nn.Identity(), (1, 0)),
            "archinspect.shapes: `x` (shape (1, 0)) must be one unbatched input "
            "(channels, *spatial): rank at least 2, every size positive",
        ),
        (
            lambda: archinspect.receptive_field(stencil, (1, 16), method="fast"),
            "archinspect.receptive_field: `method` (='fast') must be one of 'structural', "
            "'empirical', 'both'",
        ),
        (
            lambda: archinspect.count(eqx.nn.Identity(), rf=True),
            "archinspect.count: `rf=True` needs `x`: a receptive field is measured on an input "
            "(an array, a jax.ShapeDtypeStruct or a shape tuple)",
        ),
        (
            lambda: archinspect.count(eqx.nn.Identity(), (1, 16), rf="yes"),
            "archinspect.count: `rf` (='yes') must be True, False or None (None: the receptive "
            "field when `x` is given)",
        ),
        (
            lambda: archinspect.count(eqx.nn.Identity(), (1, 16), rf=0),
            "archinspect.count: `rf` (=0) must be True, False or None (None: the receptive "
            "field when `x` is given)",
        ),
        (
            lambda: archinspect.count([1, 2]),
            "archinspect.count: `model` (a list) must be an Equinox module (eqx.Module) or a "
            "Flax NNX module",
        ),
        (
            lambda: archinspect.shapes(stencil, (1, 16)),
            "archinspect.shapes: `model` (a function) must be an Equinox module (eqx.Module) or "
            "a Flax NNX module",
        ),
        (
            lambda: archinspect.receptive_field(3, (1, 16)),
            "archinspect.receptive_field: `model` (an int) must be an Equinox module, a Flax NNX "
            "module or a pure JAX function f(x)",
        ),
        (
            lambda: archinspect.shapes(eqx.nn.Identity(), "1x16"),
            "archinspect.shapes: `x` (a str) must be an array, a jax.ShapeDtypeStruct or a shape "
            "tuple",
        ),
        (
            lambda: archinspect.shapes(eqx.nn.Identity(), (1, 16.0)),
            "archinspect.shapes: `x` (=(1, 16.0)) must be an array, a jax.ShapeDtypeStruct or a "
            "shape tuple of ints",
        ),
        (
            lambda: archinspect.shapes(eqx.nn.Identity(), (1, 16), layout="NHWC"),
            "archinspect.shapes: `layout` (='NHWC') must be one of 'channels_first', "
            "'channels_last' (or None: channels first, the Equinox convention)",
        ),
        (
            lambda: archinspect.inspect(eqx.nn.Identity(), (1, 16), batch_size=0),
            "archinspect.inspect: `batch_size` (=0) must be a positive integer",
        ),
    ],
)
def test_bad_arguments_are_refused_with_what_is_allowed(call, message: str):
    with pytest.raises(ArgumentError, match=f"^{re.escape(message)}$"):
        call()


def test_argument_errors_are_archinspect_errors_and_value_errors():
    with pytest.raises(ValueError, match="`method`") as info:
        archinspect.receptive_field(stencil, (1, 16), method="fast")
    assert isinstance(info.value, ArchinspectError)


def test_a_forward_pass_that_fails_names_the_call():
    with pytest.raises(ArchinspectError, match=r"^error: archinspect\.shapes: the forward pass"):
        archinspect.shapes(eqx.nn.Conv1d(3, 4, 3, key=jax.random.PRNGKey(0)), (2, 16))


# ---------------------------------------------------------------- imports


def test_the_api_imports_no_jax_until_called():
    probe = (
        "import sys, archinspect, archinspect.testing\n"
        "archinspect.count, archinspect.shapes, archinspect.receptive_field, archinspect.inspect\n"
        "print(sorted(m for m in ('jax', 'equinox', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=Path(ROOT), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
