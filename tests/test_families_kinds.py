"""Typed argument kinds: each kind's check, type name and JSON Schema, and the nested
`LayerList` kind through a family that uses it (TinyStack, tests/tiny_family.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.errors import Location, SpecError
from archinspect.families import register, unregister
from archinspect.spec import load_spec_text
from archinspect.spec.kinds import (
    ACTIVATIONS,
    Activation,
    Arg,
    Bool,
    Choice,
    Int,
    IntList,
    Issue,
    Layer,
    LayerList,
    OptionalIntList,
)
from tests.tiny_family import STACK

runner = CliRunner()


# --- flat kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (Int(), 3, None),
        (Int(), 0, "must be a positive integer, got 0"),
        (Int(), True, "must be a positive integer, got true (a boolean)"),
        (Int(), "3", "must be a positive integer, got '3'"),
        (Int(minimum=0), 0, None),
        (Int(minimum=0), -1, "must be a non-negative integer, got -1"),
        (Int(minimum=2), 1, "must be an integer >= 2, got 1"),
        (Int(choices=(1, 2, 3)), 2, None),
        (Int(choices=(1, 2, 3)), 4, "must be 1, 2 or 3, got 4"),
        (Int(choices=(1, 2, 3)), True, "must be 1, 2 or 3, got true"),
        (Bool(), False, None),
        (Bool(), 1, "must be true or false, got 1"),
        (Choice(("a", "bb")), "bb", None),
        (Choice(("periodic", "dirichlet")), "Periodic", None),
        (Activation(), "gelu", None),
        (IntList(), [1, 2], None),
        (IntList(), [], "must be a non-empty list of positive integers, got []"),
        (IntList(), None, "must be a non-empty list of positive integers, got null"),
        (IntList(), [1, 0], "must be a list of positive integers, got [1, 0]"),
        (IntList(), [1, True], "must be a list of positive integers, got [1, true]"),
        (OptionalIntList(), None, None),
        (OptionalIntList(), 3, "must be a non-empty list of positive integers or null, got 3"),
    ],
)
def test_check(kind, value, message):
    if isinstance(kind, Choice) and value == "Periodic":
        message = "must be one of 'periodic', 'dirichlet', got 'Periodic'; did you mean 'periodic'?"
    assert kind.check(value) == message
    assert kind.issues(value) == ([] if message is None else [Issue((), message)])


def test_activation_message_lists_the_names():
    assert Activation().check("gleu") == (
        "unknown activation 'gleu'; did you mean 'gelu'? (one of: "
        + ", ".join(repr(a) for a in ACTIVATIONS)
        + ")"
    )


@pytest.mark.parametrize(
    ("kind", "name", "schema"),
    [
        (Int(), "int", {"type": "integer", "minimum": 1}),
        (Int(minimum=0), "int", {"type": "integer", "minimum": 0}),
        (Int(choices=(1, 2, 3)), "1 | 2 | 3", {"type": "integer", "enum": [1, 2, 3]}),
        (Bool(), "bool", {"type": "boolean"}),
        (Choice(("a", "b")), "a | b", {"type": "string", "enum": ["a", "b"]}),
        (Activation(), "activation", {"type": "string", "enum": list(ACTIVATIONS)}),
        (
            IntList(),
            "list[int]",
            {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
        ),
        (
            OptionalIntList(),
            "list[int] | null",
            {
                "oneOf": [
                    {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
                    {"type": "null"},
                ]
            },
        ),
    ],
)
def test_type_name_and_json_schema(kind, name, schema):
    assert kind.type_name() == name
    assert kind.json_schema() == schema
    arg = Arg("x", kind, help="what x is")
    assert arg.type_name() == name
    assert arg.json_schema() == {**schema, "description": "what x is"}


# --- nested: a list of layers ------------------------------------------------------------------

CONV = Layer(
    "conv",
    (
        Arg("kernel_size", Int(), 3, help="kernel size"),
        Arg("dilation", Int(), 1, help="dilation"),
    ),
    help="a convolution",
)
SCALE = Layer("scale", (Arg("factor", Int(), required=True, help="the factor"),))
RELU = Layer("relu")
LAYERS = LayerList((CONV, SCALE, RELU))


def test_layer_list_type_name():
    assert LAYERS.type_name() == "list[conv | scale | relu]"


def test_layer_list_accepts_names_and_one_key_mappings_and_fills_defaults():
    value = ["conv", {"conv": {"dilation": 2}}, {"scale": {"factor": 3}}, "relu", {"relu": None}]
    assert LAYERS.issues(value) == []
    assert LAYERS.normalized(value) == [
        {"conv": {"kernel_size": 3, "dilation": 1}},
        {"conv": {"kernel_size": 3, "dilation": 2}},
        {"scale": {"factor": 3}},
        {"relu": {}},
        {"relu": {}},
    ]


def test_layer_list_reports_every_problem_where_it_is():
    value = [
        "cnov",
        {"conv": {"kernel_size": 0, "dilaton": 2}},
        "scale",
        {"relu": {"slope": 1}},
        7,
        {"conv": {}, "relu": {}},
        {"conv": [3]},
    ]
    assert LAYERS.issues(value) == [
        Issue((0,), "unknown layer 'cnov'; did you mean 'conv'? (one of: conv, scale, relu)"),
        Issue(
            (1, "conv", "dilaton"),
            "unknown key 'dilaton'; did you mean 'dilation'? (allowed: kernel_size, dilation)",
            at_key=True,
        ),
        Issue((1, "conv", "kernel_size"), "must be a positive integer, got 0"),
        Issue((2,), "missing required key 'factor' (the factor)"),
        Issue((3, "relu", "slope"), "unknown key 'slope' (relu takes no arguments)", at_key=True),
        Issue(
            (4,),
            "must be a layer name or a one-key mapping {layer: {argument: value}}, got 7",
        ),
        Issue(
            (5,),
            "must map exactly one layer name to its arguments, got 2 keys: {conv: {}, relu: {}}",
        ),
        Issue((6, "conv"), "must be a mapping of conv's arguments, got [3]"),
    ]
    # A flat message for callers that want one (a sweep value): the first problem.
    assert LAYERS.check(value) == (
        "unknown layer 'cnov'; did you mean 'conv'? (one of: conv, scale, relu)"
    )


@pytest.mark.parametrize("value", [[], "conv", None, {"conv": {}}])
def test_layer_list_must_be_a_non_empty_list(value):
    assert LAYERS.issues(value) == [
        Issue(
            (),
            "must be a non-empty list of layers, each a layer name or a one-key mapping "
            f"{{layer: {{argument: value}}}}, got {_yaml(value)}",
        )
    ]


def _yaml(value):
    from archinspect.spec.messages import yaml_repr

    return yaml_repr(value)


def test_layer_list_items_nest_their_own_kinds():
    # A layer argument may itself be a list of layers: problems are located all the way down.
    block = Layer("block", (Arg("body", LAYERS, required=True, help="the block's layers"),))
    outer = LayerList((block, RELU))
    value = [{"block": {"body": ["relu", {"conv": {"kernel_size": -1}}]}}]
    assert outer.issues(value) == [
        Issue((0, "block", "body", 1, "conv", "kernel_size"), "must be a positive integer, got -1")
    ]
    good = [{"block": {"body": ["relu", {"conv": {"kernel_size": 5}}]}}]
    assert outer.issues(good) == []
    assert outer.normalized(good) == [
        {"block": {"body": [{"relu": {}}, {"conv": {"kernel_size": 5, "dilation": 1}}]}}
    ]


def test_layer_list_json_schema():
    conv_args = {
        "type": "object",
        "properties": {
            "kernel_size": {
                "type": "integer",
                "minimum": 1,
                "description": "kernel size",
                "default": 3,
            },
            "dilation": {"type": "integer", "minimum": 1, "description": "dilation", "default": 1},
        },
        "additionalProperties": False,
    }
    assert LAYERS.json_schema() == {
        "type": "array",
        "minItems": 1,
        "items": {
            "oneOf": [
                {"enum": ["conv", "relu"]},  # scale has a required argument: no bare form
                {
                    "type": "object",
                    "properties": {
                        "conv": {
                            "oneOf": [conv_args, {"type": "null"}],
                            "description": "a convolution",
                        }
                    },
                    "required": ["conv"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {
                        "scale": {
                            "type": "object",
                            "properties": {
                                "factor": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "description": "the factor",
                                }
                            },
                            "additionalProperties": False,
                            "required": ["factor"],
                            "description": "",
                        }
                    },
                    "required": ["scale"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {
                        "relu": {
                            "oneOf": [
                                {"type": "object", "properties": {}, "additionalProperties": False},
                                {"type": "null"},
                            ],
                            "description": "",
                        }
                    },
                    "required": ["relu"],
                    "additionalProperties": False,
                },
            ]
        },
    }


# --- a family whose argument is a list of layers ------------------------------------------------

# TinyStack: conv (in -> out for the first, out -> out after), same padding. 1-D, in 1, out 2:
#   conv k=3: 2*1*3 + 2 = 8;  conv k=3 from 2: 2*2*3 + 2 = 14;  total 22
#   with the second conv's kernel 5: 2*2*5 + 2 = 22;  total 30
# Receptive field: conv k, dilation r reaches r*(k-1)/2 each way (odd k); the sum over convs:
#   1 + 2*1 = 3;  with the second conv's kernel 5 (dilation 2): 1 + 2*2 = 5.
STACK_SPEC = """\
model:
  family: TinyStack
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 2
  layers:
    - conv
    - relu
    - conv: {kernel_size: 3, dilation: 2}
