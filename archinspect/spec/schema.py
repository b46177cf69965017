"""JSON Schema of a spec file (draft 2020-12), generated from the family declarations.

yaml-language-server understands `if`/`then`, so each family's arguments are offered and
checked once `family:` is set.
"""

from __future__ import annotations

from archinspect.families import FAMILIES
from archinspect.metrics import BUDGET_AMOUNTS
from archinspect.spec.numbers import AMOUNT_HELP, AMOUNT_PATTERN
from archinspect.spec.validate import BATCH_AXIS, DTYPES, FORWARD_SWITCHES, LAYOUTS

_TARGET_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*$"
SCHEMA_ID = "https://archinspect.invalid/schema/spec.json"


def _amount() -> dict:
    """A whole, non-negative number (an integer, or a float such as 5e9 that a YAML 1.2 editor
    reads as a number) or the string forms. The branches must not overlap: under `oneOf` an
    integer that is also a number matches two and is rejected."""
    return {
        "description": AMOUNT_HELP,
        "oneOf": [
            {"type": "number", "minimum": 0, "multipleOf": 1},
            {"type": "string", "pattern": AMOUNT_PATTERN},
        ],
    }


def _rf_bound() -> dict:
    axis = {
        "oneOf": [
            {"type": "integer", "minimum": 0},
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 2,
                "maxItems": 2,
            },
        ]
    }
    return {
        "oneOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": axis, "minItems": 1},
        ]
    }


def build_schema() -> dict:
    branches = []
    for name, family in FAMILIES.items():
        props = {"family": {"const": name}}
        for arg in family.all_args:
            schema = arg.json_schema()
            if not arg.required:
                schema = {**schema, "default": arg.default}
            props[arg.name] = schema
        branches.append(
            {
                "if": {"properties": {"family": {"const": name}}, "required": ["family"]},
                "then": {
                    "properties": props,
                    "required": ["family", *(a.name for a in family.all_args if a.required)],
                    "additionalProperties": False,
                },
            }
        )
    positive = {"type": "integer", "minimum": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "archinspect spec",
        "type": "object",
        "additionalProperties": False,
        "required": ["model"],
        "$defs": {
            "plain": {
                "oneOf": [
                    {"type": ["null", "boolean", "number", "string"]},
                    {"type": "array", "items": {"$ref": "#/$defs/plain"}},
                ]
            }
        },
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "model": {
                "type": "object",
                "oneOf": [{"required": ["family"]}, {"required": ["target"]}],
                "properties": {
                    "family": {"enum": list(FAMILIES)},
                    "target": {
                        "type": "string",
                        "pattern": _TARGET_PATTERN,
                        "description": "import path of an Equinox module class or of a "
                        "function returning one (its package must be trusted: --trust PKG)",
                    },
                },
                "allOf": branches,
            },
            "input": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "resolution": {
                        "oneOf": [
                            positive,
                            {"type": "array", "items": positive, "minItems": 1, "maxItems": 3},
                        ]
                    },
                    "channels": {
                        **positive,
                        "description": "input channels of a `target:` model without in_channels",
                    },
                    "batch_size": positive,
                    "dtype": {"enum": list(DTYPES)},
                    "layout": {
                        "enum": list(LAYOUTS),
                        "description": "where the model wants the channels; default: "
                        "channels_first for Equinox, channels_last for Flax NNX models",
                    },
                    "shape": {
                        "oneOf": [
                            {
                                "type": "array",
                                "prefixItems": [{"oneOf": [positive, {"const": BATCH_AXIS}]}],
                                "items": positive,
                            },
                            {
                                "type": "array",
                                "items": {"type": "array", "items": positive},
                                "minItems": 1,
                            },
                        ],
                        "description": "the whole input in the layout's order, instead of "
                        f"resolution and channels (families: at least 2 axes; [] a scalar); "
                        f"a leading '{BATCH_AXIS}' calls the model with a batch axis; a list "
                        "of shapes: one per positional input of a `target:` (the first is "
                        "analysed, the others are zeros)",
                    },
                },
            },
            "forward": {
                "type": "object",
                "description": "how the model is called: key (a fixed PRNG key as key=), "
                "inference (eqx.nn.inference_mode), state (built with eqx.nn.make_with_state, "
                "called as model(x, state)); any other key is a fixed keyword argument of "
                "__call__",
                "properties": {k: {"type": "boolean"} for k in FORWARD_SWITCHES},
                "propertyNames": {"pattern": r"^[A-Za-z_]\w*$"},
                "additionalProperties": {"$ref": "#/$defs/plain"},
            },
            "init": {
                "description": "how `archinspect init` draws weights: default (the family's "
                "own initializer), or conv/dense weights ~ N(0, w_std^2/fan_in), biases ~ "
                "N(0, b_std^2); ntk: N(0, 1) weights scaled by w_std/sqrt(fan_in) in the layer",
                "oneOf": [
                    {"const": "default"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "w_std": {"type": "number", "exclusiveMinimum": 0},
                            "b_std": {"type": "number", "minimum": 0},
                            "parameterization": {"enum": ["standard", "ntk"]},
                        },
                    },
                ],
            },
            "sweep": {
                "type": "object",
                "additionalProperties": {"type": "array", "minItems": 1},
            },
            "budget": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    **{k: _amount() for k in BUDGET_AMOUNTS},
                    "receptive_field": {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "properties": {"min": _rf_bound(), "max": _rf_bound()},
                    },
                },
            },
        },
    }
