"""A family is one declaration: registering one from the test suite is enough for every command.

TinyConv (tests/tiny_family.py) is one same-padded convolution from in_channels to
out_channels with kernel k on every axis; by hand, in d dimensions:
params = out*in*k**d + out (weights and biases); receptive field per axis ((k-1)//2, k-1-(k-1)//2)
(JAX puts the extra cell of an even kernel after), the same at every position (period 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.errors import SpecError
from archinspect.families import FAMILIES, register, unregister
from archinspect.spec import load_spec_text
from tests.tiny_family import TINY

runner = CliRunner()

TINY_SPEC = """\
name: tiny
model:
  family: TinyConv
  num_spatial_dims: 2
  in_channels: 1
  out_channels: 2
  kernel_size: 3
input:
  resolution: 8
budget:
  max_params: 10
"""


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    register(TINY)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY_SPEC, encoding="utf-8")
    yield "tiny.yaml"
    unregister("TinyConv")


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_the_built_in_families_are_declared_in_order():
    assert list(FAMILIES) == [
        "ConvNet",
        "ClassicResNet",
        "ModernResNet",
        "ClassicUNet",
        "ModernUNet",
        "ClassicFNO",
        "DilatedResNet",
        "MLP",
        "TCN",
        "Sequential",
        "GroupCNN",
    ]


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="a family named 'ConvNet' is already registered"):
        register(FAMILIES["ConvNet"])


def test_an_unregistered_family_is_unknown_again(tiny):
    unregister("TinyConv")
    try:
        with pytest.raises(SpecError, match="unknown family 'TinyConv'"):
            load_spec_text(TINY_SPEC, "tiny.yaml")
    finally:
        register(TINY)


def test_count(tiny):
    result = invoke("count", tiny, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["family"] == "TinyConv"
    assert data["params"]["total"] == 2 * 1 * 3**2 + 2  # 20


def test_rf_by_all_three_methods(tiny):
    result = invoke("rf", tiny, "--method", "both", "--format", "json")
    assert result.exit_code == 0, result.output
    rf = json.loads(result.stdout)["receptive_field"]
    assert rf["per_axis"] == [[1, 1], [1, 1]]
    assert rf["methods"] == ["structural", "empirical", "analytic"]


def test_rf_even_kernel_by_all_three_methods(tiny):
    result = invoke(
        "rf", tiny, "--method", "both", "--set", "model.kernel_size=4", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    rf = json.loads(result.stdout)["receptive_field"]
    assert rf["per_axis"] == [[1, 2], [1, 2]]
    assert rf["methods"] == ["structural", "empirical", "analytic"]


def test_shapes(tiny):
    result = invoke("shapes", tiny, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["input_shape"] == [1, 8, 8]
    assert data["output_shape"] == [2, 8, 8]


def test_sweep_uses_the_declared_default_range(tiny):
    result = invoke("sweep", tiny, "--param", "kernel_size", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    # kernel_size sweeps 1, 3, 5 by its declaration: 2*k**2 + 2.
    assert [r["params"] for r in rows] == [4, 20, 52]


def test_check_applies_the_budget(tiny):
    result = invoke("check", tiny, "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [(r["budget"], r["actual"], r["ok"]) for r in data["results"]] == [
        ("max_params", 20, False)
    ]


def test_families_schema_and_validate_see_it(tiny):
    listed = invoke("families", "--format", "json")
    assert listed.exit_code == 0, listed.output
    names = [f["name"] for f in json.loads(listed.stdout)["families"]]
    assert names[-1] == "TinyConv"
    schema = json.loads(invoke("schema").stdout)
    assert "TinyConv" in schema["properties"]["model"]["properties"]["family"]["enum"]
    assert invoke("validate", tiny).stdout == "ok: tiny.yaml\n"


def test_its_arguments_are_validated_by_their_kinds(tiny):
    result = invoke("validate", tiny, "--set", "model.kernel_size=0")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: tiny.yaml is not a valid archinspect spec (1 problem)\n"
        "--set model.kernel_size=0: model.kernel_size: must be a positive integer, got 0\n"
    )


# --- sweep --param with a list index -----------------------------------------------------------

# DilatedResNet, 1-D, 2 blocks of dilated 3-convs: each conv of dilation r reaches r cells each
# way and the residual sum adds nothing outside it, so the field is 2 * sum(rates) per side.
# Rates [r, 2, 4]: 2 * (r + 6).
DILATED = """\
model:
  family: DilatedResNet
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 1
  hidden_channels: 2
  dilation_rates: [1, 2, 4]