input:
  resolution: 16
"""

BAD_STACK = """\
model:
  family: TinyStack
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 2
  layers:
    - cnov
    - relu: {slope: 2}
    - conv: {kernel_size: 0, dilaton: 2}
    - 5
"""


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    register(STACK)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stack.yaml").write_text(STACK_SPEC, encoding="utf-8")
    yield "stack.yaml"
    unregister("TinyStack")


def test_the_builder_gets_every_layer_with_its_defaults(stack):
    spec = load_spec_text(STACK_SPEC, "stack.yaml")
    assert spec.args["layers"] == [
        {"conv": {"kernel_size": 3, "dilation": 1}},
        {"relu": {}},
        {"conv": {"kernel_size": 3, "dilation": 2}},
    ]


def test_nested_problems_are_all_reported_with_their_positions(stack):
    with pytest.raises(SpecError, match=r"\(5 problems\)") as exc:
        load_spec_text(BAD_STACK, "bad.yaml")
    assert exc.value.message.splitlines()[1:] == [
        "bad.yaml:7:7: model.layers[0]: unknown layer 'cnov'; did you mean 'conv'? "
        "(one of: conv, relu)",
        "bad.yaml:8:14: model.layers[1].relu.slope: unknown key 'slope' (relu takes no arguments)",
        "bad.yaml:9:27: model.layers[2].conv.kernel_size: must be a positive integer, got 0",
        "bad.yaml:9:30: model.layers[2].conv.dilaton: unknown key 'dilaton'; "
        "did you mean 'dilation'? (allowed: kernel_size, dilation)",
        "bad.yaml:10:7: model.layers[3]: must be a layer name or a one-key mapping "
        "{layer: {argument: value}}, got 5",
    ]


def test_set_reaches_into_a_layer(stack):
    spec = load_spec_text(STACK_SPEC, "stack.yaml", ["model.layers[2].conv.kernel_size=5"])
    assert spec.args["layers"][2] == {"conv": {"kernel_size": 5, "dilation": 2}}
    where = Location("--set model.layers[2].conv.kernel_size=5")
    assert spec.marks["model.layers[2].conv.kernel_size"] == where


def test_a_bad_value_set_into_a_layer_is_located_at_the_override(stack):
    with pytest.raises(SpecError, match=r"\(1 problem\)") as exc:
        load_spec_text(STACK_SPEC, "stack.yaml", ["model.layers[2].conv.kernel_size=0"])
    assert exc.value.message.splitlines()[1:] == [
        "--set model.layers[2].conv.kernel_size=0: model.layers[2].conv.kernel_size: "
        "must be a positive integer, got 0"
    ]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (
            "model.layers[3].conv.kernel_size=5",
            "model.layers: has 3 entries (indices 0 to 2), so --set "
            "model.layers[3].conv.kernel_size cannot set index 3",
        ),
        (
            "model.layers[0].conv.kernel_size=5",
            "model.layers[0]: is 'conv', not a mapping, so --set "
            "model.layers[0].conv.kernel_size cannot set a key inside it",
        ),
        (
            "model.layers[2][0]=5",
            "model.layers[2]: is {conv: {kernel_size: 3, dilation: 2}}, not a list, so --set "
            "model.layers[2][0] cannot set index 0 in it",
        ),
    ],
)
def test_bad_paths_into_the_layers(stack, item, problem):
    with pytest.raises(SpecError, match=re.escape(problem)) as exc:
        load_spec_text(STACK_SPEC, "stack.yaml", [item])
    assert exc.value.message.splitlines()[1:] == [f"--set {item}: {problem}"]


def test_count_and_rf_through_the_cli(stack):
    result = runner.invoke(app, ["count", stack, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["total"] == 22
    args = ["--set", "model.layers[2].conv.kernel_size=5", "--format", "json"]
    result = runner.invoke(app, ["count", stack, *args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["total"] == 30
    result = runner.invoke(app, ["rf", stack, "--method", "both", *args])
    assert result.exit_code == 0, result.output
    rf = json.loads(result.stdout)["receptive_field"]
    assert rf["per_axis"] == [[5, 5]]
    assert rf["methods"] == ["structural", "empirical", "analytic"]


def test_families_and_schema_show_the_layers(stack):
    result = runner.invoke(app, ["families", "TinyStack", "--format", "json"])
    assert result.exit_code == 0, result.output
    (family,) = json.loads(result.stdout)["families"]
    layers = family["arguments"][-1]
    assert (layers["name"], layers["type"], layers["required"]) == (
        "layers",
        "list[conv | relu]",
        True,
    )
    schema = json.loads(runner.invoke(app, ["schema"]).stdout)
    (branch,) = [
        b["then"]
        for b in schema["properties"]["model"]["allOf"]
        if b["if"]["properties"]["family"]["const"] == "TinyStack"
    ]
    assert branch["properties"]["layers"] == {
        **STACK.arg("layers").kind.json_schema(),  # type: ignore[union-attr]
        "description": "the layers, in call order",
    }
    assert branch["required"] == [
        "family",
        "num_spatial_dims",
        "in_channels",
        "out_channels",
        "layers",
    ]