"""


@pytest.fixture
def dilated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.yaml").write_text(DILATED, encoding="utf-8")
    return "d.yaml"


@pytest.mark.parametrize("param", ["model.dilation_rates[0]", "dilation_rates[0]"])
def test_sweep_a_list_item(dilated, param):
    result = invoke("sweep", dilated, "--param", param, "--values", "1,2,3", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["swept"] == ["dilation_rates[0]"]
    assert [(r["dilation_rates[0]"], r["receptive_field"]) for r in data["rows"]] == [
        (1, [[14, 14]]),
        (2, [[16, 16]]),
        (3, [[18, 18]]),
    ]


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (
            "dilation_rates[3]",
            "error: --param dilation_rates[3]: dilation_rates has 3 entries (indices 0 to 2), "
            "so it has no index 3",
        ),
        (
            "model.hidden_channels[0]",
            "error: --param model.hidden_channels[0]: hidden_channels is 2, not a list, "
            "so it has no index 0",
        ),
    ],
)
def test_sweep_refuses_a_bad_index_before_sweeping(dilated, param, message):
    result = invoke("sweep", dilated, "--param", param, "--values", "1,2")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message + "\n"


def test_a_list_item_has_no_default_range(dilated):
    result = invoke("sweep", dilated, "--param", "dilation_rates[0]")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no values for --param dilation_rates[0]: give --values, or a "
        "`sweep: {dilation_rates[0]: [...]}` block in the spec (default ranges exist for: "
        "num_spatial_dims, in_channels, out_channels, hidden_channels, num_blocks, "
        "input.resolution, input.batch_size)\n"
    )


# --- separability: declared by the family, found for `target:` models of the same class ---------


def test_separability_comes_from_the_declaration():
    from archinspect.families import separable

    conv = load_spec_text(
        "model: {family: ConvNet, num_spatial_dims: 2, in_channels: 1, out_channels: 1}\n", "c"
    )
    fno = load_spec_text(
        "model: {family: ClassicFNO, num_spatial_dims: 2, in_channels: 1, out_channels: 1}\n", "f"
    )
    assert separable(conv, None) is True
    assert separable(fno, None) is False


PDE = "num_spatial_dims: 1, in_channels: 1, out_channels: 1, hidden_channels: 2"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (f"{{target: pdequinox.arch.ClassicUNet, {PDE}}}", True),  # ClassicUNet's `same_as`
        (f"{{target: 'archinspect.models.u_net:ModernUNet', {PDE}}}", True),  # its builder
        (f"{{target: pdequinox.arch.ClassicFNO, {PDE}}}", False),
        # No family declares this class: the empirical method measures the full input.
        ("{target: equinox.nn.Identity, in_channels: 1}", None),
    ],
)
def test_separability_of_a_target_model(model, expected):
    from archinspect.build import build_abstract
    from archinspect.families import separable

    spec = load_spec_text(f"model: {model}\ninput: {{resolution: [16]}}\n", "t.yaml")
    assert separable(spec, build_abstract(spec)) is expected


def test_no_code_outside_the_declarations_names_a_family():
    """A family's knowledge lives in archinspect/families/ (and its model in models/): no other
    module compares with, keys by or imports a family by name. The embedded default spec is a
    spec, not code, and messages may mention names inside longer text."""
    import ast

    from archinspect.families import names
    from tests.conftest import ROOT

    allowed = ("families", "models")
    found = []
    for path in sorted((ROOT / "archinspect").rglob("*.py")):
        rel = path.relative_to(ROOT / "archinspect")
        if rel.parts[0] in allowed or rel.as_posix() == "spec/default.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in set(names()):
                found.append(f"{rel}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "archinspect.models."
            ):
                found.append(f"{rel}:{node.lineno} imports {node.module}")
    assert found == []
